"""Person ReID networks as appearance embedders: ``onnx`` (ONNX Runtime) and ``openvino`` (OpenVINO IR).

Both take a local model file (``checkpoint``; nothing is downloaded) that maps
a batch of person crops to one feature vector each, e.g. OSNet exported from
torchreid to ONNX (``[N, 3, 256, 128]`` -> 512-d) or Intel's Open Model Zoo
``person-reidentification-retail-0288`` (``[1, 3, 256, 128]`` -> 256-d).

* **Input size** is read from the model (``size=(h, w)`` overrides it where the
  model allows: an OpenVINO IR is reshaped, a fixed ONNX graph is not).
* **Colour and scale** follow a ``preset``: ``torchreid`` (RGB, pixels / 255,
  ImageNet mean and std: what torchreid, fast-reid and boxmot exports expect)
  or ``omz`` (BGR pixels ``0..255`` as they are: Intel's Open Model Zoo
  models carry their normalisation inside the IR).  The default ``auto`` is
  ``torchreid`` for ONNX; for an IR it is ``omz`` when the IR shows that its
  converter folded the preprocessing in (Model Optimizer's
  ``reverse_input_channels`` nodes or ``mean_values``/``scale_values`` in
  its conversion parameters: so it is for reid-0288), else ``torchreid``.
  ``channels``, ``scale``, ``mean`` and ``std`` override single parts:
  the network gets ``(pixel * scale - mean) / std`` per channel.
* **Batches**: all boxes of a frame go through in one call, ``batch_size`` at
  most, where the batch axis is dynamic (an IR with a fixed batch is
  reshaped to a dynamic one when OpenVINO allows); else one crop at a time.
* **Output**: ``(N, dim)`` float32 rows of unit length; ``dim`` is known when
  the embedder is built.

Crops are cut and resized bilinearly (torchreid's and the Open Model Zoo
demos' resize) by :func:`lsvid.embed.crop_batch`, so :meth:`embed` of a frame
and :meth:`embed_crops` of the same windows agree.
"""
from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lsvid_core.errors import ConfigError, InputError, MissingDependencyError, MissingInputError, first_line

