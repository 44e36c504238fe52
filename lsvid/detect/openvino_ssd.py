"""``openvino``: an OpenVINO IR person detector of the SSD kind, such as Intel's Open Model Zoo
``person-detection-retail-0013`` or ``pedestrian-detection-adas-0002``.

Nothing is downloaded: ``weights`` is a local ``.xml`` with its ``.bin``
beside it (or a folder holding exactly one such pair).  Everything about the
input is read from the model: its size, its layout (NCHW or NHWC; from the
layout the IR records, else from where the 3 channels are) and its batch.
Frames are resized to that size (stretched, as the Open Model Zoo demos
feed these models) and given as BGR ``0..255`` unless ``channels`` or
``mean``/``scale`` say otherwise; the Open Model Zoo detectors take exactly
that.  A model with a fixed batch of one is reshaped to a dynamic batch
where OpenVINO can (``person-detection-retail-0013`` can), so a group of
frames goes through in one call; where it cannot, frames go one by one.

Two output forms are read:

* ``[1, 1, N, 7]`` (SSD ``DetectionOutput``): ``image_id, label, conf,
  x_min, y_min, x_max, y_max``, coordinates normalised to ``0..1``, rows
  after the first ``image_id < 0`` unused;
* ``boxes`` ``[N, 5]`` (``x_min, y_min, x_max, y_max, conf`` in input
  pixels) with ``labels`` ``[N]``, as ``person-detection-0200..0203`` give
  (batch of one only).
"""
from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lsvid.openvino_ir import compile_model, read_image_model
from lsvid_core.errors import MissingDependencyError, MissingInputError

from . import register_detector
from .base import Detector, DetectorError, check_frames
from .boxes import EMPTY, detections

INSTALL = 'pip install "lsvid[openvino]" (or pip install "openvino>=2024.0")'


def import_openvino(who: str):
    """The ``openvino`` module, or :class:`MissingDependencyError` saying how to install it."""
    if importlib.util.find_spec("openvino") is None:
        raise MissingDependencyError(f"{who}: needs OpenVINO, not installed: {INSTALL}")
    import openvino

    return openvino


def find_ir(weights: str | os.PathLike | None, who: str) -> Path:
    """The ``.xml`` of an OpenVINO IR given as the ``.xml`` (its ``.bin`` beside it) or a folder holding
    one pair; :class:`MissingInputError` naming what is missing."""
    if weights is None:
        raise DetectorError(f"{who}: needs weights=PATH, the .xml of an OpenVINO IR with its .bin beside it "
                            "(e.g. person-detection-retail-0013.xml); nothing is downloaded")
    path = Path(weights)
    if path.is_dir():
        xmls = sorted(path.glob("*.xml"))
        if len(xmls) != 1:
            raise MissingInputError(f"{who}: {path}: expected a folder holding one OpenVINO .xml (with its .bin), found "
                                    f"{[p.name for p in xmls] or 'none'}; pass the .xml itself")
        path = xmls[0]
    if path.suffix.lower() != ".xml":
        raise DetectorError(f"{who}: weights {path}: expected the .xml of an OpenVINO IR (with its .bin beside it)")
    if not path.is_file():
        raise MissingInputError(f"{who}: weights file {path} does not exist (nothing is downloaded)")
    if not path.with_suffix(".bin").is_file():
        raise MissingInputError(f"{who}: {path.with_suffix('.bin')}: the weights of {path.name} are missing; "
                                "keep the .xml and the .bin of an OpenVINO IR together")
    return path


def port_name(port) -> str:
    """A model input's or output's tensor name (``boxes``), else its node's name."""
    names = sorted(port.get_names())
    return names[0] if names else port.get_node().get_friendly_name()


def openvino_device(ov, device: str, who: str) -> str:
    """An OpenVINO device name (``CPU``, ``GPU``, ``NPU``, ``AUTO``...) that this machine has."""
    name = str(device).upper()
    available = list(ov.Core().available_devices)
    if name in ("AUTO", "MULTI") or name in available or any(d.startswith(name + ".") for d in available):
        return name
    raise DetectorError(f"{who}: device={device!r}: OpenVINO runs on {', '.join(available)} here (or AUTO); "
                        "CUDA devices are not OpenVINO devices")


