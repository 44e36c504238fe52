"""Tracking by feature matching within one video.

Per frame, every live track is compared with every detection at once:

* appearance: cosine distance between the detection's embedding and the
  track's appearance memory (an exponential moving average of the embeddings
  it was matched to, re-normalised), scaled by ``max_appearance_distance``
  to [0, 1];
* motion: ``1 - IoU`` between the detection and the track's box predicted at
  constant velocity;

``cost = w * appearance + (1 - w) * motion`` with ``w = appearance_weight``.
Impossible pairs are gated out before the assignment: a detection must
overlap the prediction (``min_iou``) or lie within a radius of it that grows
with the frames the track has gone unseen (``gate_heights`` +
``gate_growth`` per frame, in track heights); its height must be within
``max_height_ratio`` of the track's; and its appearance distance within
``max_appearance_distance``.  The Hungarian algorithm
(``scipy.optimize.linear_sum_assignment``) then runs once on the gated
matrix of all live tracks; a pair costing more than ``max_cost`` stays
unmatched.  ``cascade=True`` instead matches the tracks seen at the previous
update first and the lost ones on what is left, as DeepSORT does; on the
synthetic test scenes, where detections drop out for a frame now and then,
it lets a track whose own detection is missing take a neighbour's, and
gave two to three times the identity switches, so it is off by default.

Motion is an alpha-beta filter per track (a steady-state Kalman filter of
a constant-velocity box centre, with smoothed size), so a jittery detector's
boxes do not throw the prediction about; no filter library is needed for
four numbers per track.  The appearance memory is not updated from a box
largely covered by a box in front of it (lower bottom edge = nearer the
camera): such a crop holds the other person's colours.

Life cycle: an unmatched detection starts a *tentative* track; ``min_hits``
consecutive matches make it *confirmed* (a miss before that deletes it); a
confirmed track that misses a frame is *lost*; a lost track is *ended* once
unseen for more than ``max_age`` frames or once its prediction leaves the
picture.  Frame indices may skip (subsampled video): ages and gates count
video frames, ``min_hits`` counts updates.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from lsvid.boxes import iou_matrix
from lsvid_core.config import at_least, fraction, positive

TENTATIVE, CONFIRMED, LOST, ENDED = "tentative", "confirmed", "lost", "ended"

# Stands in for a gated pair: large enough that the assignment takes any real pair first,
# finite so that linear_sum_assignment never calls the matrix infeasible.
_GATED = 1e6


@dataclass(frozen=True)
class TrackerConfig:
    """Every knob of :class:`Tracker`; the defaults suit 25 fps pedestrian footage.

    Distances in ``gate_*`` are in heights of the track's box, ages in video
    frames (not updates), so the same config serves subsampled video.
    """

    max_age: int = 30  # frames a lost track waits to be re-found (1.2 s at 25 fps: a person behind a pillar)
    min_hits: int = 3  # consecutive matches that confirm a track (a one-frame false positive never does)
    appearance_weight: float = 0.5  # w in cost = w * appearance + (1 - w) * (1 - IoU); 0 = IoU tracker
    max_appearance_distance: float = 0.3  # cosine distance beyond which a pair is gated; also the appearance scale
    max_cost: float = 0.7  # pairs costing more stay unmatched
    min_iou: float = 0.1  # a pair overlapping the prediction this much passes the motion gate ...
    gate_heights: float = 0.3  # ... or one whose centre is this many track heights from the prediction,
    gate_growth: float = 0.04  # plus this many heights per further frame unseen
    max_height_ratio: float = 1.6  # detection and track heights differ at most by this factor
    memory_momentum: float = 0.9  # appearance memory = m * memory + (1 - m) * new embedding
    memory_overlap: float = 0.3  # no memory update from a box this much covered by boxes in front of it
    position_smoothing: float = 0.4  # alpha of the alpha-beta filter: share of a detection's position and size taken
    velocity_smoothing: float = 0.05  # beta: share of the position surprise taken into the velocity
    init_score: float = 0.0  # lowest detection score that may start a track
    cascade: bool = False  # match the tracks seen at the previous update before the lost ones

    def __post_init__(self) -> None:
        at_least(self, ("max_age", "gate_heights", "gate_growth"), 0)
        at_least(self, ("min_hits", "max_height_ratio"), 1)
        fraction(self, ("appearance_weight", "memory_momentum", "min_iou", "memory_overlap"))
        fraction(self, ("position_smoothing", "velocity_smoothing"), open_low=True)
        positive(self, ("max_appearance_distance", "max_cost"))

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for the dataset's ``dataset.json``."""
        return asdict(self)