from .embed import CropNetwork, l2_normalise, register_embedder
from .openvino_ir import compile_model, read_image_model

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: preset -> (channel order, scale, mean, std)
PRESETS: dict[str, tuple[str, float, tuple[float, ...], tuple[float, ...]]] = {
    "torchreid": ("rgb", 1 / 255, IMAGENET_MEAN, IMAGENET_STD),
    "omz": ("bgr", 1.0, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
}
_INSTALL = {
    "onnx": 'pip install "lsvid[onnx]" (or pip install onnxruntime)',
    "openvino": 'pip install "lsvid[openvino]" (or pip install "openvino>=2024.0")',
}


def _need(module: str, who: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(f"embedder '{who}': needs {module}, not installed: {_INSTALL[who]}")


def _number(v: Any, name: str, who: str, kind: type = float) -> Any:
    """``kind(v)``, or :class:`ConfigError` naming the option (a value from the command line may be a string)."""
    if isinstance(v, bool) or (kind is int and isinstance(v, float) and not v.is_integer()):
        raise ConfigError(f"embedder '{who}': {name}={v!r}: expected {'an integer' if kind is int else 'a number'}")
    try:
        return kind(v)
    except (TypeError, ValueError):
        raise ConfigError(f"embedder '{who}': {name}={v!r}: expected {'an integer' if kind is int else 'a number'}") from None


def _three(v: Sequence[float] | float, name: str, who: str) -> tuple[float, float, float]:
    try:
        a = np.asarray(v, np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ConfigError(f"embedder '{who}': {name}={v!r}: expected one number or three (per channel)") from None
    if a.size == 1:
        a = np.repeat(a, 3)
    if a.size != 3 or not np.isfinite(a).all():
        raise ConfigError(f"embedder '{who}': {name}={v}: expected one number or three (per channel)")
    return float(a[0]), float(a[1]), float(a[2])


def _size(size: Sequence[int] | None, who: str) -> tuple[int, int] | None:
    if size is None:
        return None
    s = list(size) if isinstance(size, (list, tuple)) else [size]
    if len(s) != 2 or not all(isinstance(x, (int, np.integer)) and x >= 8 for x in s):
        raise ConfigError(f"embedder '{who}': size={size}: expected [height, width], each at least 8 pixels")
    return int(s[0]), int(s[1])


class ModelEmbedder(CropNetwork):
    """What the ``onnx`` and ``openvino`` embedders share: the preprocessing, batching and output.

    A subclass sets ``size`` ``(h, w)``, ``layout`` (``NCHW``/``NHWC``),
    ``fixed_batch`` (``None``: dynamic), ``dim`` and ``_dtype``, and
    implements :meth:`_forward` of one batch.
    """

    name = "?"
    size: tuple[int, int]
    layout: str = "NCHW"
    fixed_batch: int | None = None
    dim: int
    _dtype: Any = np.float32

    def _setup_preprocessing(self, preset: str, channels: str | None, scale: float | None,
                             mean: Sequence[float] | float | None, std: Sequence[float] | float | None,
                             batch_size: int) -> None:
        who = self.name
        if preset not in PRESETS:
            raise ConfigError(f"embedder '{who}': preset={preset!r}; expected auto, {', '.join(PRESETS)}")
        order, s, m, d = PRESETS[preset]
        self.preset = preset
        self.channels = channels if channels is not None else order
        if self.channels not in ("rgb", "bgr"):
            raise ConfigError(f"embedder '{who}': channels={channels!r}; expected rgb or bgr")
        self.scale = _number(scale, "scale", who) if scale is not None else s
        self.mean = _three(mean, "mean", who) if mean is not None else m
        self.std = _three(std, "std", who) if std is not None else d
        if not np.isfinite(self.scale) or self.scale <= 0 or min(self.std) <= 0:
            raise ConfigError(f"embedder '{who}': scale={self.scale}, std={self.std}; expected positive numbers")
        if _number(batch_size, "batch_size", who, int) < 1:
            raise ConfigError(f"embedder '{who}': batch_size={batch_size}; expected at least 1")
        self.batch_size = int(batch_size)
        self._m = np.asarray(self.mean, np.float32)
        self._inv = (1.0 / np.asarray(self.std, np.float32))

    def _blob(self, crops: np.ndarray) -> np.ndarray:
        """``(N, h, w, 3)`` BGR uint8 -> the network's input array."""
        x = crops[..., ::-1] if self.channels == "rgb" else crops
        x = (x.astype(np.float32) * np.float32(self.scale) - self._m) * self._inv
        if self.layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x, self._dtype)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _run(self, crops: np.ndarray) -> np.ndarray:
        n = len(crops)
        out = np.zeros((n, self.dim), np.float32)
        step = self.fixed_batch or self.batch_size
        for i in range(0, n, step):
            part = crops[i:i + step]
            real = len(part)
            if self.fixed_batch is not None and real < self.fixed_batch:  # a fixed batch is filled up, the extra rows dropped
                part = np.concatenate([part, np.repeat(part[-1:], self.fixed_batch - real, 0)])
            y = np.asarray(self._forward(self._blob(part)), np.float32).reshape(len(part), -1)
            out[i:i + real] = y[:real]
        return l2_normalise(out)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.checkpoint!r}, size={self.size}, dim={self.dim}, preset={self.preset}, "
                f"channels={self.channels}, batch={'dynamic' if self.fixed_batch is None else self.fixed_batch})")


def _layout_of(dims: list[int | None], who: str, where: str) -> str:
    if len(dims) != 4:
        raise InputError(f"embedder '{who}': {where} input has shape {dims}; expected a 4-d image batch")
    if dims[1] == 3:
        return "NCHW"
    if dims[3] == 3:
        return "NHWC"
    raise InputError(f"embedder '{who}': {where} input {dims} has no 3-channel axis; expected NCHW or NHWC")


