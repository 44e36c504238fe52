"""Person detectors for curation, behind one small registry (the timm pattern).

Built in:

* ``yolo`` -- ultralytics YOLO from local weights (``weights=yolo.pt``; train
  your own offline with ``lsvid train-detector``), batched, CUDA when present;
* ``hog`` -- histograms of oriented gradients and a linear SVM, no weights file;
* ``motion`` -- background subtraction for static cameras, no weights;
* ``truth`` -- the boxes of the video's MOT file, to curate existing annotations.

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

import importlib
import inspect
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable

from .base import Detector, DetectorError

ENTRY_POINT_GROUP = "lsvid.detectors"
_BUILTIN_MODULES = ("hog", "motion", "truth", "yolo")


@dataclass(frozen=True)
class DetectorEntry:
    name: str
    factory: Callable[..., Detector]
    origin: str

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.factory) or ""

    def defaults(self) -> dict[str, Any] | None:
        """Option names and defaults, or ``None`` when the factory takes any ``**options``."""
        params = inspect.signature(self.factory).parameters.values()
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return None
        return {p.name: (None if p.default is p.empty else p.default) for p in params if p.kind is not p.VAR_POSITIONAL}


_REGISTRY: dict[str, DetectorEntry] = {}
_loaded = {"builtins": False, "entry_points": False}


def _origin(factory: Callable[..., Any]) -> str:
    try:
        where = inspect.getsourcefile(factory)
    except TypeError:  # a builtin or a callable object
        where = None
    name = f"{getattr(factory, '__module__', '?')}.{getattr(factory, '__qualname__', repr(factory))}"
    return name + (f" ({where})" if where else "")


def register_detector(name: str | None = None) -> Callable[[Callable[..., Detector]], Callable[..., Detector]]:
    """Decorator: register ``factory(**options) -> Detector`` under ``name`` (default: its ``__name__``)."""

    def deco(factory: Callable[..., Detector]) -> Callable[..., Detector]:
        key = name or factory.__name__
        entry = DetectorEntry(key, factory, _origin(factory))
        old = _REGISTRY.get(key)
        if old is not None and old.origin != entry.origin:
            raise DetectorError(f"detector '{key}' is registered twice: by {old.origin} and by {entry.origin}")
        _REGISTRY[key] = entry
        return factory

    return deco


def _load_builtins() -> None:
    if not _loaded["builtins"]:
        _loaded["builtins"] = True
        for mod in _BUILTIN_MODULES:
            importlib.import_module(f"{__name__}.{mod}")


def _load_entry_points() -> None:
    if _loaded["entry_points"]:
        return
    _loaded["entry_points"] = True
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as e:
            raise DetectorError(f"entry point '{ep.name} = {ep.value}' in group {ENTRY_POINT_GROUP} failed to load: {e}") from e
        if callable(obj) and not inspect.ismodule(obj):
            register_detector(ep.name)(obj)


def list_detectors() -> list[str]:
    """Names of the registered detectors, sorted."""
    _load_builtins()
    _load_entry_points()
    return sorted(_REGISTRY)


def get_detector(name: str) -> DetectorEntry:
    """The registry entry of ``name``, or :class:`DetectorError` listing what exists."""
    _load_builtins()
    if name not in _REGISTRY:
        _load_entry_points()
    if name not in _REGISTRY:
        raise DetectorError(f"unknown detector '{name}'; registered: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def create_detector(name: str, **options: Any) -> Detector:
    """Build detector ``name`` with ``options``; an option it does not take is an error naming those it does."""
    entry = get_detector(name)
    defaults = entry.defaults()
    if defaults is not None:
        unknown = sorted(set(options) - set(defaults))
        if unknown:
            raise DetectorError(f"detector '{name}' has no option {', '.join(map(repr, unknown))}; "
                                f"its options: {', '.join(defaults) or '(none)'}")
    det = entry.factory(**options)
    if not callable(getattr(det, "detect", None)) or not callable(getattr(det, "start_video", None)):
        raise DetectorError(f"detector '{name}' ({entry.origin}) built {type(det).__name__}, which lacks detect/start_video")
    det.name = name
    det.options = {**(defaults or {}), **options}
    return det


__all__ = ["ENTRY_POINT_GROUP", "Detector", "DetectorEntry", "DetectorError", "create_detector", "get_detector",
           "list_detectors", "register_detector"]
