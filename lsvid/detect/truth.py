"""``file`` (also ``truth``): the boxes of a video's MOT file, to curate from existing detections or annotations."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lsvid.footage import VideoSource
from lsvid.mot import BOX_COLUMNS, considered, read_detections, read_truth

from . import register_detector
from .base import Detector, DetectorError, check_frames
from .boxes import EMPTY, detections

SOURCES = ("auto", "detections", "truth")


@register_detector("file")
class FileDetector(Detector):
    """Boxes from the video's MOT files: its detection file (``VideoSource.detections``:
    ``<slot>.det.txt`` beside it, ``det/det.txt`` of a MOTChallenge sequence, or the manifest's
    ``detections`` column), or its ground truth (``VideoSource.truth``).

    Options:

    * ``source`` — ``auto`` (the default): the detection file when the video has one, else its
      truth (the synthetic footage of ``lsvid synth`` has truth only; ``lsvid curate`` says in a
      log line when it falls back); ``detections`` or ``truth``: that file only.
    * ``min_score`` — detection-file boxes scoring below it are dropped (default: keep all); the
      score is the file's ``conf``, as written (a float).
    * ``min_visibility`` — truth boxes less visible than that are dropped (0..1);
      ``visibility_score`` makes a truth box's visibility its score (else 1).  Truth rows the
      devkit ignores (consider flag 0, or a class other than pedestrian) are never boxes.
    """

    batch_size = 64

    def __init__(self, *, source: str = "auto", min_score: float | None = None, min_visibility: float = 0.0,
                 visibility_score: bool = True):
        if source not in SOURCES:
            raise DetectorError(f"file: source={source!r}; expected one of {', '.join(SOURCES)}")
        if not 0.0 <= float(min_visibility) <= 1.0:
            raise DetectorError(f"file: min_visibility={min_visibility}; expected a share in [0, 1]")
        if min_score is not None and not isinstance(min_score, (int, float)):
            raise DetectorError(f"file: min_score={min_score!r}; expected a number")
        self.source = source
        self.min_score = None if min_score is None else float(min_score)
        self.min_visibility = float(min_visibility)
        self.visibility_score = bool(visibility_score)
        self._by_frame: dict[int, np.ndarray] | None = None

    def _name(self) -> str:
        return self.name if self.name != "?" else "file"

    def start_video(self, video: VideoSource) -> None:
        name = self._name()
        use_dets = self.source == "detections" or (self.source == "auto" and video.detections is not None)
        if use_dets and video.detections is None:
            raise DetectorError(f"{video.path} ({video.video_id}): the {name} detector (source=detections) needs a MOT detection file "
                                f"for this video (<slot>.det.txt beside it, det/det.txt in a MOTChallenge sequence, "
                                f"or a 'detections' column in the manifest); it has none")
        if not use_dets and video.truth is None:
            what = "MOT truth" if self.source == "truth" else "a MOT detection file or MOT truth"
            raise DetectorError(f"{video.path} ({video.video_id}): the {name} detector needs {what} for this video "
                                f"(<slot>.det.txt or <slot>.gt.txt beside it, det/det.txt or gt/gt.txt in a MOTChallenge sequence, "
                                f"or a 'detections' or 'truth' column in the manifest); it has none")
        try:
            rows, frames = self._detection_rows(video) if use_dets else self._truth_rows(video)
        except (FileNotFoundError, ValueError) as e:
            raise DetectorError(f"{video.video_id}: {e}") from e
        order = np.argsort(frames, kind="stable")
        frames, rows = frames[order], rows[order]
        starts = np.flatnonzero(np.r_[True, frames[1:] != frames[:-1]]) if len(frames) else np.zeros(0, int)
        self._by_frame = {int(frames[s]): part for s, part in zip(starts, np.split(rows, starts[1:]))}

    def _detection_rows(self, video: VideoSource) -> tuple[np.ndarray, np.ndarray]:
        det = read_detections(video.detections)
        if self.min_score is not None:
            det = det[det["conf"].to_numpy() >= self.min_score]
        rows = np.column_stack([det[list(BOX_COLUMNS)].to_numpy(np.float64), det["conf"].to_numpy(np.float64)])
        return rows, det["frame"].to_numpy(np.int64) - 1  # MOT frames are 1-based

    def _truth_rows(self, video: VideoSource) -> tuple[np.ndarray, np.ndarray]:
        gt = read_truth(video.truth)
        vis = gt["visibility"].to_numpy(np.float64)
        gt = gt[considered(gt) & (vis >= self.min_visibility)]
        rows = np.column_stack([
            gt[list(BOX_COLUMNS)].to_numpy(np.float64),
            gt["visibility"].to_numpy(np.float64) if self.visibility_score else np.ones(len(gt)),
        ])
        return rows, gt["frame"].to_numpy(np.int64) - 1

    def detect(self, frames: Sequence[np.ndarray], indices: Sequence[int]) -> list[np.ndarray]:
        if self._by_frame is None:
            raise DetectorError(f"{self._name()}: detect() before start_video(video); the boxes come with the video")
        width, height = check_frames(frames, indices, self._name())
        out = []
        for i in indices:
            rows = self._by_frame.get(int(i))
            out.append(EMPTY.copy() if rows is None else detections(rows[:, :4], rows[:, 4], width, height))
        return out


@register_detector("truth")
def truth(*, min_visibility: float = 0.0, visibility_score: bool = True) -> FileDetector:
    """The former name of ``file``, with its former options: the video's detection file when it has
    one, else its truth (``source="auto"``); ``file`` also takes ``source`` and ``min_score``."""
    return FileDetector(min_visibility=min_visibility, visibility_score=visibility_score)


TruthDetector = FileDetector  # the former name of the class