def _spatial(dims: list[int | None], layout: str) -> tuple[int | None, int | None]:
    return (dims[2], dims[3]) if layout == "NCHW" else (dims[1], dims[2])


def _checkpoint(checkpoint: str | os.PathLike | None, who: str, suffix: str) -> Path:
    if checkpoint is None:
        raise ConfigError(f"embedder '{who}': needs checkpoint=PATH, a local {suffix} ReID model (nothing is downloaded)")
    path = Path(checkpoint)
    if not path.is_file():
        raise MissingInputError(f"embedder '{who}': checkpoint {path} does not exist (nothing is downloaded)")
    if path.suffix.lower() != suffix:
        raise ConfigError(f"embedder '{who}': checkpoint {path}: expected a {suffix} file"
                          + ("; an OpenVINO IR (.xml) runs with --embedder openvino" if path.suffix.lower() == ".xml" else "")
                          + ("; an ONNX model runs with --embedder onnx" if path.suffix.lower() == ".onnx" else ""))
    return path


# ---------------------------------------------------------------------------
# ONNX Runtime


def _onnx_dim(d: Any) -> int | None:
    return d if isinstance(d, int) and d > 0 else None


class OnnxEmbedder(ModelEmbedder):
    """A ReID network exported to ONNX, run by ONNX Runtime (CUDA when asked for and available)."""

    name = "onnx"

    def __init__(self, checkpoint: str | os.PathLike | None, *, device: str = "cpu", size: Sequence[int] | None = None,
                 preset: str = "auto", channels: str | None = None, scale: float | None = None,
                 mean: Sequence[float] | float | None = None, std: Sequence[float] | float | None = None,
                 batch_size: int = 64, threads: int | None = None) -> None:
        who = self.name
        path = _checkpoint(checkpoint, who, ".onnx")
        _need("onnxruntime", who)
        import onnxruntime as ort

        self.checkpoint = str(path)
        self._setup_preprocessing("torchreid" if preset == "auto" else preset, channels, scale, mean, std, batch_size)
        self.providers = self._providers(ort, device)
        opts = ort.SessionOptions()
        if threads is not None:
            if _number(threads, "threads", who, int) < 1:
                raise ConfigError(f"embedder '{who}': threads={threads}; expected at least 1 (or unset)")
            opts.intra_op_num_threads = int(threads)
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=self.providers)
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
            hint = "; a model saved with external data needs that file beside it: keep the two together" if "xternal data" in str(e) else ""
            raise InputError(f"embedder '{who}': {path} is not a loadable ONNX model ({first_line(e)}){hint}") from e
        inp = self.session.get_inputs()[0]
        dims = [_onnx_dim(d) for d in inp.shape]
        self.layout = _layout_of(dims, who, str(path))
        self._input = inp.name
        self._dtype = np.float16 if inp.type == "tensor(float16)" else np.float32
        fixed = _spatial(dims, self.layout)
        wanted = _size(size, who)
        if fixed[0] is not None and fixed[1] is not None:
            if wanted is not None and wanted != fixed:
                raise ConfigError(f"embedder '{who}': {path} takes {fixed[0]}x{fixed[1]} crops only (a fixed ONNX input), "
                                  f"not size={list(wanted)}; leave size unset or export it with a dynamic size")
            self.size = (int(fixed[0]), int(fixed[1]))
        else:
            self.size = wanted or (256, 128)
        self.fixed_batch = dims[0]
        self.dim = self._find_dim()

    @staticmethod
    def _providers(ort, device: str) -> list[str]:
        available = ort.get_available_providers()
        if device == "cpu":
            return ["CPUExecutionProvider"]
        if device == "auto":
            return (["CUDAExecutionProvider"] if "CUDAExecutionProvider" in available else []) + ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" not in available:
                raise MissingDependencyError(f"embedder 'onnx': device={device}, but this onnxruntime has no CUDA provider "
                                             f"(it has {', '.join(available)}): pip install onnxruntime-gpu, or device=cpu")
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        raise ConfigError(f"embedder 'onnx': device={device!r}; expected auto, cpu or cuda")

    def _find_dim(self) -> int:
        out = self.session.get_outputs()[0]
        tail = [_onnx_dim(d) for d in out.shape[1:]]
        if tail and all(d is not None for d in tail):
            return int(np.prod(tail))
        probe = np.zeros((self.fixed_batch or 1, *self.size, 3), np.uint8)
        return int(np.asarray(self._forward(self._blob(probe))).reshape(len(probe), -1).shape[1])

    def _forward(self, x: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self._input: x})[0]


