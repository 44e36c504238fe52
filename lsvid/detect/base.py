"""What every person detector is to the pipeline: reset per video, boxes per frame."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from lsvid.footage import VideoSource
from lsvid_core.errors import LsvidError


class DetectorError(LsvidError, ValueError):
    """A detector cannot be built or run as asked; the message says what to change."""


class Detector(ABC):
    """A person detector.

    The pipeline calls :meth:`start_video` once per video, then :meth:`detect`
    on consecutive groups of about ``batch_size`` frames of it, in order.
    Boxes are ``float32`` arrays ``(N, 5)``: ``x, y, w, h, score``, the box's
    0-based top-left pixel and size, clipped to the frame, ``w, h > 0``.
    The same video gives the same boxes.
    """

    #: registry name, set by :func:`lsvid.detect.create_detector`
    name: str = "?"
    #: frames the pipeline should hand to one :meth:`detect` call
    batch_size: int = 1
    #: the options the detector was built with (recorded in dataset.json)
    options: dict[str, Any]

    def start_video(self, video: VideoSource) -> None:  # noqa: B027 - stateless detectors need nothing here
        """Forget everything learnt from the previous video."""

    @abstractmethod
    def detect(self, frames: Sequence[np.ndarray], indices: Sequence[int]) -> list[np.ndarray]:
        """Boxes of each of ``frames`` (BGR ``uint8``, one size), whose 0-based frame numbers are ``indices``."""

    def describe(self) -> dict[str, Any]:
        """Name and options, JSON-ready, for the record of how a dataset was built."""
        return {"name": self.name, "options": dict(getattr(self, "options", {}))}


def check_frames(frames: Sequence[np.ndarray], indices: Sequence[int], who: str) -> tuple[int, int]:
    """``(width, height)`` of a batch, or :class:`DetectorError` if it is not one size of BGR ``uint8``."""
    if len(frames) != len(indices):
        raise DetectorError(f"{who}: {len(frames)} frames but {len(indices)} indices; expected one index per frame")
    if not len(frames):
        return 0, 0
    shape = frames[0].shape
    for i, f in zip(indices, frames):
        if f.dtype != np.uint8 or f.ndim != 3 or f.shape[2] != 3 or f.shape != shape:
            raise DetectorError(f"{who}: frame {i} is {f.dtype} {f.shape}; expected BGR uint8 images of one size {shape}")
    return int(shape[1]), int(shape[0])