@dataclass(eq=False)  # numpy fields: == would be ambiguous, so identity
class Track:
    """A finished track: one entry per frame it was matched to a detection (none for frames it was lost),
    with the detector's box and score and the embedding of that detection.  ``track_id`` counts from 0 in
    the order tracks were confirmed, so the ids of a video's tracks are 0..K-1 (tentative tracks that
    never made it take no id)."""

    track_id: int
    frames: np.ndarray  # int64 (T,)
    boxes: np.ndarray  # float32 (T, 4) x, y, w, h
    scores: np.ndarray  # float32 (T,)
    feats: np.ndarray  # float32 (T, D)

    def __len__(self) -> int:
        return len(self.frames)


@dataclass(eq=False)
class _LiveTrack:
    """A track while the tracker runs; its history grows in lists, frozen into :class:`Track` at the end."""

    centre: np.ndarray  # float64 (2,) filtered box centre at ``last_frame``
    size: np.ndarray  # float64 (2,) filtered width, height
    memory: np.ndarray  # float32 (D,) unit appearance memory
    last_frame: int
    state: str = TENTATIVE
    hits: int = 1  # consecutive matches
    track_id: int = -1  # given on confirmation
    velocity: np.ndarray | None = None  # float64 (2,) centre pixels per frame; None until two sightings
    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    feats: list[np.ndarray] = field(default_factory=list)

    def record(self, frame: int, box: np.ndarray, score: float, feat: np.ndarray) -> None:
        self.frames.append(frame)
        self.boxes.append(box)
        self.scores.append(score)
        self.feats.append(feat)

    def freeze(self, dim: int) -> Track:
        return Track(
            track_id=self.track_id,
            frames=np.asarray(self.frames, np.int64),
            boxes=np.asarray(self.boxes, np.float32).reshape(-1, 4),
            scores=np.asarray(self.scores, np.float32),
            feats=np.asarray(self.feats, np.float32).reshape(-1, dim),
        )


def covered_fraction(boxes: np.ndarray) -> np.ndarray:
    """``(N,)`` share of each ``x, y, w, h`` box covered by the boxes in front of it (their overlaps summed,
    at most 1).  On a camera looking down at a floor, the box whose bottom edge is lower stands nearer,
    so it is the one in front."""
    x0, y0 = boxes[:, 0], boxes[:, 1]
    x1, y1 = x0 + boxes[:, 2], y0 + boxes[:, 3]
    iw = np.clip(np.minimum(x1[:, None], x1[None]) - np.maximum(x0[:, None], x0[None]), 0, None)
    ih = np.clip(np.minimum(y1[:, None], y1[None]) - np.maximum(y0[:, None], y0[None]), 0, None)
    in_front = y1[None, :] > y1[:, None]
    area = np.maximum(boxes[:, 2] * boxes[:, 3], 1e-12)
    return np.minimum(1.0, (iw * ih * in_front).sum(1) / area)


def _centres(b: np.ndarray) -> np.ndarray:
    return b[:, :2] + b[:, 2:4] / 2