@register_embedder("onnx")
def onnx(*, checkpoint: str | os.PathLike | None = None, device: str = "cpu", size: Sequence[int] | None = None,
         preset: str = "auto", channels: str | None = None, scale: float | None = None,
         mean: Sequence[float] | float | None = None, std: Sequence[float] | float | None = None,
         batch_size: int = 64, threads: int | None = None) -> OnnxEmbedder:
    """A ReID network in ONNX (``checkpoint``: the ``.onnx``, external data beside it), by ONNX Runtime;
    torchreid preprocessing (RGB, ImageNet mean/std) unless ``preset``/``channels``/``mean``/``std`` say otherwise."""
    return OnnxEmbedder(checkpoint, device=device, size=size, preset=preset, channels=channels, scale=scale, mean=mean,
                        std=std, batch_size=batch_size, threads=threads)


# ---------------------------------------------------------------------------
# OpenVINO


def omz_preprocessing(model) -> bool:
    """Whether an IR's converter folded the input preprocessing in (so it takes BGR ``0..255``): Model
    Optimizer's ``reverse_input_channels`` nodes, or non-empty ``mean_values``/``scale_values`` or
    ``reverse_input_channels=True`` among the conversion parameters it recorded."""
    if any("reverse_input_channels" in op.get_friendly_name() for op in model.get_ordered_ops()[:64]):
        return True
    try:
        if not model.has_rt_info(["conversion_parameters"]):
            return False
        params = model.get_rt_info(["conversion_parameters"]).astype(dict)
    except Exception:  # noqa: BLE001 - rt_info layouts differ between OpenVINO releases
        return False
    text = {k: str(v.astype(str) if hasattr(v, "astype") else v).strip() for k, v in params.items()}
    if text.get("reverse_input_channels", "False").lower() == "true":
        return True
    return any(text.get(k, "") not in ("", "()", "[]", "{}", "None") for k in ("mean_values", "scale_values", "mean_scale_values"))


