"""Walks through one camera's view, frame by frame: where the feet are, how big the
person is, the gait phase, the pose, and the box around the drawn figure.

A :class:`Visit` is the plan (a polyline on the ground, a speed, maybe a
pause); :func:`build_track` turns it into per-frame arrays for the frames the
person is in view.  Everything is computed for all frames of a visit at once,
so both the planner (which needs to know when people are in view) and the
renderer (which draws them) pay almost nothing per frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import body
from .camera import CameraSpec
from .identity import Gait, Identity

RAMP_S = 0.4  # seconds to slow down into a pause or get going again
MIN_IN_VIEW = 0.12  # share of a person's box inside the frame for them to count as in view


@dataclass(frozen=True)
class Visit:
    """One pass of one person through one camera's view.

    ``path`` is the walk on the ground, ``((x, z), ...)`` in metres, starting
    and ending out of view; ``t_start`` is when it begins, in seconds from the
    start of the slot's video (negative: already walking when it starts).
    The person stops for ``pause_s`` seconds at ``pause_at`` (a fraction of
    the path; -1 for no stop).  ``pair_with`` is the companion walking
    alongside (-1: alone).  ``step_hz``/``step_length_m`` are this visit's
    cadence and step (a companion adapts to keep pace).
    """

    person_id: int
    camera_id: int
    slot: int
    order: int
    t_start: float
    path: tuple[tuple[float, float], ...]
    step_hz: float
    step_length_m: float
    pause_at: float = -1.0
    pause_s: float = 0.0
    phase0: float = 0.0
    pair_with: int = -1
    enter: str = ""
    exit: str = ""

    @property
    def speed_mps(self) -> float:
        return self.step_hz * self.step_length_m

    @property
    def length_m(self) -> float:
        p = np.asarray(self.path, dtype=np.float64)
        return float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum())

    @property
    def duration_s(self) -> float:
        """Seconds from the start of the path to its end, stops included."""
        extra = self.pause_s + RAMP_S if self.pause_at >= 0 else 0.0
        return self.length_m / self.speed_mps + extra


@dataclass
class Track:
    """A visit as drawn: per in-view frame (``frames``, 0-based), image-space points and
    pixel sizes of the figure, its depth, the view it is seen in, and its box."""

    visit: Visit
    identity: Identity
    frames: np.ndarray
    depth: np.ndarray
    foot: np.ndarray
    height_px: np.ndarray
    views: np.ndarray
    programs: list[list[body.Op]]
    points: np.ndarray
    sizes: np.ndarray
    box: np.ndarray  # (n, 4) x0, y0, x1, y1 of the drawn figure, unclipped, pixel edges

    def __len__(self) -> int:
        return len(self.frames)

    def clipped_boxes(self, width: int, height: int) -> np.ndarray:
        """MOT boxes ``(left, top, width, height)`` in whole pixels, clipped to the frame."""
        x0 = np.clip(np.floor(self.box[:, 0]), 0, width)
        y0 = np.clip(np.floor(self.box[:, 1]), 0, height)
        x1 = np.clip(np.ceil(self.box[:, 2]), 0, width)
        y1 = np.clip(np.ceil(self.box[:, 3]), 0, height)
        return np.stack([x0, y0, x1 - x0, y1 - y0], axis=1).astype(np.int64)


def kinematics(visit: Visit, fps: float, num_frames: int) -> dict[str, np.ndarray] | None:
    """Per frame of the slot's video during the visit: position on the ground, walking
    amplitude, gait phase and heading.  ``None`` when the visit misses the video."""
    dur = visit.duration_s
    f0 = max(0, int(np.ceil(visit.t_start * fps)))
    f1 = min(num_frames - 1, int(np.floor((visit.t_start + dur) * fps)))
    if f1 < f0:
        return None
    # Integrate from the start of the walk (possibly before the video starts) so that
    # the distance, the phase and the pause do not depend on where the video cuts in.
    g0 = int(np.ceil(visit.t_start * fps))
    frames_all = np.arange(g0, f1 + 1)
    tau = frames_all / fps - visit.t_start
    amp = np.ones_like(tau)
    v = visit.speed_mps
    L = visit.length_m
    if visit.pause_at >= 0:
        t1 = visit.pause_at * L / v - RAMP_S / 2
        t2 = t1 + RAMP_S + visit.pause_s
        amp = np.clip(np.maximum((t1 + RAMP_S - tau) / RAMP_S, (tau - t2) / RAMP_S), 0.0, 1.0)
    # Distance and gait phase grow with the walking amplitude over time (trapezoids between
    # frames), from the first frame's offset into the walk.
    walked = np.concatenate([[0.0], np.cumsum((amp[1:] + amp[:-1]) / 2 / fps)]) + amp[0] * tau[0]
    dist = np.clip(v * walked, 0, L)
    phase = visit.phase0 + visit.step_hz / 2 * walked
    pts = np.asarray(visit.path, dtype=np.float64)
    seg = np.diff(pts, axis=0)
    seg_len = np.linalg.norm(seg, axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg_len)])
    k = np.clip(np.searchsorted(cum, dist, side="right") - 1, 0, len(seg) - 1)
    frac = (dist - cum[k]) / np.maximum(seg_len[k], 1e-9)
    xz = pts[k] + seg[k] * frac[:, None]
    heading = seg[k] / np.maximum(seg_len[k], 1e-9)[:, None]
    keep = frames_all >= f0
    return {"frames": frames_all[keep], "xz": xz[keep], "amp": amp[keep], "phase": phase[keep], "heading": heading[keep]}


VIEWS = ("side", "front", "back")


def build_track(visit: Visit, person: Identity, spec: CameraSpec, fps: float, num_frames: int) -> Track | None:
    """The frames of ``visit`` in which the person is (at least partly) in view, with their
    pose and box; ``None`` when they never are."""
    kin = kinematics(visit, fps, num_frames)
    if kin is None:
        return None
    x, z = kin["xz"][:, 0], kin["xz"][:, 1]
    u, v = spec.project(x, z)
    h_px = spec.person_px(z, person.appearance.height_m)
    gait = Gait(visit.step_hz, visit.step_length_m, person.gait.arm_swing_deg)
    n = len(z)
    pts = np.zeros((n, len(body.POINTS), 2))
    sizes = np.zeros((n, len(body.SIZES)))
    view_idx = np.zeros(n, np.int8)
    programs = [body.program(person.appearance, view) for view in VIEWS]
    box = np.zeros((n, 4))
    # Poses depend on the heading; a polyline has one heading per segment.
    headings, inverse = np.unique(np.round(kin["heading"], 6), axis=0, return_inverse=True)
    for j, (c, s) in enumerate(headings):
        sel = np.flatnonzero(inverse.ravel() == j)
        p_local, s_local = body.pose(kin["phase"][sel], kin["amp"][sel], float(c), float(s), person.appearance, gait)
        hh = h_px[sel][:, None]
        p_img = np.empty_like(p_local)
        p_img[..., 0] = u[sel][:, None] + p_local[..., 0] * hh
        p_img[..., 1] = v[sel][:, None] - p_local[..., 1] * hh
        p_img = np.round(p_img * 16) / 16  # the renderer's fixed-point positions
        pts[sel] = p_img
        sizes[sel] = s_local * hh
        vi = VIEWS.index(body.view_of(float(c), float(s)))
        view_idx[sel] = vi
        box[sel] = body.extents(programs[vi], p_img, sizes[sel])
    # OpenCV fills the pixels whose centres lie within about half a pixel of a shape; as
    # pixel-edge coordinates (pixel i spans [i, i + 1)) that is this box.
    box[:, :2] = np.ceil(box[:, :2] - 0.5)
    box[:, 2:] = np.floor(box[:, 2:] + 0.5) + 1
    full = (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])
    cw = np.clip(box[:, 2], 0, spec.width) - np.clip(box[:, 0], 0, spec.width)
    ch = np.clip(box[:, 3], 0, spec.height) - np.clip(box[:, 1], 0, spec.height)
    in_view = (cw >= 2) & (ch >= 2) & (cw * ch >= MIN_IN_VIEW * full)
    if not in_view.any():
        return None
    keep = np.flatnonzero(in_view)
    return Track(
        visit=visit,
        identity=person,
        frames=kin["frames"][keep],
        depth=z[keep],
        foot=np.stack([u, v], axis=1)[keep],
        height_px=h_px[keep],
        views=view_idx[keep],
        programs=programs,
        points=pts[keep],
        sizes=sizes[keep],
        box=box[keep],
    )