class Tracker:
    """Tracks people through one video by appearance and motion; see the module docstring."""

    def __init__(self, config: TrackerConfig | None = None, frame_size: tuple[int, int] | None = None) -> None:
        self.config = config or TrackerConfig()
        self.frame_size = frame_size  # (W, H); a lost track predicted outside it ends
        self._live: list[_LiveTrack] = []
        self._done: list[_LiveTrack] = []
        self._next_id = 0
        self._prev_frame: int | None = None
        self._dim: int | None = None
        self._finished = False

    # -- public -----------------------------------------------------------

    def update(self, frame_index: int, boxes: np.ndarray, feats: np.ndarray) -> None:
        """Match the detections of ``frame_index`` (``(N, 5)`` x, y, w, h, score and ``(N, D)``
        unit embeddings) to the live tracks; frames must come in increasing order."""
        if self._finished:
            raise RuntimeError("Tracker.update after finish(): start a new Tracker for a new video")
        frame_index = int(frame_index)
        boxes, feats = self._check(frame_index, boxes, feats)
        self._end_stale(frame_index)
        cfg = self.config
        n = len(boxes)
        matches: list[tuple[int, int]] = []
        if self._live and n:
            cost = self._cost(frame_index, boxes, feats)
            recent = np.array([t.last_frame == self._prev_frame for t in self._live])
            free = np.ones(n, bool)
            stages = (recent, ~recent) if cfg.cascade else (np.ones(len(self._live), bool),)
            for rows in stages:
                matches += _assign(cost, np.flatnonzero(rows), np.flatnonzero(free), cfg.max_cost)
                free[[d for _, d in matches]] = False
        self._apply(frame_index, boxes, feats, matches)
        self._prev_frame = frame_index

    def finish(self) -> list[Track]:
        """End every track; every track ever confirmed, by first frame then id."""
        self._finished = True
        self._done += [t for t in self._live if t.state != TENTATIVE]
        self._live = []
        dim = self._dim or 0
        out = [t.freeze(dim) for t in self._done]
        return sorted(out, key=lambda t: (int(t.frames[0]), t.track_id))

    @property
    def num_live(self) -> int:
        """Tracks still live (tentative, confirmed or lost)."""
        return len(self._live)

    # -- steps ------------------------------------------------------------

    def _check(self, frame: int, boxes: np.ndarray, feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._prev_frame is not None and frame <= self._prev_frame:
            raise ValueError(f"frame {frame} after frame {self._prev_frame}: frames must come in increasing order")
        boxes = np.asarray(boxes, np.float64)
        feats = np.asarray(feats, np.float32)
        if boxes.size == 0:
            boxes = np.zeros((0, 5))
            feats = feats.reshape(0, feats.shape[-1] if feats.ndim == 2 else 0)
        if boxes.ndim != 2 or boxes.shape[1] < 4:
            raise ValueError(f"frame {frame}: boxes must be (N, 5) x, y, w, h, score; got {boxes.shape}")
        if boxes.shape[1] == 4:
            boxes = np.concatenate([boxes, np.ones((len(boxes), 1))], 1)
        if feats.ndim != 2 or len(feats) != len(boxes):
            raise ValueError(f"frame {frame}: {len(boxes)} boxes but feats of shape {feats.shape}")
        if not (np.isfinite(boxes).all() and np.isfinite(feats).all()):
            raise ValueError(f"frame {frame}: a box or an embedding holds NaN or infinity")
        if len(boxes):
            if self._dim is None:
                self._dim = feats.shape[1]
            elif feats.shape[1] != self._dim:
                raise ValueError(f"frame {frame}: embeddings of dimension {feats.shape[1]}, earlier ones {self._dim}")
        return boxes, feats

    def _end_stale(self, frame: int) -> None:
        """Lost tracks unseen too long, or predicted out of the picture, end here."""
        keep = []
        for t in self._live:
            if t.state == LOST and (frame - t.last_frame > self.config.max_age or self._left_view(t, frame)):
                t.state = ENDED
                self._done.append(t)
            else:
                keep.append(t)
        self._live = keep

    def _left_view(self, t: _LiveTrack, frame: int) -> bool:
        if self.frame_size is None or t.velocity is None:
            return False
        W, H = self.frame_size
        cx, cy = t.centre + t.velocity * (frame - t.last_frame)
        return not (0 <= cx < W and 0 <= cy < H)

    def _predict(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """Constant-velocity boxes of the live tracks at ``frame`` and the frames since each was seen."""
        live = self._live
        centre = np.stack([t.centre for t in live])
        size = np.stack([t.size for t in live])
        vel = np.stack([t.velocity if t.velocity is not None else np.zeros(2) for t in live])
        gap = np.array([frame - t.last_frame for t in live], np.float64)
        centre = centre + vel * gap[:, None]
        return np.concatenate([centre - size / 2, size], 1), gap

    def _cost(self, frame: int, boxes: np.ndarray, feats: np.ndarray) -> np.ndarray:
        """``(M, N)`` matching cost of live tracks against detections, ``_GATED`` where impossible."""
        cfg = self.config
        pred, gap = self._predict(frame)
        det = boxes[:, :4]
        iou = iou_matrix(pred, det)
        memory = np.stack([t.memory for t in self._live])
        app = np.clip(1.0 - memory @ feats.T, 0.0, 2.0)
        dist = np.linalg.norm(_centres(pred)[:, None] - _centres(det)[None], axis=2)
        h = pred[:, 3:4]
        radius = h * (cfg.gate_heights + cfg.gate_growth * (gap[:, None] - 1))
        ratio = det[None, :, 3] / np.maximum(h, 1e-6)
        ok = (iou >= cfg.min_iou) | (dist <= radius)
        ok &= (ratio <= cfg.max_height_ratio) & (ratio * cfg.max_height_ratio >= 1)
        w = cfg.appearance_weight
        if w > 0:
            ok &= app <= cfg.max_appearance_distance
        cost = w * (app / cfg.max_appearance_distance) + (1 - w) * (1 - iou)
        return np.where(ok, cost, _GATED)

    def _apply(self, frame: int, boxes: np.ndarray, feats: np.ndarray, matches: list[tuple[int, int]]) -> None:
        cfg = self.config
        n = len(boxes)
        # A box partly hidden by someone in front holds their colours: match it, but keep it out of the memory.
        crowded = covered_fraction(boxes[:, :4]) > cfg.memory_overlap if n > 1 else np.zeros(n, bool)
        matched_t = {ti for ti, _ in matches}
        for ti, di in matches:
            self._extend(self._live[ti], frame, boxes[di], feats[di], crowded[di])
        survivors = []
        for i, t in enumerate(self._live):
            if i not in matched_t:
                if t.state == TENTATIVE:
                    continue  # a miss before confirmation: a false positive, forgotten
                t.state, t.hits = LOST, 0
            survivors.append(t)
        matched_d = {di for _, di in matches}
        for di in range(n):
            if di not in matched_d and boxes[di, 4] >= cfg.init_score:
                b = boxes[di, :4]
                t = _LiveTrack(centre=b[:2] + b[2:] / 2, size=b[2:].copy(), memory=feats[di].copy(), last_frame=frame)
                t.record(frame, boxes[di, :4].copy(), float(boxes[di, 4]), feats[di])
                self._confirm_if_due(t)
                survivors.append(t)
        self._live = survivors

    def _extend(self, t: _LiveTrack, frame: int, box: np.ndarray, feat: np.ndarray, crowded: bool) -> None:
        cfg = self.config
        gap = frame - t.last_frame
        z = box[:2] + box[2:4] / 2
        if t.velocity is None:  # second sighting: the first velocity is the displacement
            t.velocity = (z - t.centre) / gap
            t.centre = z
        else:  # alpha-beta filter: a steady-state Kalman filter of a constant-velocity box
            pred = t.centre + t.velocity * gap
            surprise = z - pred
            t.centre = pred + cfg.position_smoothing * surprise
            t.velocity = t.velocity + cfg.velocity_smoothing * surprise / gap
        t.size = t.size + cfg.position_smoothing * (box[2:4] - t.size)
        t.last_frame = frame
        if not crowded:
            m = cfg.memory_momentum * t.memory + (1 - cfg.memory_momentum) * feat
            t.memory = (m / max(float(np.linalg.norm(m)), 1e-12)).astype(np.float32)
        t.hits += 1
        if t.state == LOST:
            t.state = CONFIRMED
        t.record(frame, box[:4].copy(), float(box[4]), feat)
        self._confirm_if_due(t)

    def _confirm_if_due(self, t: _LiveTrack) -> None:
        if t.state == TENTATIVE and t.hits >= self.config.min_hits:
            t.state = CONFIRMED
            t.track_id = self._next_id
            self._next_id += 1


def _assign(cost: np.ndarray, rows: np.ndarray, cols: np.ndarray, max_cost: float) -> list[tuple[int, int]]:
    """Hungarian assignment of ``rows`` to ``cols`` of ``cost``; pairs above ``max_cost`` (gated ones included) dropped."""
    if len(rows) == 0 or len(cols) == 0:
        return []
    sub = cost[np.ix_(rows, cols)]
    # Rows and columns with no admissible pair cannot be matched: leave them out of the problem.
    good = sub <= max_cost
    r_keep, c_keep = good.any(1), good.any(0)
    if not r_keep.any():
        return []
    sub = sub[np.ix_(r_keep, c_keep)]
    rows, cols = rows[r_keep], cols[c_keep]
    ri, ci = linear_sum_assignment(np.where(sub <= max_cost, sub, _GATED))
    return [(int(rows[r]), int(cols[c])) for r, c in zip(ri, ci) if sub[r, c] <= max_cost]
