"""Tracking by feature matching within one video, built for datasets: one person per tracklet.

Per frame, detections are matched to the live tracks in two stages, as
ByteTrack does, with appearance as DeepSORT and BoT-SORT use it:

1. **Confident detections** (``score >= high_score``) against every live
   track, on ``cost = w * appearance + (1 - w) * (1 - IoU)``: appearance is
   the cosine distance between the detection's embedding and the track's
   appearance memory (an exponential moving average of its embeddings),
   scaled by ``max_appearance_distance``; motion is the overlap with the
   track's box predicted at constant velocity.
2. **Weak detections** (``low_score <= score < high_score``, typically people
   half hidden) against the tracks still unmatched, on overlap alone
   (``IoU >= low_min_iou``); they extend tracks but never start one and never
   update an appearance memory.

Impossible pairs are gated out before each Hungarian assignment
(``scipy.optimize.linear_sum_assignment``): a detection must overlap the
prediction (``min_iou``) or lie within a radius of it that grows with the
time the track has gone unseen (``gate_heights`` + ``gate_growth`` per
second, in track heights); its height must be within ``max_height_ratio`` of
the track's; and (stage 1) its appearance distance within
``max_appearance_distance``.  A pair costing more than ``max_cost`` stays
unmatched.

Time constants are in **seconds** and the tracker is given the video's real
frame rate (``fps``), so the same config serves 7 fps CCTV and 25 fps video:
a track is kept ``max_age`` seconds after it was last seen.  Frame indices may
skip (subsampled video).

Motion is a Kalman filter per track of the box's centre and size and their
velocities (the constant-velocity model of SORT, DeepSORT and ByteTrack,
with noise proportional to the box height), run in seconds: its noise
constants are DeepSORT's per-frame ones read at 25 frames per second, so a
gap of one frame at 7 fps is as uncertain as 3.6 frames at 25.  The
appearance memory is
not updated from a box largely covered by a box in front of it (lower bottom
edge = nearer the camera): such a crop holds the other person's colours.

Life cycle: an unmatched confident detection starts a *tentative* track;
``min_hits`` consecutive matches make it *confirmed* (a miss before that
deletes it); a confirmed track that misses a frame is *lost*; a lost track
is *ended* once unseen for more than ``max_age`` seconds or once its
prediction leaves the picture.

**Re-linking** (:func:`relink`, run by :meth:`Tracker.finish`): a person
hidden longer than ``max_age`` (a pillar, a crowd) comes back as a new track.
Before the tracks are filtered into tracklets, a track that ends is joined to
one that starts at most ``relink_gap`` seconds later where the two look
alike (mean embeddings of their ends within ``relink_distance``) and the
second starts where the first was heading; each end joins at most one start
(Hungarian), so a person becomes as few tracklets as possible.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from lsvid.boxes import iou_matrix
from lsvid_core.config import at_least, check, fraction, positive

TENTATIVE, CONFIRMED, LOST, ENDED = "tentative", "confirmed", "lost", "ended"

# Stands in for a gated pair: large enough that the assignment takes any real pair first,
# finite so that linear_sum_assignment never calls the matrix infeasible.
_GATED = 1e6


@dataclass(frozen=True)
class TrackerConfig:
    """Every knob of :class:`Tracker`.  Distances in ``gate_*`` are in heights of the track's box;
    times (``max_age``, ``gate_growth``, ``relink_gap``) in seconds of video.

    The defaults were chosen by a random search over the synthetic scenes of
    seeds 1-6 (the tracking tests use 7 and 8), at 25 fps and subsampled to
    6.25 fps, on mean IDF1 plus box purity, then checked on seeds 7-14, on
    seeds 31-32 (``benchmarks/tracking_quality.py``) and on the default
    ``motion`` detector's boxes (``relink_distance`` was lowered for both:
    0.15 -> 0.065; on the PETS clip 0.06 already loses relinks), and on the PETS clip with YOLOv8n boxes at its real 7 fps;
    the colour-texture embedder's distances set ``max_appearance_distance``,
    a learnt ReID embedder may want another."""

    max_age: float = 3.0  # seconds a lost track waits to be re-found (a person behind a pillar)
    min_hits: int = 3  # consecutive matches that confirm a track (a one-frame false positive never does)
    high_score: float = 0.5  # detections at least this confident match first and may start tracks
    low_score: float = 0.1  # weaker ones (down to this) only extend tracks, by overlap (stage 2)
    low_min_iou: float = 0.3  # the overlap a weak detection needs with a track's prediction
    appearance_weight: float = 0.6  # w in cost = w * appearance + (1 - w) * (1 - IoU); 0 = IoU tracker
    max_appearance_distance: float = 0.3  # cosine distance beyond which a pair is gated; also the appearance scale
    max_cost: float = 0.6  # pairs costing more stay unmatched
    min_iou: float = 0.1  # a pair overlapping the prediction this much passes the motion gate ...
    gate_heights: float = 0.2  # ... or one whose centre is this many track heights from the prediction,
    gate_growth: float = 1.0  # plus this many heights per second unseen beyond one frame
    max_height_ratio: float = 1.6  # detection and track heights differ at most by this factor
    memory_momentum: float = 0.95  # appearance memory = m * memory + (1 - m) * new embedding
    memory_overlap: float = 0.3  # no memory update from a box this much covered by boxes in front of it
    position_noise: float = 1 / 20  # Kalman process noise of the box, in heights per frame at 25 fps (DeepSORT's)
    velocity_noise: float = 1 / 160  # ... of its velocity
    measurement_noise: float = 0.1  # a detection's error, in heights
    cascade: bool = False  # stage 1 in two steps: tracks seen at the previous update before the lost ones
    relink_gap: float = 3.0  # seconds between a track's end and another's start that re-linking may bridge; 0: off
    relink_distance: float = 0.065  # the cosine distance of their end embeddings it allows (above, it joined twins and motion-detector crops)
    relink_heights: float = 1.0  # how far (track heights, plus gate_growth per second) the start may lie from the end's course

    def __post_init__(self) -> None:
        at_least(self, ("max_age", "gate_heights", "gate_growth", "relink_gap", "relink_heights"), 0)
        at_least(self, ("min_hits", "max_height_ratio"), 1)
        fraction(self, ("appearance_weight", "memory_momentum", "min_iou", "memory_overlap", "high_score", "low_score", "low_min_iou"))
        positive(self, ("max_appearance_distance", "max_cost", "relink_distance", "position_noise", "velocity_noise", "measurement_noise"))
        check(self.low_score <= self.high_score, "low_score", f"must not exceed high_score ({self.high_score}), got {self.low_score}")

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for the dataset's ``dataset.json``."""
        return asdict(self)


