"""Person detectors for curation, behind one small registry (the timm pattern).

Built in:

* ``yolo`` -- ultralytics YOLO from local weights: ``weights=yolo.pt`` (train
  your own offline with ``lsvid train-detector``) or any export ultralytics
  loads (``.onnx``, ``*_openvino_model/``, ``.engine``, ...), batched, CUDA
  when present;
* ``openvino`` -- an OpenVINO IR person detector of the SSD kind, such as
  Intel's ``person-detection-retail-0013`` (``weights=...xml``), batched where
  the model allows;
* ``synthetic`` -- the bundled YOLO trained on ``lsvid synth`` footage only (no
  download; rebuilt by ``lsvid train-detector --recipe synthetic``), the default;
* ``hog`` -- histograms of oriented gradients and a linear SVM, no weights file;
* ``motion`` -- background subtraction for static cameras, no weights; where
  the camera's ground-plane geometry is known (``footage.json``, see
  :mod:`lsvid.detect.geometry`) it fits person-sized boxes to the foreground;
* ``file`` (alias ``truth``) -- the boxes of the video's MOT detection file, else
  of its truth, to curate existing detections or annotations.

::

    from lsvid.detect import create_detector
    det = create_detector("motion", **options)   # unknown options are an error
    det.start_video(video)                       # lsvid.footage.VideoSource
    boxes = det.detect(frames, indices)          # per frame: float32 (N, 5) x, y, w, h, score

Add your own with ``@register_detector("mine")`` on a factory (a :class:`Detector`
subclass or a function returning one) taking keyword options, or from an
installed package through the entry-point group ``lsvid.detectors``.  A name
registered twice is an error naming both origins.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from protocols.registry import Entry, Registry, option_defaults

from .base import Detector, DetectorError

ENTRY_POINT_GROUP = "lsvid.detectors"
_BUILTIN_MODULES = ("hog", "motion", "openvino_ssd", "synthetic", "truth", "yolo")

REGISTRY = Registry(
    "detector",
    builtins=[f"{__name__}.{m}" for m in _BUILTIN_MODULES],
    entry_point_group=ENTRY_POINT_GROUP,
    duplicate_error=DetectorError,
    unknown_error=DetectorError,
    option_error=DetectorError,
)


def register_detector(name: str | None = None) -> Callable[[Callable[..., Detector]], Callable[..., Detector]]:
    """Decorator: register ``factory(**options) -> Detector`` under ``name`` (default: its ``__name__``)."""
    return REGISTRY.register(name)


def list_detectors() -> list[str]:
    """Names of the registered detectors, sorted."""
    return REGISTRY.names()


def get_detector(name: str) -> Entry:
    """The registry entry of ``name``, or :class:`DetectorError` listing what exists."""
    return REGISTRY.get(name)


def create_detector(name: str, **options: Any) -> Detector:
    """Build detector ``name`` with ``options``; an option it does not take is an error naming those it does."""
    entry = get_detector(name)
    det = REGISTRY.create(name, **options)
    if not callable(getattr(det, "detect", None)) or not callable(getattr(det, "start_video", None)):
        raise DetectorError(f"detector '{name}' ({entry.origin}) built {type(det).__name__}, which lacks detect/start_video")
    det.name = name
    det.options = {**(option_defaults(entry.factory) or {}), **options}
    return det


__all__ = ["ENTRY_POINT_GROUP", "Detector", "DetectorError", "create_detector", "get_detector",
           "list_detectors", "register_detector"]