def input_layout(ov, port, who: str) -> str:
    """``NCHW`` or ``NHWC`` of a 4-d image input: the layout the IR records, else where its 3 channels are."""
    shape = port.get_partial_shape()
    if shape.rank.is_dynamic or shape.rank.get_length() != 4:
        raise DetectorError(f"{who}: the model's input {port_name(port)} is {shape}; expected a 4-d image input")
    layout = str(ov.layout_helpers.get_layout(port)) if hasattr(ov, "layout_helpers") else ""
    if layout.upper() in ("[N,C,H,W]", "[N,H,W,C]"):
        return "NCHW" if layout.upper() == "[N,C,H,W]" else "NHWC"
    dims = [d.get_length() if d.is_static else None for d in shape]
    if dims[1] in (1, 3):
        return "NCHW"
    if dims[3] in (1, 3):
        return "NHWC"
    raise DetectorError(f"{who}: cannot tell the layout of input {shape} (no 3-channel axis); expected NCHW or NHWC")


def dynamic_batch(ov, model) -> bool:
    """Reshape ``model``'s batch axis to dynamic, keeping its image size; whether OpenVINO allowed it."""
    shape = model.input().get_partial_shape()
    if shape[0].is_dynamic:
        return True
    dims = [ov.Dimension(-1)] + [shape[i] for i in range(1, 4)]
    try:
        model.reshape(ov.PartialShape(dims))  # the one input
    except Exception:  # noqa: BLE001 - OpenVINO refuses a reshape with RuntimeError or its own types
        return False
    return model.input().get_partial_shape()[0].is_dynamic


def parse_detection_output(out: np.ndarray, n_images: int, *, conf: float, label: int | None,
                           width: int, height: int) -> list[np.ndarray]:
    """Per image, ``x, y, w, h, score`` rows of a ``[1, 1, N, 7]`` DetectionOutput (normalised corners)."""
    rows = np.asarray(out, np.float32).reshape(-1, 7)
    end = np.flatnonzero(rows[:, 0] < 0)
    rows = rows[: end[0] if len(end) else len(rows)]
    keep = rows[:, 2] >= conf
    if label is not None:
        keep &= rows[:, 1].astype(np.int64) == int(label)
    rows = rows[keep]
    scale = np.array([width, height, width, height], np.float64)
    result = []
    for k in range(n_images):
        r = rows[rows[:, 0].astype(np.int64) == k]
        xyxy = r[:, 3:7].astype(np.float64) * scale
        result.append(detections(np.c_[xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], r[:, 2], width, height))
    return result


