"""Where people can stand and how tall they are there: ground-plane geometry for the ``motion`` detector.

A level pinhole camera ``camera_height_m`` above flat ground images the ground
seen at depth ``z`` at row ``v = horizon_y + f camera_height_m / z``, and a
person ``h`` metres tall standing there is ``f h / z`` pixels tall.  The
focal length cancels: a person whose feet are at row ``v`` is

    h (v - horizon_y) / camera_height_m

pixels tall, whatever the column.  Two numbers per camera (its horizon row and
height) thus give every person's pixel height from their foot row, which lets
:func:`fit_people` explain a foreground mask as person-sized boxes: merged
groups are split into as many people as their shape holds, blobs of the wrong
size for where they stand are dropped, and a person partly hidden behind
another (feet higher in the picture, head sticking out above) is still found.

The geometry is that of footage whose camera is known: ``lsvid synth`` writes
it into ``footage.json`` (``cameras[].horizon_y``, ``cameras[].height_m``), a
calibrated camera can be described by a JSON file of that shape.  Real footage
without it is handled by the blob rules of :mod:`lsvid.detect.motion`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lsvid.footage import VideoSource

from .base import DetectorError

GEOMETRY_FILE = "footage.json"


@dataclass(frozen=True)
class GroundGeometry:
    """A level camera over flat ground, in pixels of a frame ``frame_height`` rows tall.

    ``person_height_m`` is the height of a box drawn around a standing person
    (head to soles: a little over the median body height).
    """

    horizon_y: float
    camera_height_m: float
    frame_height: int
    person_height_m: float = 1.75

    def person_height(self, foot_row: np.ndarray | float) -> np.ndarray:
        """Pixel height of a person whose feet are at ``foot_row`` (0 or less above the horizon)."""
        v = np.asarray(foot_row, dtype=np.float64)
        return np.maximum(v - self.horizon_y, 0.0) * (self.person_height_m / self.camera_height_m)

    def scaled(self, factor: float) -> GroundGeometry:
        """The same camera in frames ``factor`` times as tall (rows scale, the camera does not)."""
        return GroundGeometry(self.horizon_y * factor, self.camera_height_m, round(self.frame_height * factor), self.person_height_m)


def _camera_entry(doc: object, camera: str, where: Path, strict: bool) -> dict | None:
    cams = doc.get("cameras") if isinstance(doc, dict) else None
    if not isinstance(cams, list):
        if not strict:
            return None  # some other tool's footage.json: no geometry in it
        raise DetectorError(f"{where}: no 'cameras' list; expected footage.json's shape "
                            "({'size': [W, H], 'cameras': [{'name', 'horizon_y', 'height_m'}, ...]})")
    return next((c for c in cams if isinstance(c, dict) and str(c.get("name")) == camera), None)


def read_geometry(path: str | Path, camera: str, *, person_height_m: float = 1.75, strict: bool = True) -> GroundGeometry | None:
    """The geometry of ``camera`` in a footage.json-shaped file; ``None`` if the file does not list it.

    A listed camera lacking ``horizon_y``/``height_m`` or a ``size`` is an error naming the file, as
    is (``strict``) a file with no ``cameras`` list.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DetectorError(f"{path}: cannot read camera geometry ({e})") from None
    cam = _camera_entry(doc, camera, path, strict)
    if cam is None:
        return None
    try:
        height = int(cam.get("size", doc.get("size"))[1])
        geo = GroundGeometry(float(cam["horizon_y"]), float(cam["height_m"]), height, float(person_height_m))
    except (KeyError, TypeError, ValueError, IndexError):
        raise DetectorError(f"{path}: camera {camera!r} needs numeric 'horizon_y' and 'height_m' and the file a "
                            "'size' [width, height]") from None
    if geo.camera_height_m <= 0 or geo.frame_height <= 0:
        raise DetectorError(f"{path}: camera {camera!r} has height_m={geo.camera_height_m}; expected > 0")
    return geo


def find_geometry(video: VideoSource, source: str, *, person_height_m: float = 1.75) -> GroundGeometry | None:
    """The camera geometry of ``video`` as ``source`` says: ``"off"`` none; ``"auto"`` the
    footage.json of the footage folder (beside the video's camera folder) when there is one and
    lists the camera; anything else is a path to a file of that shape, which must exist."""
    if source == "off":
        return None
    if source == "auto":
        for folder in (video.path.parent, video.path.parent.parent):
            if (folder / GEOMETRY_FILE).is_file():
                return read_geometry(folder / GEOMETRY_FILE, video.camera, person_height_m=person_height_m, strict=False)
        return None
    if not Path(source).is_file():
        raise DetectorError(f"motion: geometry={source!r} is not a file; expected 'auto', 'off' or a footage.json-shaped file")
    return read_geometry(source, video.camera, person_height_m=person_height_m)


