"""``yolo``: an ultralytics YOLO detector from local weights, batched, on CUDA when present.

Nothing is downloaded.  ``weights`` is whatever ultralytics itself loads,
found by the name ultralytics gives each export format
(``ultralytics.engine.exporter.export_formats``): a ``.pt`` file (``lsvid
train-detector`` makes one from footage with MOT truth), ``.torchscript``,
``.onnx``, an ``*_openvino_model/`` folder, a TensorRT ``.engine``, and the
others of that table (CoreML, TF SavedModel, LiteRT, Paddle, MNN, NCNN, ...).
Or the name of a model yaml bundled with ultralytics (``yolov8n.yaml``),
which builds an untrained network: useful for speed measurements and tests,
not for finding people.

An export runs on the runtime it was made for; one that is not installed is
a :class:`~lsvid_core.errors.MissingDependencyError` naming what to install
(``pip install "lsvid[onnx]"``, ``"lsvid[openvino]"``, ``"lsvid[tensorrt]"``),
never an installation at run time.  An export made for a fixed input size or
batch is fed exactly that: its size is read from the model (an ``imgsz``
that differs is refused), and frames go to it in groups of its batch.
"""
from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lsvid_core.errors import MissingDependencyError

from . import register_detector
from .base import Detector, DetectorError, check_frames
from .boxes import detections
from .offline import import_ultralytics

ALTERNATIVES = ("offline alternatives: --detector hog (no weights), motion (static cameras, no weights), "
                "truth (MOT files beside the videos), openvino (an OpenVINO SSD person detector such as "
                "person-detection-retail-0013), or make YOLO weights from footage with MOT truth: "
                "lsvid train-detector FOOTAGE --out yolo.pt")
_PERSON_NAMES = ("person", "pedestrian", "people")
_COCO_CLASSES = 80

#: export format (ultralytics' ``Argument`` column) -> (modules of which one must import, what to install).
#: The formats themselves are read from ultralytics; this only says how to install each one's runtime.
RUNTIMES: dict[str, tuple[tuple[str, ...], str]] = {
    "onnx": (("onnxruntime",), 'pip install "lsvid[onnx]" (or pip install onnxruntime; onnxruntime-gpu for CUDA)'),
    "openvino": (("openvino",), 'pip install "lsvid[openvino]" (or pip install "openvino>=2024.0")'),
    "engine": (("tensorrt",), 'pip install "lsvid[tensorrt]" (NVIDIA TensorRT, or pip install tensorrt; needs a CUDA GPU)'),
    "coreml": (("coremltools",), "pip install coremltools"),
    "saved_model": (("tensorflow",), "pip install tensorflow"),
    "pb": (("tensorflow",), "pip install tensorflow"),
    "edgetpu": (("tflite_runtime", "ai_edge_litert", "tensorflow"), "pip install ai-edge-litert (and the Edge TPU runtime)"),
    "litert": (("ai_edge_litert", "tflite_runtime", "tensorflow"), "pip install ai-edge-litert"),
    "paddle": (("paddle",), "pip install paddlepaddle"),
    "mnn": (("MNN",), "pip install MNN"),
    "ncnn": (("ncnn",), "pip install ncnn"),
    "executorch": (("executorch",), "pip install executorch"),
    "rknn": (("rknnlite",), "pip install rknn-toolkit-lite2"),
}


def resolve_device(device: str) -> str:
    """The device as ultralytics names it: ``cuda:N`` or ``cpu`` (``auto``: CUDA when usable);
    one this machine lacks is a :class:`~lsvid_core.errors.DeviceError`."""
    from lsvid_core.devices import resolve_device as check

    dev = check(device)
    return f"cuda:{dev.index or 0}" if dev.type == "cuda" else "cpu"


@dataclass(frozen=True)
class ExportFormat:
    """One row of ultralytics' export table: ``name`` (``OpenVINO``), ``argument`` (``openvino``),
    ``suffix`` (``_openvino_model``: a folder; ``.onnx``: a file)."""

    name: str
    argument: str
    suffix: str

    @property
    def folder(self) -> bool:
        return self.suffix.startswith("_") and "." not in self.suffix