@register_detector("openvino")
class OpenVinoSsdDetector(Detector):
    """An OpenVINO IR person detector with SSD-style output, batched where the model allows.

    Options: ``weights`` (the ``.xml``; its ``.bin`` beside it), ``conf``
    (minimum confidence, 0.5 as the Open Model Zoo demos use), ``label``
    (keep only this class label; default every label, right for
    single-class person detectors; ``1`` is the person of the two-class
    Open Model Zoo SSDs), ``device`` (an OpenVINO device: ``CPU``, ``GPU``,
    ``AUTO``...), ``batch_size`` (frames per call where the batch can be
    dynamic), ``channels`` (``bgr``, the Open Model Zoo convention, or
    ``rgb``), ``mean`` and ``scale`` (per channel: the model gets
    ``(pixel - mean) / scale``; default ``0`` and ``1``, the raw pixels),
    ``threads`` (CPU inference threads; default OpenVINO's choice).
    The score is the model's confidence.
    """

    def __init__(self, *, weights: str | os.PathLike | None = None, conf: float = 0.5, label: int | None = None,
                 device: str = "CPU", batch_size: int = 8, channels: str = "bgr",
                 mean: Sequence[float] | float = 0.0, scale: Sequence[float] | float = 1.0, threads: int | None = None):
        who = "openvino"
        xml = find_ir(weights, who)
        try:
            bad = not 0 <= float(conf) <= 1 or int(batch_size) < 1 or channels not in ("bgr", "rgb") or (threads is not None and int(threads) < 1) \
                or (label is not None and int(label) < 0)
        except (TypeError, ValueError):
            bad = True
        if bad:
            raise DetectorError(f"{who}: conf={conf!r}, batch_size={batch_size!r}, channels={channels!r}, threads={threads!r}, label={label!r}; "
                                "expected conf in [0, 1], batch_size >= 1, channels bgr or rgb, threads >= 1 (or unset), "
                                "label a class number (or unset)")
        self._mean = _per_channel(mean, "mean", who)
        self._scale = _per_channel(scale, "scale", who)
        if (self._scale == 0).any():
            raise DetectorError(f"{who}: scale={scale}: a divisor per channel, never 0")
        ov = import_openvino(who)
        self.device = openvino_device(ov, device, who)
        core = ov.Core()
        model = read_image_model(core, xml, who, DetectorError)
        self.layout = input_layout(ov, model.input(), who)
        shape = model.input().get_partial_shape()
        hw = (1, 2) if self.layout == "NHWC" else (2, 3)
        if any(shape[i].is_dynamic for i in hw):
            raise DetectorError(f"{who}: {xml} has a dynamic input size {shape}; expected a model with a fixed input size")
        self.input_size = (shape[hw[0]].get_length(), shape[hw[1]].get_length())  # (h, w)
        self.form = self._output_form(model, xml, who)
        self.dynamic = self.form == "detection_output" and dynamic_batch(ov, model)
        self.batch_size = int(batch_size) if self.dynamic else 1
        config: dict[str, Any] = {}
        if threads is not None and self.device == "CPU":
            config["INFERENCE_NUM_THREADS"] = int(threads)
        self.compiled, self.request = compile_model(core, model, xml, self.device, config, who, DetectorError)
        self.weights = str(xml)
        self.conf = float(conf)
        self.label = None if label is None else int(label)
        self.channels = channels
        self._dtype = np.float16 if model.input().get_element_type() == ov.Type.f16 else np.float32

    @staticmethod
    def _output_form(model, xml: Path, who: str) -> str:
        outs = {port_name(o): o.get_partial_shape() for o in model.outputs}
        first = model.outputs[0].get_partial_shape()
        if len(model.outputs) == 1 and first.rank.is_static and first.rank.get_length() == 4 and first[3].is_static and first[3].get_length() == 7:
            return "detection_output"
        if "boxes" in outs and "labels" in outs:
            return "boxes_labels"
        if xml.parent.name.endswith("_openvino_model"):
            raise DetectorError(f"{who}: {xml} is an ultralytics YOLO export (outputs {outs}); use --detector yolo with "
                                f"weights={xml.parent}")
        raise DetectorError(f"{who}: {xml} outputs {outs}; expected an SSD DetectionOutput [1, 1, N, 7], or 'boxes' "
                            "[N, 5] with 'labels' [N]")

    def _blob(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        h, w = self.input_size
        x = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) for f in frames]).astype(np.float32)
        if self.channels == "rgb":
            x = x[..., ::-1]
        x = (x - self._mean) / self._scale
        if self.layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x, self._dtype)

    def _infer(self, x: np.ndarray) -> list[np.ndarray]:
        self.request.infer({0: x})
        return [self.request.get_output_tensor(i).data.copy() for i in range(len(self.compiled.outputs))]

    def detect(self, frames: Sequence[np.ndarray], indices: Sequence[int]) -> list[np.ndarray]:
        width, height = check_frames(frames, indices, "openvino")
        out: list[np.ndarray] = []
        for i in range(0, len(frames), self.batch_size):
            group = list(frames[i:i + self.batch_size])
            y = self._infer(self._blob(group))
            if self.form == "detection_output":
                out.extend(parse_detection_output(y[0], len(group), conf=self.conf, label=self.label, width=width, height=height))
            else:
                out.append(self._parse_boxes_labels(y, width, height))
        return out

    def _parse_boxes_labels(self, y: list[np.ndarray], width: int, height: int) -> np.ndarray:
        names = [port_name(o) for o in self.compiled.outputs]
        boxes = np.asarray(y[names.index("boxes")], np.float64).reshape(-1, 5)
        labels = np.asarray(y[names.index("labels")]).reshape(-1).astype(np.int64)
        keep = boxes[:, 4] >= self.conf
        if self.label is not None:
            keep &= labels == self.label
        b = boxes[keep]
        if not len(b):
            return EMPTY.copy()
        h, w = self.input_size
        xyxy = b[:, :4] * np.array([width / w, height / h, width / w, height / h])
        return detections(np.c_[xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], b[:, 4], width, height)


def _per_channel(v: Sequence[float] | float, name: str, who: str) -> np.ndarray:
    try:
        a = np.asarray(v, np.float32).reshape(-1)
    except (TypeError, ValueError):
        a = np.zeros(0, np.float32)
    if a.size == 1:
        a = np.repeat(a, 3)
    if a.size != 3 or not np.isfinite(a).all():
        raise DetectorError(f"{who}: {name}={v}: expected one number or three (per channel, in the order given to the model)")
    return a