class OpenVinoEmbedder(ModelEmbedder):
    """A ReID network as an OpenVINO IR (``.xml`` with its ``.bin`` beside it)."""

    name = "openvino"

    def __init__(self, checkpoint: str | os.PathLike | None, *, device: str = "CPU", size: Sequence[int] | None = None,
                 preset: str = "auto", channels: str | None = None, scale: float | None = None,
                 mean: Sequence[float] | float | None = None, std: Sequence[float] | float | None = None,
                 batch_size: int = 64, threads: int | None = None) -> None:
        who = self.name
        path = _checkpoint(checkpoint, who, ".xml")
        if not path.with_suffix(".bin").is_file():
            raise MissingInputError(f"embedder '{who}': {path.with_suffix('.bin')}: the weights of {path.name} are missing; "
                                    "keep the .xml and the .bin of an OpenVINO IR together")
        _need("openvino", who)
        import openvino as ov

        self.checkpoint = str(path)
        core = ov.Core()
        model = read_image_model(core, path, f"embedder '{who}'", InputError)
        if preset == "auto":
            preset = "omz" if omz_preprocessing(model) else "torchreid"
        self._setup_preprocessing(preset, channels, scale, mean, std, batch_size)
        shape = model.input().get_partial_shape()
        dims = [d.get_length() if d.is_static else None for d in shape] if shape.rank.is_static else []
        self.layout = _layout_of(dims, who, str(path))
        fixed = _spatial(dims, self.layout)
        wanted = _size(size, who)
        self.size = wanted or ((fixed[0], fixed[1]) if fixed[0] and fixed[1] else (256, 128))
        self.fixed_batch = self._reshape(ov, model, dims, path)
        self.device = self._device(core, device)
        config: dict[str, Any] = {}
        if threads is not None:
            if _number(threads, "threads", who, int) < 1:
                raise ConfigError(f"embedder '{who}': threads={threads}; expected at least 1 (or unset)")
            config["INFERENCE_NUM_THREADS"] = int(threads)
        self.compiled, self.request = compile_model(core, model, path, self.device, config, f"embedder '{who}'", InputError)
        self._dtype = np.float16 if model.input().get_element_type() == ov.Type.f16 else np.float32
        out = self.compiled.outputs[0].get_partial_shape()
        tail = [d.get_length() if d.is_static else None for d in out][1:] if out.rank.is_static else [None]
        if tail and all(d is not None for d in tail):
            self.dim = int(np.prod(tail))
        else:
            probe = np.zeros((self.fixed_batch or 1, *self.size, 3), np.uint8)
            self.dim = int(np.asarray(self._forward(self._blob(probe))).reshape(len(probe), -1).shape[1])

    def _reshape(self, ov, model, dims: list[int | None], path: Path) -> int | None:
        """Give the model a dynamic batch and the wanted size where OpenVINO allows; the fixed batch left, if any."""
        h, w = self.size
        spatial = [ov.Dimension(3), ov.Dimension(h), ov.Dimension(w)] if self.layout == "NCHW" else [ov.Dimension(h), ov.Dimension(w), ov.Dimension(3)]
        try:
            model.reshape(ov.PartialShape([ov.Dimension(-1), *spatial]))
            return None
        except Exception:  # noqa: BLE001 - a graph whose batch cannot be freed: keep it, and loop
            pass
        try:
            model.reshape(ov.PartialShape([ov.Dimension(dims[0] or 1), *spatial]))
        except Exception as e:  # noqa: BLE001
            raise ConfigError(f"embedder '{self.name}': {path} cannot take {h}x{w} crops ({first_line(e)}); leave size unset") from e
        return dims[0] or 1

    def _device(self, core, device: str) -> str:
        name = str(device).upper()
        available = list(core.available_devices)
        if name in ("AUTO", "MULTI") or name in available or any(d.startswith(name + ".") for d in available):
            return name
        raise ConfigError(f"embedder '{self.name}': device={device!r}: OpenVINO runs on {', '.join(available)} here (or AUTO)")

    def _forward(self, x: np.ndarray) -> np.ndarray:
        self.request.infer({0: x})
        return self.request.get_output_tensor(0).data.copy()


@register_embedder("openvino")
def openvino(*, checkpoint: str | os.PathLike | None = None, device: str = "CPU", size: Sequence[int] | None = None,
             preset: str = "auto", channels: str | None = None, scale: float | None = None,
             mean: Sequence[float] | float | None = None, std: Sequence[float] | float | None = None,
             batch_size: int = 64, threads: int | None = None) -> OpenVinoEmbedder:
    """A ReID network as an OpenVINO IR (``checkpoint``: the ``.xml``, its ``.bin`` beside it); the
    preprocessing the IR shows (``omz``: BGR 0..255 when its converter folded normalisation in, as
    Intel's Open Model Zoo models do), else torchreid's, unless ``preset``/``channels``/``mean``/``std`` say otherwise."""
    return OpenVinoEmbedder(checkpoint, device=device, size=size, preset=preset, channels=channels, scale=scale, mean=mean,
                            std=std, batch_size=batch_size, threads=threads)