# ---------------------------------------------------------------------------- fitting people to a mask

#: Template widths (share of the person's height) and height factors tried at every foot position:
#: narrow enough that one box never straddles two people side by side; heights vary by +-9 %.
ASPECTS = (0.3,)
SCALES = (0.92, 1.0, 1.08)
#: Template parts as (left, top, right, bottom) in units of the person's height, x from the foot
#: point's column, y up from the feet: a head and a torso, which two people side by side never share.
HEAD = (-0.07, 1.0, 0.07, 0.87)
TORSO = (-0.1, 0.84, 0.1, 0.5)
#: Where a person's outline is background: just above the head and beside it (left, right).  A box
#: whose "head" lies on someone's body, or between two heads, finds foreground there.
ABOVE_HEAD = ((-0.07, 1.07, 0.07, 1.0), (-0.2, 0.99, -0.09, 0.9), (0.09, 0.99, 0.2, 0.9))


#: The share of new foreground in a box that scores 1; 0.4 scores 0.5.
FULL_SHARE = 0.8


@dataclass(frozen=True)
class FitParams:
    """How :func:`fit_people` weighs a candidate box: the score of a box part is its foreground that
    no accepted box explains yet less ``bg_cost`` per background pixel; a box's score is its whole
    part's plus ``head_weight`` and ``torso_weight`` times those parts'."""

    bg_cost: float = 0.9
    head_weight: float = 5.0
    torso_weight: float = 1.5
    outline_weight: float = 3.0  # cost of a foreground pixel where the outline wants background
    min_new: float = 0.22  # share of a box that must be foreground nobody else explains yet
    min_height: float = 12.0  # pixels at the mask's scale
    step: int = 2  # foot positions tried every this many pixels
    foot_slack: float = 0.5  # feet may lie this share of a height below a blob (hidden by an occluder)
    max_people: int = 8  # per blob


def _rects(u: np.ndarray, v: np.ndarray, h: np.ndarray, part: tuple, shape: tuple[int, int]) -> np.ndarray:
    """Clipped int ``(l, t, r, b)`` rectangles of a template part for feet at ``(u, v)``, people ``h`` tall;
    the part's entries are in heights and may be arrays (one per candidate)."""
    left, top, right, bot = part
    rect = np.stack(np.broadcast_arrays(u + left * h, v - top * h, u + right * h, v - bot * h), axis=1).round()
    rect[:, [0, 2]] = rect[:, [0, 2]].clip(0, shape[1])
    rect[:, [1, 3]] = rect[:, [1, 3]].clip(0, shape[0])
    return rect.astype(np.int64)


def _rect_sums(integral: np.ndarray, rects: np.ndarray) -> np.ndarray:
    """Sums of an image under int rectangles ``(l, t, r, b)`` (clipped), from its integral image."""
    x0, y0, x1, y1 = rects.T
    return (integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]).astype(np.float64)


@dataclass
class Candidates:
    """Person boxes that could explain one blob: every foot position near it, template width and height."""

    u: np.ndarray
    v: np.ndarray
    h: np.ndarray
    parts: list[np.ndarray]  # whole box, head, torso: (N, 4) int rectangles each
    penalty: np.ndarray  # (N,) the background cost of all parts, weighted: fixed while fitting one frame
    area: np.ndarray  # (N,) whole box, clipped

    @classmethod
    def around(cls, blob: tuple[int, int, int, int], geo: GroundGeometry, fg_integral: np.ndarray, p: FitParams) -> Candidates:
        """Candidates for the blob ``(x0, y0, x1, y1)`` (mask scale, exclusive ends): feet from the blob's
        top plus a minimal person down to ``foot_slack`` of a height below it, columns across it."""
        shape = (fg_integral.shape[0] - 1, fg_integral.shape[1] - 1)
        x0, y0, x1, y1 = blob
        h_low = float(geo.person_height(y1))
        vs = np.arange(y0 + p.min_height, min(y1 + p.foot_slack * h_low, shape[0] + 0.3 * h_low) + 1, p.step)
        us = np.arange(x0, x1 + 1, p.step)
        v, u, a, s = (g.ravel() for g in np.meshgrid(vs, us, np.asarray(ASPECTS), np.asarray(SCALES), indexing="ij"))
        h = s * geo.person_height(v)
        keep = h >= p.min_height
        u, v, h, a = u[keep], v[keep], h[keep], a[keep]
        parts = [_rects(u, v, h, (-a / 2, 1.0, a / 2, 0.0), shape), _rects(u, v, h, HEAD, shape), _rects(u, v, h, TORSO, shape)]
        penalty = np.zeros(len(u))
        for rect, weight in zip(parts, (1.0, p.head_weight, p.torso_weight)):
            area = ((rect[:, 2] - rect[:, 0]) * (rect[:, 3] - rect[:, 1])).astype(np.float64)
            penalty += weight * p.bg_cost * (area - _rect_sums(fg_integral, rect))
        for part in ABOVE_HEAD:  # any foreground there counts, whoever explains it
            penalty += p.outline_weight * _rect_sums(fg_integral, _rects(u, v, h, part, shape))
        box = parts[0]
        return cls(u, v, h, parts, penalty, ((box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])).astype(np.float64))

    def __len__(self) -> int:
        return len(self.u)

    def scores(self, new_integral: np.ndarray, p: FitParams) -> tuple[np.ndarray, np.ndarray]:
        """Score of every candidate and its share of new (unexplained) foreground."""
        new = _rect_sums(new_integral, self.parts[0])
        score = new + p.head_weight * _rect_sums(new_integral, self.parts[1]) + p.torso_weight * _rect_sums(new_integral, self.parts[2])
        return score - self.penalty, new / np.maximum(self.area, 1.0)