def export_formats() -> list[ExportFormat]:
    """The formats ultralytics loads, from ultralytics itself (a dict of columns in 8.3+, a DataFrame before)."""
    import_ultralytics()
    from ultralytics.engine.exporter import export_formats as table

    t = table()
    rows = [ExportFormat(str(n), str(a), str(s)) for n, a, s in zip(t["Format"], t["Argument"], t["Suffix"])]
    return [ExportFormat("PyTorch", "pt", ".pt") if r.argument == "-" else r for r in rows]


def weights_format(path: str | os.PathLike) -> ExportFormat | None:
    """The export format of ``path`` by its name, as ultralytics' ``AutoBackend._model_type`` decides it:
    the suffix that ends last in the name wins, then the longest (``best_qnn.onnx`` is QNN); ``None``
    when no format's suffix is in the name."""
    name = Path(path).name.lower()
    rows = export_formats()
    matches = [(name.rfind(r.suffix.lower()) + len(r.suffix), len(r.suffix), i) for i, r in enumerate(rows) if r.suffix.lower() in name]
    if not matches:
        return ExportFormat("CoreML", "coreml", ".mlmodel") if name.endswith(".mlmodel") else None
    return rows[max(matches)[2]]


def _accepted() -> str:
    rows = export_formats()
    return ", ".join(f"{r.suffix}{'/' if r.folder else ''} ({r.name})" for r in rows)


def _not_a_format(path: Path) -> DetectorError:
    """The error for weights whose name no export format claims, with what would load."""
    hint = ""
    xml = path if path.suffix.lower() == ".xml" else next(iter(sorted(path.glob("*.xml"))), None) if path.is_dir() else None
    if xml is not None:
        hint = (f"; {xml} looks like an OpenVINO IR: ultralytics loads an OpenVINO export only as the folder it wrote, "
                "whose name ends in _openvino_model (holding the .xml, .bin and metadata.yaml), so pass that folder "
                "(renamed if need be); an SSD person detector such as person-detection-retail-0013 runs with --detector openvino")
    return DetectorError(f"yolo: weights {path}: not a format ultralytics loads{hint}. Expected one of: {_accepted()}, "
                         "or a bundled model .yaml for an untrained network")


def check_runtime(fmt: ExportFormat, path: str) -> None:
    """:class:`MissingDependencyError` naming what to install when ``fmt``'s runtime is not importable."""
    modules, install = RUNTIMES.get(fmt.argument, ((), ""))
    if modules and not any(importlib.util.find_spec(m) is not None for m in modules):
        raise MissingDependencyError(f"yolo: {path} is {fmt.name}, which needs {' or '.join(modules)}, not installed: {install}")


def check_weights(weights: str | os.PathLike | None) -> tuple[str, ExportFormat | None]:
    """The weights as ultralytics should load them and their format (``None``: a bundled model yaml), or
    :class:`DetectorError` naming the file and the alternatives (:class:`MissingDependencyError` for a
    runtime that is not installed)."""
    if weights is None:
        raise DetectorError(f"yolo: needs weights=PATH, a local .pt file or an ultralytics export such as .onnx or "
                            f"*_openvino_model/ (nothing is downloaded); {ALTERNATIVES}")
    text = str(weights)
    if "://" in text:
        raise DetectorError(f"yolo: weights {text}: a URL; expected a local file or folder (nothing is downloaded)")
    path = Path(weights)
    if path.suffix.lower() in (".yaml", ".yml"):
        return text, None  # a model yaml: a local file, or one bundled with ultralytics, found by name
    fmt = weights_format(path)
    if fmt is None:
        if not path.exists():
            raise DetectorError(f"yolo: weights {path} do not exist (nothing is downloaded); {ALTERNATIVES}")
        raise _not_a_format(path)
    if not path.exists():
        what = "folder" if fmt.folder else "file"
        raise DetectorError(f"yolo: weights {what} {path} does not exist (nothing is downloaded); {ALTERNATIVES}")
    if fmt.folder and not path.is_dir():
        raise DetectorError(f"yolo: weights {path}: a {fmt.name} export is the folder ultralytics wrote ({fmt.suffix}/), not a file")
    check_runtime(fmt, str(path))
    return str(path), fmt


