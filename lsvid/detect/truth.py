"""``truth``: the boxes of a video's MOT file, to curate from existing annotations."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lsvid.footage import VideoSource
from lsvid.mot import read_mot

from . import register_detector
from .base import Detector, DetectorError, check_frames
from .boxes import EMPTY, detections


@register_detector("truth")
class TruthDetector(Detector):
    """Boxes from the video's MOT ground truth (``VideoSource.truth``; ``<slot>.gt.txt`` beside it).

    Options: ``min_visibility`` drops boxes less visible than that (0..1);
    ``visibility_score`` makes the visibility the score (else 1).  Boxes whose
    MOT consider flag is 0 (nobody could see the person) are always dropped.
    """

    batch_size = 64

    def __init__(self, *, min_visibility: float = 0.0, visibility_score: bool = True):
        if not 0.0 <= float(min_visibility) <= 1.0:
            raise DetectorError(f"truth: min_visibility={min_visibility}; expected a share in [0, 1]")
        self.min_visibility = float(min_visibility)
        self.visibility_score = bool(visibility_score)
        self._by_frame: dict[int, np.ndarray] | None = None

    def start_video(self, video: VideoSource) -> None:
        if video.truth is None:
            raise DetectorError(f"{video.path} ({video.video_id}): the truth detector needs MOT truth for this video "
                                f"(<slot>.gt.txt beside it, or a 'truth' column in the manifest); it has none")
        try:
            gt = read_mot(video.truth)
        except (FileNotFoundError, ValueError) as e:
            raise DetectorError(f"{video.video_id}: {e}") from e
        vis = gt["visibility"].to_numpy(np.float64)
        gt = gt[(gt["conf"].to_numpy() != 0) & (vis >= self.min_visibility)]
        rows = np.column_stack([
            gt[["bb_left", "bb_top", "bb_width", "bb_height"]].to_numpy(np.float64),
            gt["visibility"].to_numpy(np.float64) if self.visibility_score else np.ones(len(gt)),
        ])
        frames = gt["frame"].to_numpy(np.int64) - 1  # MOT frames are 1-based
        order = np.argsort(frames, kind="stable")
        frames, rows = frames[order], rows[order]
        starts = np.flatnonzero(np.r_[True, frames[1:] != frames[:-1]]) if len(frames) else np.zeros(0, int)
        self._by_frame = {int(frames[s]): part for s, part in zip(starts, np.split(rows, starts[1:]))}

    def detect(self, frames: Sequence[np.ndarray], indices: Sequence[int]) -> list[np.ndarray]:
        if self._by_frame is None:
            raise DetectorError("truth: detect() before start_video(video); the truth comes with the video")
        width, height = check_frames(frames, indices, "truth")
        out = []
        for i in indices:
            rows = self._by_frame.get(int(i))
            out.append(EMPTY.copy() if rows is None else detections(rows[:, :4], rows[:, 4], width, height))
        return out