@dataclass(eq=False)  # numpy fields: == would be ambiguous, so identity
class Track:
    """A finished track: one entry per frame it was matched to a detection (none for frames it was lost),
    with the detector's box and score and the embedding of that detection.  ``track_id`` counts from 0 in
    the order tracks start, so the ids of a video's tracks are 0..K-1 (tentative tracks that never made it
    take no id)."""

    track_id: int
    frames: np.ndarray  # int64 (T,)
    boxes: np.ndarray  # float32 (T, 4) x, y, w, h
    scores: np.ndarray  # float32 (T,)
    feats: np.ndarray  # float32 (T, D)

    def __len__(self) -> int:
        return len(self.frames)


_REF_FPS = 25.0  # the frame rate the noise constants are given at


class _Kalman:
    """Constant-velocity Kalman filter of one box ``(cx, cy, w, h)`` and its velocity, time in seconds.

    Noise is proportional to the box height (DeepSORT's model); ``q_pos``,
    ``q_vel`` and ``r`` are the per-frame standard deviations at 25 fps, as
    fractions of the height."""

    _H = np.eye(4, 8)

    def __init__(self, box: np.ndarray, q_pos: float, q_vel: float, r: float) -> None:
        cx, cy, w, h = box[0] + box[2] / 2, box[1] + box[3] / 2, box[2], box[3]
        self.x = np.array([cx, cy, w, h, 0, 0, 0, 0], np.float64)
        self.q_pos, self.q_vel, self.r = q_pos, q_vel, r
        pos, vel = 2 * q_pos * h, 10 * q_vel * h * _REF_FPS
        self.P = np.diag([pos, pos, pos, pos, vel, vel, vel, vel]) ** 2

    def predicted(self, dt: float) -> np.ndarray:
        """``(cx, cy, w, h)`` after ``dt`` seconds, without changing the filter."""
        return self.x[:4] + self.x[4:] * dt

    def predict(self, dt: float) -> None:
        F = np.eye(8)
        F[:4, 4:] = dt * np.eye(4)
        h = max(self.x[3], 1.0)
        steps = max(dt * _REF_FPS, 1e-6)  # noise accrues per 25 fps frame elapsed
        q = np.r_[[self.q_pos * h] * 4, [self.q_vel * h * _REF_FPS] * 4] ** 2 * steps
        self.x = F @ self.x
        self.P = F @ self.P @ F.T + np.diag(q)

    def update(self, box: np.ndarray) -> None:
        z = np.array([box[0] + box[2] / 2, box[1] + box[3] / 2, box[2], box[3]], np.float64)
        R = np.eye(4) * (self.r * max(self.x[3], 1.0)) ** 2
        S = self._H @ self.P @ self._H.T + R
        K = np.linalg.solve(S, self._H @ self.P).T
        self.x = self.x + K @ (z - self._H @ self.x)
        self.P = (np.eye(8) - K @ self._H) @ self.P