@dataclass(frozen=True)
class ExportShape:
    """What an export fixes about its input, ``None`` where it is free: ``size`` ``(h, w)`` and ``batch``;
    and ``exported``, the size ultralytics recorded exporting it (the default where the size is free)."""

    size: tuple[int, int] | None = None
    batch: int | None = None
    exported: tuple[int, int] | None = None


def _static(dim: Any) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


def _literal(v: Any) -> Any:
    if isinstance(v, str):
        import ast

        try:
            return ast.literal_eval(v)
        except (ValueError, SyntaxError):
            return v
    return v


def export_metadata(path: str) -> dict[str, Any]:
    """What ultralytics recorded with an export (``imgsz``, ``batch``, ``args``...), read without loading it;
    empty for a third-party export, or with ultralytics before 8.4 (no such reader)."""
    try:
        from ultralytics.nn.backends.base import BaseBackend
    except ImportError:
        return {}
    meta = dict(BaseBackend.read_metadata(path) or {})
    return {k: _literal(v) for k, v in meta.items()}


def _graph_shape(dims: list[int | None], exported: tuple[int, int] | None) -> ExportShape:
    h, w = (_static(d) for d in dims[-2:])
    return ExportShape((h, w) if h and w else None, _static(dims[0]) if len(dims) == 4 else None, exported)


def onnx_input_shape(path: str, exported: tuple[int, int] | None = None) -> ExportShape:
    """The input size and batch an ONNX graph was exported with (``None`` where dynamic)."""
    import onnxruntime

    try:
        shape = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"]).get_inputs()[0].shape
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise DetectorError(f"yolo: {path} is not a loadable ONNX model ({e})") from e
    return _graph_shape(list(shape), exported)


def onnx_input_size(path: str) -> int | None:
    """The square input size an ONNX graph was exported with, or ``None`` when its size is dynamic."""
    size = onnx_input_shape(path).size
    return max(size) if size else None


def openvino_input_shape(folder: str, exported: tuple[int, int] | None = None) -> ExportShape:
    """The input size and batch of the IR in an ``*_openvino_model`` folder (``None`` where dynamic)."""
    import openvino

    xml = next(iter(sorted(Path(folder).glob("*.xml"))), None)
    if xml is None or not xml.with_suffix(".bin").is_file():
        raise DetectorError(f"yolo: {folder}: an OpenVINO export holds a .xml and the .bin of the same name; found "
                            f"{sorted(p.name for p in Path(folder).iterdir()) or 'nothing'}")
    try:
        shape = openvino.Core().read_model(str(xml)).inputs[0].get_partial_shape()
    except Exception as e:  # noqa: BLE001 - openvino raises RuntimeError and its own types
        raise DetectorError(f"yolo: {xml} is not a loadable OpenVINO model ({e})") from e
    return _graph_shape([d.get_length() if d.is_static else None for d in shape], exported)


def export_shape(path: str, fmt: ExportFormat | None) -> ExportShape:
    """What the export at ``path`` fixes about its input: read from the graph for ONNX and OpenVINO,
    else from ultralytics' metadata; a ``.pt`` or a yaml fixes nothing, and TorchScript and NCNN
    take any batch (as ultralytics' AutoBackend treats them)."""
    if fmt is None or fmt.argument == "pt":
        return ExportShape()
    meta = export_metadata(path)
    imgsz = meta.get("imgsz")
    exported = (int(imgsz[0]), int(imgsz[-1])) if isinstance(imgsz, (list, tuple)) and imgsz else None
    if fmt.argument == "onnx":
        return onnx_input_shape(path, exported)
    if fmt.argument == "openvino":
        return openvino_input_shape(path, exported)
    args = meta.get("args") if isinstance(meta.get("args"), dict) else {}
    if args.get("dynamic") or not meta:
        return ExportShape(exported=exported)
    batch = int(meta["batch"]) if "batch" in meta and fmt.argument not in ("torchscript", "ncnn") else None
    return ExportShape(exported, batch, exported)


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