def fit_people(mask: np.ndarray, geo: GroundGeometry, p: FitParams | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Person boxes ``(N, 4)`` ``x, y, w, h`` and scores explaining a foreground ``mask`` (``geo`` at its scale).

    Greedy, blob by blob (largest first): the best-scoring candidate box is
    accepted while its score is positive and enough of it is new foreground;
    its pixels then count as explained, so a second box on the same person
    scores only its background, while a person partly behind another still
    scores their own visible pixels.  Accepted boxes are then fitted to the
    pixels each owns (:func:`refine`).
    """
    p = p or FitParams()
    fg = (mask > 0).astype(np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    fg_integral = cv2.integral(fg)
    new = fg.copy()
    feet: list[tuple[float, float, float, float]] = []  # u, v, h, score
    for j in np.argsort(-stats[1:, cv2.CC_STAT_AREA]) + 1:
        x, y, w, h, area = (int(s) for s in stats[j])
        h_low = float(geo.person_height(y + h))
        if area < 0.25 * ASPECTS[0] * (p.min_height ** 2) or h_low < p.min_height or new[y:y + h, x:x + w].sum() < 0.1 * area:
            continue  # speckle, a blob above the horizon, or one explained already by a box fitted to a neighbour
        cand = Candidates.around((x, y, x + w, y + h), geo, fg_integral, p)
        for _ in range(p.max_people):
            if not len(cand):
                break
            score, share = cand.scores(cv2.integral(new), p)
            score[share < p.min_new] = -np.inf
            best = int(np.argmax(score))
            if not score[best] > 0:
                break
            x0, y0, x1, y1 = cand.parts[0][best]
            new[y0:y1, x0:x1] = 0
            feet.append((float(cand.u[best]), float(cand.v[best]), float(cand.h[best]), float(share[best])))
    boxes, share = refine(fg, np.array(feet, np.float64).reshape(-1, 4), geo)
    # Scores for a tracker that starts tracks at 0.5: a person fully in view leaves 0.45-0.8 of the
    # template new foreground, one mostly behind someone else or an occluder less.
    return boxes, np.clip(share / FULL_SHARE, 0.0, 1.0)


def _owners(fg: np.ndarray, feet: np.ndarray, reach: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns and owning person of the foreground pixels near the fitted people: each pixel goes
    to the person whose centre column is nearest (in their heights) among those whose rows it is in
    and who are within ``reach`` heights of it; the nearer person (lower feet) wins ties."""
    u, v, h = feet[:, 0], feet[:, 1], feet[:, 2]
    H, W = fg.shape
    x0, x1 = int(max(0, np.floor((u - reach * h).min()))), int(min(W, np.ceil((u + reach * h).max()) + 1))
    y0, y1 = int(max(0, np.floor((v - 1.1 * h).min()))), int(min(H, np.ceil(v.max()) + 1))
    ys, xs = np.nonzero(fg[y0:y1, x0:x1])
    ys, xs = ys + y0, xs + x0
    d = np.abs(xs[:, None] - u[None]) / h[None] - 1e-6 * v[None]  # (pixels, people)
    inside = (ys[:, None] >= v[None] - 1.1 * h[None]) & (ys[:, None] < v[None] + 0.05 * h[None]) & (d <= reach)
    d[~inside] = np.inf
    owner = np.argmin(d, axis=1) if len(feet) else np.zeros(len(ys), np.int64)
    ok = np.isfinite(d[np.arange(len(ys)), owner]) if len(ys) else np.zeros(0, bool)
    return ys[ok], xs[ok], owner[ok]


#: How far (in heights) a box may reach from the fitted centre to each side, alone and towards a
#: fitted neighbour (whose pixels, and those of anyone missed between, are not this person's); and
#: how far the pixels' bottom may lie from where the geometry puts the feet to be believed.
SIDE_CAP, SIDE_CAP_NEAR, NEAR, BOTTOM_TOL = 0.4, 0.25, 0.9, 0.3
HEAD_TOL = 0.25
#: Box widths (share of the height) kept to: a wider span holds someone else's pixels or a shadow,
#: a narrower one a person cut by an occluder; even a person 0.22 or 0.7 as wide still overlaps
#: such a box by IoU >= 0.5 where the rows are right.
WIDTH_RANGE = (0.35, 0.55)


def _person_box(ys: np.ndarray, xs: np.ndarray, foot: np.ndarray, geo: GroundGeometry,
                caps: tuple[float, float]) -> tuple[float, float, float, float]:
    """``(left, top, right, bottom)`` of one fitted person ``(u, v, h)`` from the pixels ``ys, xs`` they
    own, reaching at most ``caps`` (left, right; in heights) from the centre."""
    u, v, h = (float(a) for a in foot[:3])
    k = geo.person_height_m / geo.camera_height_m
    head = ys[np.abs(xs - u) <= 0.12 * h]
    top_px = float(head.min()) if len(head) else np.inf
    if abs(top_px - (v - h)) <= HEAD_TOL * h:
        # The head is the most reliable end (a shadow or a nearer person blurs the feet): the feet
        # lie where a head at this row has them, unless the pixels' own bottom agrees closely.
        top = top_px
        bottom = (top - k * geo.horizon_y) / (1 - k)
        bottom_px = float(ys.max() + 1)
        if abs(bottom_px - bottom) <= BOTTOM_TOL * h:
            bottom = bottom_px
    else:
        bottom_px = float(ys.max() + 1)
        bottom = bottom_px if abs(bottom_px - v) <= BOTTOM_TOL * h else v
        top = bottom - float(geo.person_height(bottom))
    hh = bottom - top
    body = (ys >= top) & (ys < bottom - 0.12 * hh)
    if body.sum() < 3:
        return u - 0.15 * h, top, u + 0.15 * h, bottom
    left, right = float(xs[body].min()), float(xs[body].max() + 1)
    # Feet in a stride reach a little beyond the legs above them; a shadow at the feet reaches further.
    low = (ys >= bottom - 0.12 * hh) & (ys < bottom + 2)
    if low.any():
        left = max(min(left, float(xs[low].min())), left - 0.12 * hh)
        right = min(max(right, float(xs[low].max() + 1)), right + 0.12 * hh)
    left, right = max(left, u - caps[0] * hh), min(right, u + caps[1] * hh)
    # The pixels' span is a person's width only where nobody else's pixels are mixed in: keep it
    # within the widths people have (a share of their height), around the span's centre.
    mid = (left + right) / 2
    half = float(np.clip((right - left) / 2, WIDTH_RANGE[0] / 2 * hh, WIDTH_RANGE[1] / 2 * hh))
    return mid - half, top, mid + half, bottom


def _side_caps(feet: np.ndarray, j: int) -> tuple[float, float]:
    """How far person ``j``'s box may reach left and right: less towards a fitted neighbour."""
    u, v, h = feet[:, 0], feet[:, 1], feet[:, 2]
    rows_overlap = (v - h < v[j]) & (v > v[j] - h[j])
    rows_overlap[j] = False
    dx = (u - u[j]) / h[j]
    near_left = (rows_overlap & (dx < 0) & (dx > -NEAR)).any()
    near_right = (rows_overlap & (dx >= 0) & (dx < NEAR)).any()
    return (SIDE_CAP_NEAR if near_left else SIDE_CAP), (SIDE_CAP_NEAR if near_right else SIDE_CAP)


def refine(fg: np.ndarray, feet: np.ndarray, geo: GroundGeometry, *, reach: float = 0.42) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``x, y, w, h`` for fitted people (rows ``u, v, h, score``), from the pixels each owns
    (:func:`_person_box`): columns span the person's own pixels (an arm or a stride reaches beyond
    the template), rows the head and feet where they agree with the geometry; an end hidden by an
    occluder or a nearer person is put where the geometry says, from the end in view."""
    if not len(feet):
        return np.zeros((0, 4)), np.zeros(0)
    ys, xs, owner = _owners(fg, feet, reach)
    out = []
    for j, foot in enumerate(feet):
        mine = owner == j
        if mine.sum() >= 3:
            left, top, right, bottom = _person_box(ys[mine], xs[mine], foot, geo, _side_caps(feet, j))
        else:
            u, v, h = foot[:3]
            left, top, right, bottom = u - 0.15 * h, v - h, u + 0.15 * h, v
        out.append((left, top, right - left, bottom - top))
    return np.array(out, np.float64), feet[:, 3].copy()