@dataclass(eq=False)
class _LiveTrack:
    """A track while the tracker runs; its history grows in lists, frozen into :class:`Track` at the end."""

    kf: _Kalman  # the box's motion, at ``last_frame``
    memory: np.ndarray  # float32 (D,) unit appearance memory
    last_frame: int
    state: str = TENTATIVE
    hits: int = 1  # consecutive matches
    track_id: int = -1  # given on confirmation
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
    """Tracks people through one video by appearance and motion; see the module docstring.

    ``fps`` is the video's real frame rate: it turns the config's seconds into frames."""

    def __init__(self, config: TrackerConfig | None = None, frame_size: tuple[int, int] | None = None, fps: float = 25.0) -> None:
        if not (fps > 0 and np.isfinite(fps)):
            raise ValueError(f"fps must be positive, got {fps}")
        self.config = config or TrackerConfig()
        self.frame_size = frame_size  # (W, H); a lost track predicted outside it ends
        self.fps = float(fps)
        self._live: list[_LiveTrack] = []
        self._done: list[_LiveTrack] = []
        self._next_id = 0
        self._prev_frame: int | None = None
        self._dim: int | None = None
        self._finished = False

    @property
    def max_age_frames(self) -> float:
        return self.config.max_age * self.fps

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
        keep = boxes[:, 4] >= cfg.low_score
        boxes, feats = boxes[keep], feats[keep]
        strong = boxes[:, 4] >= cfg.high_score
        matches: list[tuple[int, int]] = []
        weak_matches: list[tuple[int, int]] = []
        if self._live and len(boxes):
            pred, gap = self._predict(frame_index)
            hi = np.flatnonzero(strong)
            if len(hi):
                cost = self._cost(pred, gap, boxes[hi], feats[hi])
                recent = np.array([t.last_frame == self._prev_frame for t in self._live])
                free = np.ones(len(hi), bool)
                stages = (recent, ~recent) if cfg.cascade else (np.ones(len(self._live), bool),)
                for rows in stages:
                    got = _assign(cost, np.flatnonzero(rows), np.flatnonzero(free), cfg.max_cost)
                    free[[d for _, d in got]] = False
                    matches += [(t, int(hi[d])) for t, d in got]
            lo = np.flatnonzero(~strong)
            rest = np.setdiff1d(np.arange(len(self._live)), [t for t, _ in matches])
            if len(lo) and len(rest):
                cost = self._weak_cost(pred, gap, boxes[lo])
                weak_matches = [(t, int(lo[d])) for t, d in _assign(cost, rest, np.arange(len(lo)), 1.0 - cfg.low_min_iou)]
        self._apply(frame_index, boxes, feats, strong, matches, weak_matches)
        self._prev_frame = frame_index

    def finish(self) -> list[Track]:
        """End every track and re-link broken ones (:func:`relink`); every confirmed track, by first
        frame, with ids 0..K-1 in that order."""
        self._finished = True
        self._done += [t for t in self._live if t.state != TENTATIVE]
        self._live = []
        dim = self._dim or 0
        tracks = [t.freeze(dim) for t in self._done]
        return relink(tracks, self.config, self.fps)

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
        return boxes[:, :5], feats

    def _end_stale(self, frame: int) -> None:
        """Lost tracks unseen too long, or predicted out of the picture, end here."""
        keep = []
        for t in self._live:
            if t.state == LOST and (frame - t.last_frame > self.max_age_frames + 1e-9 or self._left_view(t, frame)):
                t.state = ENDED
                self._done.append(t)
            else:
                keep.append(t)
        self._live = keep

    def _left_view(self, t: _LiveTrack, frame: int) -> bool:
        if self.frame_size is None or len(t.frames) < 2:
            return False
        W, H = self.frame_size
        cx, cy = t.kf.predicted((frame - t.last_frame) / self.fps)[:2]
        return not (0 <= cx < W and 0 <= cy < H)

    def _predict(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """Predicted ``x, y, w, h`` boxes of the live tracks at ``frame`` and the frames since each was seen."""
        gap = np.array([frame - t.last_frame for t in self._live], np.float64)
        b = np.stack([t.kf.predicted(g / self.fps) for t, g in zip(self._live, gap)])
        b[:, 2:] = np.maximum(b[:, 2:], 1.0)
        return np.concatenate([b[:, :2] - b[:, 2:] / 2, b[:, 2:]], 1), gap

    def _motion_gate(self, pred: np.ndarray, gap: np.ndarray, det: np.ndarray, iou: np.ndarray) -> np.ndarray:
        cfg = self.config
        dist = np.linalg.norm(_centres(pred)[:, None] - _centres(det)[None], axis=2)
        h = pred[:, 3:4]
        radius = h * (cfg.gate_heights + cfg.gate_growth * (gap[:, None] - 1) / self.fps)
        ratio = det[None, :, 3] / np.maximum(h, 1e-6)
        ok = (iou >= cfg.min_iou) | (dist <= radius)
        return ok & (ratio <= cfg.max_height_ratio) & (ratio * cfg.max_height_ratio >= 1)

    def _cost(self, pred: np.ndarray, gap: np.ndarray, boxes: np.ndarray, feats: np.ndarray) -> np.ndarray:
        """``(M, N)`` stage-1 cost of live tracks against confident detections, ``_GATED`` where impossible."""
        cfg = self.config
        det = boxes[:, :4]
        iou = iou_matrix(pred, det)
        memory = np.stack([t.memory for t in self._live])
        app = np.clip(1.0 - memory @ feats.T, 0.0, 2.0)
        ok = self._motion_gate(pred, gap, det, iou)
        w = cfg.appearance_weight
        if w > 0:
            ok &= app <= cfg.max_appearance_distance
        cost = w * (app / cfg.max_appearance_distance) + (1 - w) * (1 - iou)
        return np.where(ok, cost, _GATED)

    def _weak_cost(self, pred: np.ndarray, gap: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """``(M, N)`` stage-2 cost (``1 - IoU``) of live tracks against weak detections."""
        det = boxes[:, :4]
        iou = iou_matrix(pred, det)
        ok = self._motion_gate(pred, gap, det, iou) & (iou >= self.config.low_min_iou)
        return np.where(ok, 1.0 - iou, _GATED)

    def _apply(self, frame: int, boxes: np.ndarray, feats: np.ndarray, strong: np.ndarray,
               matches: list[tuple[int, int]], weak: list[tuple[int, int]]) -> None:
        cfg = self.config
        n = len(boxes)
        # A box partly hidden by someone in front holds their colours: match it, but keep it out of the memory.
        crowded = covered_fraction(boxes[:, :4]) > cfg.memory_overlap if n > 1 else np.zeros(n, bool)
        for ti, di in matches:
            self._extend(self._live[ti], frame, boxes[di], feats[di], remember=not crowded[di])
        for ti, di in weak:  # weak boxes are mostly half hidden people: they carry the track, not its look
            self._extend(self._live[ti], frame, boxes[di], feats[di], remember=False)
        matched_t = {ti for ti, _ in matches + weak}
        survivors = []
        for i, t in enumerate(self._live):
            if i not in matched_t:
                if t.state == TENTATIVE:
                    continue  # a miss before confirmation: a false positive, forgotten
                t.state, t.hits = LOST, 0
            survivors.append(t)
        matched_d = {di for _, di in matches + weak}
        for di in np.flatnonzero(strong):
            if di not in matched_d:
                kf = _Kalman(boxes[di, :4], cfg.position_noise, cfg.velocity_noise, cfg.measurement_noise)
                t = _LiveTrack(kf=kf, memory=feats[di].copy(), last_frame=frame)
                t.record(frame, boxes[di, :4].copy(), float(boxes[di, 4]), feats[di])
                self._confirm_if_due(t)
                survivors.append(t)
        self._live = survivors

    def _extend(self, t: _LiveTrack, frame: int, box: np.ndarray, feat: np.ndarray, *, remember: bool) -> None:
        cfg = self.config
        t.kf.predict((frame - t.last_frame) / self.fps)
        t.kf.update(box[:4])
        t.last_frame = frame
        if remember:
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


# ---------------------------------------------------------------------------------------------
# re-linking broken tracks


def _end_look(t: Track, head: bool, k: int = 8) -> np.ndarray:
    """Unit mean embedding of a track's first (``head``) or last ``k`` detections."""
    f = t.feats[:k] if head else t.feats[-k:]
    m = f.mean(0) if len(f) else np.zeros(t.feats.shape[1], np.float32)
    return m / max(float(np.linalg.norm(m)), 1e-12)


def _end_motion(t: Track, k: int = 8) -> tuple[np.ndarray, np.ndarray, float]:
    """Last centre, velocity (pixels per frame, a least-squares fit of the last ``k`` centres) and height."""
    f = t.frames[-k:].astype(np.float64)
    c = _centres(t.boxes[-k:].astype(np.float64))
    v = np.polyfit(f, c, 1)[0] if len(f) >= 2 and np.ptp(f) > 0 else np.zeros(2)
    return c[-1], v, float(t.boxes[-1, 3])


def _relink_cost(a: Track, b: Track, cfg: TrackerConfig, fps: float) -> float:
    gap = int(b.frames[0] - a.frames[-1])
    if gap <= 0 or gap > cfg.relink_gap * fps:
        return _GATED
    app = 1.0 - float(_end_look(a, head=False) @ _end_look(b, head=True))
    if app > cfg.relink_distance:
        return _GATED
    centre, v, h = _end_motion(a)
    hb = float(b.boxes[0, 3])
    if not (1 / cfg.max_height_ratio <= hb / max(h, 1e-6) <= cfg.max_height_ratio):
        return _GATED
    # where it was heading, but someone stopping behind a pillar is as likely: gate on the nearer of the two
    start = _centres(b.boxes[:1].astype(np.float64))[0]
    miss = min(np.linalg.norm(start - (centre + v * gap)), np.linalg.norm(start - centre))
    if miss > h * (cfg.relink_heights + cfg.gate_growth * gap / fps):
        return _GATED
    return app


def relink(tracks: list[Track], cfg: TrackerConfig, fps: float) -> list[Track]:
    """Join tracks broken by a long occlusion (see the module docstring);
    returns the tracks in order of their first frame with ids 0..K-1."""
    tracks = sorted(tracks, key=lambda t: (int(t.frames[0]), t.track_id))
    n = len(tracks)
    if cfg.relink_gap > 0 and n > 1:
        cost = np.array([[_relink_cost(a, b, cfg, fps) for b in tracks] for a in tracks]).reshape(n, n)
        nxt = {a: b for a, b in _assign(cost, np.arange(n), np.arange(n), cfg.relink_distance)}
        heads = sorted(set(range(n)) - set(nxt.values()))
        chains = []
        for h in heads:
            chain = [h]
            while chain[-1] in nxt:
                chain.append(nxt[chain[-1]])
            chains.append(chain)
        tracks = [_concat([tracks[i] for i in c]) for c in chains]
        tracks.sort(key=lambda t: int(t.frames[0]))
    for i, t in enumerate(tracks):
        t.track_id = i
    return tracks


def _concat(parts: list[Track]) -> Track:
    if len(parts) == 1:
        return parts[0]
    return Track(
        track_id=parts[0].track_id,
        frames=np.concatenate([p.frames for p in parts]),
        boxes=np.concatenate([p.boxes for p in parts]),
        scores=np.concatenate([p.scores for p in parts]),
        feats=np.concatenate([p.feats for p in parts]),
    )