def _holds(test: Callable[[], bool]) -> bool:
    try:
        return bool(test())
    except (TypeError, ValueError):
        return False


def check_options(name: str, *, batch_size: object = 16, imgsz: object = None, conf: object = 0.1, iou: object = 0.7) -> None:
    """The numeric options of a YOLO detector (``name`` says which), before any model is loaded."""
    bad = []
    if not _holds(lambda: 0 <= float(conf) <= 1 and 0 < float(iou) <= 1):  # type: ignore[arg-type]
        bad.append(f"conf={conf!r}, iou={iou!r}; expected conf in [0, 1] and iou in (0, 1]")
    if not _holds(lambda: int(batch_size) >= 1 and (imgsz is None or int(imgsz) >= 32)):  # type: ignore[arg-type]
        bad.append(f"batch_size={batch_size!r}, imgsz={imgsz!r}; expected batch_size >= 1 and imgsz >= 32")
    if bad:
        raise DetectorError(f"{name}: " + "; ".join(bad))


def _size_text(size: tuple[int, int]) -> str:
    return f"{size[0]}" if size[0] == size[1] else f"{size[0]}x{size[1]}"


@register_detector("yolo")
class YoloDetector(Detector):
    """Ultralytics YOLO on batches of frames, people only; weights from a local file or folder.

    Options: ``weights`` (``.pt``, or any export ultralytics loads: ``.onnx``,
    ``*_openvino_model/``, ``.engine``, ...; or a bundled model yaml for an
    untrained network), ``device`` (``auto``: CUDA when present, else CPU;
    or ``cpu``, ``cuda:1``...; OpenVINO exports run on the CPU, TensorRT
    engines on CUDA only), ``imgsz`` (inference size, pixels; default: the
    size the weights were trained or exported at, else 640; an export made
    for a fixed size takes only that one), ``conf`` (minimum confidence;
    0.1, the tracker's ``low_score``, as ByteTrack is fed: boxes of 0.1-0.5
    are the half hidden people its second stage keeps tracks alive with; on
    the PETS clip 0.25 instead costs IDF1 0.90 -> 0.85 and tracklet purity
    0.97 -> 0.92),
    ``iou`` (NMS overlap), ``batch_size`` (frames per forward pass; an
    export made for a fixed batch gets groups of that batch),
    ``half`` (fp16; default: on CUDA for ``.pt``, else as exported),
    ``person_class`` (default: found from the model's class names),
    ``max_det`` (boxes per frame at most).  The score is YOLO's confidence.
    The model is loaded (and run once on a blank frame) when the detector
    is built, so a file its runtime cannot read fails here, not mid-video.
    """

    def __init__(self, *, weights: str | None = None, device: str = "auto", imgsz: int | None = None, conf: float = 0.1,
                 iou: float = 0.7, batch_size: int = 16, half: bool | None = None, person_class: int | None = None,
                 max_det: int = 300):
        source, fmt = check_weights(weights)
        check_options("yolo", batch_size=batch_size, imgsz=imgsz, conf=conf, iou=iou)
        self.format = fmt.argument if fmt is not None else "yaml"
        self.device = resolve_device(device)
        if self.format == "engine" and not self.device.startswith("cuda"):
            raise DetectorError(f"yolo: {source} is a TensorRT engine, which runs on an NVIDIA GPU only; "
                                f"device={device} is {self.device}" + ("" if device == "auto" else "; use device=cuda or auto"))
        shape = export_shape(source, fmt)
        if shape.size is not None and imgsz is not None and (int(imgsz), int(imgsz)) != shape.size:
            raise DetectorError(f"yolo: {source} was exported for {_size_text(shape.size)} px inputs, not imgsz={imgsz}; "
                                "leave imgsz unset, or export again at that size")
        import_ultralytics()
        from ultralytics import YOLO

        try:
            self.model = YOLO(source, task="detect")
        except (FileNotFoundError, RuntimeError, ValueError, KeyError, TypeError) as e:
            raise DetectorError(f"yolo: cannot load {source}: {e}") from e
        self.half = bool(half) if half is not None else (self.device.startswith("cuda") and self.format in ("pt", "yaml"))
        self.batch_size = int(batch_size)
        #: frames per forward pass the export takes exactly (None: any number)
        self.export_batch = shape.batch
        # the fixed size; else the export's, or the training size ultralytics keeps with .pt weights
        trained = shape.size or shape.exported or self.model.overrides.get("imgsz") or 640
        if imgsz is not None:
            self.imgsz: int | tuple[int, int] = int(imgsz)
        elif isinstance(trained, (list, tuple)):
            h, w = (int(trained[0]), int(trained[-1]))
            self.imgsz = h if h == w else (h, w)
        else:
            self.imgsz = int(trained)
        self._args: dict[str, Any] = dict(imgsz=list(self.imgsz) if isinstance(self.imgsz, tuple) else self.imgsz, conf=float(conf),
                                          iou=float(iou), device=self.device, max_det=int(max_det), verbose=False)
        if self.half:
            from ultralytics.cfg import DEFAULT_CFG_DICT

            # ultralytics 8.4 folded `half` into `quantize`; older releases only know `half`.
            self._args.update({"quantize": 16} if "quantize" in DEFAULT_CFG_DICT else {"half": True})
        self._load(source)
        names = dict(self.model.names or {})
        self.person_class = int(person_class) if person_class is not None else find_person_class(names, source)
        self._args["classes"] = [self.person_class]

    def _load(self, source: str) -> None:
        """Load the runtime now (ultralytics defers it to the first prediction) on our device, by one
        prediction on a blank frame; what cannot load is named here."""
        h, w = self.imgsz if isinstance(self.imgsz, tuple) else (self.imgsz, self.imgsz)
        blank = [np.zeros((h, w, 3), np.uint8)] * (self.export_batch or 1)
        try:
            self.model.predict(blank, **self._args)
        except ModuleNotFoundError as e:
            raise MissingDependencyError(f"yolo: {source} ({self.format}) needs the Python module {e.name!r}, not installed: "
                                         f"pip install {e.name} (ultralytics installs nothing here)") from e
        except MissingDependencyError:
            raise
        except Exception as e:  # noqa: BLE001 - each runtime raises its own types for a file it cannot read
            raise DetectorError(f"yolo: cannot run {source} ({self.format}) on {self.device}: {type(e).__name__}: {e}") from e

    def _groups(self, frames: list[np.ndarray]) -> list[tuple[list[np.ndarray], int]]:
        """``(frames, real)`` groups for one forward pass each: all at once for a dynamic model, else groups
        of the export's batch, the last one padded with copies of its last frame (``real`` are kept)."""
        b = self.export_batch
        if b is None:
            return [(frames, len(frames))]
        out = []
        for i in range(0, len(frames), b):
            g = frames[i:i + b]
            out.append((g + [g[-1]] * (b - len(g)), len(g)))
        return out

    def detect(self, frames: Sequence[np.ndarray], indices: Sequence[int]) -> list[np.ndarray]:
        width, height = check_frames(frames, indices, "yolo")
        if not len(frames):
            return []
        out = []
        for group, real in self._groups(list(frames)):
            for r in self.model.predict(group, **self._args)[:real]:
                xyxy = r.boxes.xyxy.float().cpu().numpy().astype(np.float64)
                score = r.boxes.conf.float().cpu().numpy()
                out.append(detections(np.c_[xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], score, width, height))
        return out
