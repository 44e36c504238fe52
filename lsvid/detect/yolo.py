"""``yolo``: an ultralytics YOLO detector from local weights, batched, on CUDA when present.

Nothing is downloaded: ``weights`` must be an existing ``.pt``/``.onnx`` file
(``lsvid train-detector`` makes one from footage with MOT truth), or the name
of a model yaml bundled with ultralytics (``yolov8n.yaml``), which builds an
untrained network: useful for speed measurements and tests, not for finding
people.
"""
from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import register_detector
from .base import Detector, DetectorError, check_frames
from .boxes import detections
from .offline import import_ultralytics

ALTERNATIVES = ("offline alternatives: --detector hog (no weights), motion (static cameras, no weights), "
                "truth (MOT files beside the videos), or make YOLO weights from footage with MOT truth: "
                "lsvid train-detector FOOTAGE --out yolo.pt")
_PERSON_NAMES = ("person", "pedestrian", "people")
_COCO_CLASSES = 80


def resolve_device(device: str) -> str:
    """The device as ultralytics names it: ``cuda:N`` or ``cpu`` (``auto``: CUDA when usable);
    one this machine lacks is a :class:`~lsvid_core.errors.DeviceError`."""
    from lsvid_core.devices import resolve_device as check

    dev = check(device)
    return f"cuda:{dev.index or 0}" if dev.type == "cuda" else "cpu"


def check_weights(weights: str | os.PathLike | None) -> str:
    """The weights as ultralytics should load them, or :class:`DetectorError` naming the file and the alternatives."""
    if weights is None:
        raise DetectorError(f"yolo: needs weights=PATH, a local .pt or .onnx file (nothing is downloaded); {ALTERNATIVES}")
    path = Path(weights)
    if path.suffix in (".yaml", ".yml") and not path.exists():
        return str(weights)  # a model yaml bundled with ultralytics, found by name
    if path.suffix not in (".pt", ".onnx", ".yaml", ".yml"):
        raise DetectorError(f"yolo: weights {path}: expected a .pt or .onnx file (or a model .yaml for an untrained network)")
    if not path.is_file():
        raise DetectorError(f"yolo: weights file {path} does not exist (nothing is downloaded); {ALTERNATIVES}")
    if path.suffix == ".onnx" and importlib.util.find_spec("onnxruntime") is None:
        raise DetectorError(f"yolo: {path} is ONNX, which needs onnxruntime (pip install onnxruntime), not installed; "
                            "use the .pt weights instead")
    return str(path)


def onnx_input_size(path: str) -> int | None:
    """The square input size an ONNX graph was exported with, or ``None`` when its size is dynamic."""
    import onnxruntime

    try:
        shape = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"]).get_inputs()[0].shape
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise DetectorError(f"yolo: {path} is not a loadable ONNX model ({e})") from e
    h, w = shape[-2:]
    return max(h, w) if isinstance(h, int) and isinstance(w, int) else None


def find_person_class(names: dict[int, str], weights: str) -> int:
    """The class id of people: a single-class model's only class, a class named person, or 0 of an
    80-class (COCO-ordered) model."""
    if len(names) == 1:
        return int(next(iter(names)))
    for k, v in names.items():
        if str(v).strip().lower() in _PERSON_NAMES:
            return int(k)
    if len(names) == _COCO_CLASSES:
        return 0
    shown = dict(list(names.items())[:10])
    raise DetectorError(f"yolo: {weights} has {len(names)} classes ({shown}{' ...' if len(names) > 10 else ''}), "
                        "none of them 'person'; pass person_class=ID")


@register_detector("yolo")
class YoloDetector(Detector):
    """Ultralytics YOLO on batches of frames, people only; weights from a local file.

    Options: ``weights`` (``.pt``/``.onnx``, or a bundled model yaml for an
    untrained network), ``device`` (``auto``: CUDA when present, else CPU;
    or ``cpu``, ``cuda:1``...), ``imgsz`` (inference size, pixels; default:
    the size the weights were trained at, else 640),
    ``conf`` (minimum confidence), ``iou`` (NMS overlap), ``batch_size``
    (frames per forward pass), ``half`` (fp16; default: on CUDA),
    ``person_class`` (default: found from the model's class names),
    ``max_det`` (boxes per frame at most).  The score is YOLO's confidence.
    """

    def __init__(self, *, weights: str | None = None, device: str = "auto", imgsz: int | None = None, conf: float = 0.25,
                 iou: float = 0.7, batch_size: int = 16, half: bool | None = None, person_class: int | None = None,
                 max_det: int = 300):
        source = check_weights(weights)
        if int(batch_size) < 1 or (imgsz is not None and int(imgsz) < 32) or not 0 <= float(conf) <= 1 or not 0 < float(iou) <= 1:
            raise DetectorError(f"yolo: batch_size={batch_size}, imgsz={imgsz}, conf={conf}, iou={iou}; expected "
                                "batch_size >= 1, imgsz >= 32, conf in [0, 1], iou in (0, 1]")
        import_ultralytics()
        from ultralytics import YOLO

        try:
            self.model = YOLO(source, task="detect")
        except (FileNotFoundError, RuntimeError, ValueError, KeyError) as e:
            raise DetectorError(f"yolo: cannot load {source}: {e}") from e
        names = dict(self.model.names or {})
        self.person_class = int(person_class) if person_class is not None else find_person_class(names, source)
        self.device = resolve_device(device)
        self.half = bool(half) if half is not None else self.device.startswith("cuda")
        self.batch_size = int(batch_size)
        # An ONNX graph is usually exported for one batch size: feed it one frame at a time.
        self._per_frame = source.endswith(".onnx")
        fixed = onnx_input_size(source) if self._per_frame else None
        if fixed is not None and imgsz is not None and int(imgsz) != fixed:
            raise DetectorError(f"yolo: {source} was exported for {fixed} px inputs, not imgsz={imgsz}; "
                                "leave imgsz unset, or export again at that size")
        trained = fixed or self.model.overrides.get("imgsz") or 640  # ultralytics keeps the training size with the weights
        self.imgsz = int(imgsz) if imgsz is not None else int(max(trained) if isinstance(trained, (list, tuple)) else trained)
        self._args: dict[str, Any] = dict(imgsz=self.imgsz, conf=float(conf), iou=float(iou), classes=[self.person_class],
                                          device=self.device, max_det=int(max_det), verbose=False)
        if self.half:
            from ultralytics.cfg import DEFAULT_CFG_DICT

            # ultralytics 8.4 folded `half` into `quantize`; older releases only know `half`.
            self._args.update({"quantize": 16} if "quantize" in DEFAULT_CFG_DICT else {"half": True})

    def detect(self, frames: Sequence[np.ndarray], indices: Sequence[int]) -> list[np.ndarray]:
        width, height = check_frames(frames, indices, "yolo")
        if not len(frames):
            return []
        groups = [[f] for f in frames] if self._per_frame else [list(frames)]
        out = []
        for group in groups:
            for r in self.model.predict(group, **self._args):
                xyxy = r.boxes.xyxy.float().cpu().numpy().astype(np.float64)
                score = r.boxes.conf.float().cpu().numpy()
                out.append(detections(np.c_[xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], score, width, height))
        return out
