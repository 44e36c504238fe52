"""The articulated figure: joint positions at a gait phase, and the parts drawn from them.

Everything here is in body units: x to the image's right, y up, the ground
under the feet at y = 0 and the top of the head near y = 1; the renderer
scales by the person's pixel height and places the feet.  Poses are computed
for every frame of a walk at once (arrays over frames), so drawing a frame is
only a walk through a short list of drawing operations.

The gait is a simple pendulum walk: hips swing by an angle set by the step
length, knees flex in early swing, arms swing opposite to the legs, the body
dips when the legs are spread (its height follows the legs, the lowest foot
stays on the ground) and leans a little into the walk.  The walking direction
sets the view: ``c`` is its share across the image (signed, + to the right)
and ``s`` its share in depth (+ away from the camera).  Side views draw a far
and a near leg and arm; front and back views draw them side by side, with the
face shown only from the front.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .identity import Appearance, Gait

# Proportions, in body heights.
ANKLE_H = 0.04
THIGH = 0.245
SHIN = 0.24
HIP_H = ANKLE_H + THIGH + SHIN
SHOULDER_H = 0.815
HEAD_H = 0.925
UPPER_ARM = 0.185
FOREARM = 0.15
FOOT = 0.075

POINTS = (
    "hip_a knee_a ankle_a toe_a hip_b knee_b ankle_b toe_b "
    "sh_a elbow_a wrist_a sh_b elbow_b wrist_b head hair face "
    "t_sl t_sr t_hr t_hl "
    "st0l st0r st1l st1r st2l st2r vs0t vs0b vs1t vs1b "
    "in0 in1 in2 in3 logo0 logo1 logo2 logo3 "
    "bag0 bag1 bag2 bag3 strap0 strap1 strap2 strap3 "
    "skirt0 skirt1 skirt2 skirt3 hat brim0 brim1 longhair feet"
).split()
P = {name: i for i, name in enumerate(POINTS)}

SIZES = (
    "thigh shin foot uarm farm hand head_ax head_ay hair_ax hair_ay face_ax face_ay "
    "stripe strap hat_ax hat_ay brim lh_ax lh_ay shadow_ax shadow_ay"
).split()
S = {name: i for i, name in enumerate(SIZES)}

# Colour slots a drawing operation refers to; the renderer fills them per frame.
COLOURS = "skin skin_far hair top top_far top_alt bottom bottom_far leg leg_far shoes hat bag".split()
C = {name: i for i, name in enumerate(COLOURS)}


@dataclass(frozen=True)
class Op:
    """One drawing primitive of the figure.

    ``kind`` is ``line`` (points a-b, thickness ``size``), ``circle`` (centre
    a, radius ``size``), ``ellipse`` (centre a, axes ``size``/``size2``, arc
    ``arc``), ``poly`` (points ``pts``, convex).  ``mask`` says whether it
    belongs to the person's silhouette (textures lie inside the torso and
    are skipped when drawing masks).
    """

    kind: str
    colour: int
    a: int = -1
    b: int = -1
    size: int = -1
    size2: int = -1
    pts: tuple[int, ...] = ()
    arc: tuple[int, int] = (0, 360)
    mask: bool = True


def view_of(c: float, s: float) -> str:
    """``side`` when the walk is mostly across the image, else ``front`` (towards) or ``back``."""
    if abs(c) >= 0.55:
        return "side"
    return "front" if s < 0 else "back"


@dataclass(frozen=True)
class _View:
    """How one walking direction shows on screen, and the quantities every part of the figure shares."""

    n: int
    c: float
    s: float
    b: float  # build
    ac: float
    as_: float
    fx: float  # which way the figure faces across the image

    def to_screen(self, fwd: np.ndarray, up: np.ndarray, lat: float | np.ndarray) -> np.ndarray:
        # Forward motion shows across the image by c; towards the camera it shows as a drop.
        return np.stack([fwd * self.c + lat, up + fwd * self.s * 0.35], axis=-1)


def pose(
    phase: np.ndarray,
    amp: np.ndarray,
    c: float,
    s: float,
    appearance: Appearance,
    gait: Gait,
) -> tuple[np.ndarray, np.ndarray]:
    """Points ``(n, len(POINTS), 2)`` and sizes ``(n, len(SIZES))`` of the figure, in body units.

    ``phase`` is the gait cycle (1.0 = two steps) per frame, ``amp`` how far
    into walking the person is (0 standing, 1 striding), ``(c, s)`` the
    walking direction (see the module docstring).
    """
    phase = np.asarray(phase, dtype=np.float64)
    amp = np.asarray(amp, dtype=np.float64)
    v = _View(phase.shape[0], c, s, appearance.build, abs(c), abs(s), np.sign(c) if c != 0 else 1.0)
    w = 2 * np.pi * phase
    pts = np.zeros((v.n, len(POINTS), 2))
    hip_y = _leg_points(pts, v, w, amp, appearance, gait)
    drop = HIP_H - hip_y  # how far the body has dipped below standing height
    lean = 0.025 * amp * v.fx * v.ac
    sh_half = (0.075 + 0.05 * v.as_) * v.b
    hip_half = (0.07 + 0.025 * v.as_) * v.b
    sh_y = SHOULDER_H - drop
    torso_bottom = hip_y - 0.02
    pts[:, P["t_sl"]] = np.stack([lean - sh_half, sh_y], -1)
    pts[:, P["t_sr"]] = np.stack([lean + sh_half, sh_y], -1)
    pts[:, P["t_hr"]] = np.stack([np.full(v.n, hip_half), torso_bottom], -1)
    pts[:, P["t_hl"]] = np.stack([np.full(v.n, -hip_half), torso_bottom], -1)
    _arm_points(pts, v, w, np.deg2rad(gait.arm_swing_deg) * amp, lean, sh_half, sh_y)
    _head_points(pts, v, np.stack([1.3 * lean + 0.012 * v.fx * v.ac, HEAD_H - drop], -1))
    _torso_texture(pts, v)
    _bag_points(pts, appearance.bag, v.fx, v.ac, sh_half, hip_half, sh_y, hip_y)
    _skirt_points(pts, v, hip_half, hip_y)
    return pts, _sizes(v, appearance)


def _leg_points(pts: np.ndarray, v: _View, w: np.ndarray, amp: np.ndarray, appearance: Appearance, gait: Gait) -> np.ndarray:
    """Both legs' points; returns the hip height, which rides on the lower foot."""
    leg_m = (THIGH + SHIN) * appearance.height_m
    hip_amp = 0.92 * np.arcsin(np.clip(gait.step_length_m / (2 * leg_m), 0, 0.9)) * amp
    knee_amp = np.deg2rad(48.0) * (hip_amp / np.deg2rad(25.0))
    hip_lat = 0.08 * v.b * (0.25 + 0.75 * v.as_)
    legs = {}
    for side, off, lat in (("a", 0.0, -hip_lat), ("b", np.pi, hip_lat)):
        theta = hip_amp * np.sin(w + off)
        knee = knee_amp * np.maximum(0.0, np.cos(w + off + 2 * np.pi * 0.12)) ** 2 + np.deg2rad(6) * amp
        kf, ku = THIGH * np.sin(theta), -THIGH * np.cos(theta)
        af, au = kf + SHIN * np.sin(theta - knee), ku - SHIN * np.cos(theta - knee)
        legs[side] = (kf, ku, af, au, lat)
    # The body rides on the lower foot: spread legs lower the hips (the gait's bob).
    lowest = np.minimum(legs["a"][3], legs["b"][3])
    hip_y = ANKLE_H - lowest
    for side, (kf, ku, af, au, lat) in legs.items():
        zero = np.zeros(v.n)
        pts[:, P["hip_" + side]] = v.to_screen(zero, hip_y, lat)
        pts[:, P["knee_" + side]] = v.to_screen(kf, hip_y + ku, lat)
        pts[:, P["ankle_" + side]] = v.to_screen(af, hip_y + au, lat)
        pts[:, P["toe_" + side]] = v.to_screen(af + FOOT, np.maximum(hip_y + au - 0.02, 0.012), lat)
    return hip_y


def _arm_points(pts: np.ndarray, v: _View, w: np.ndarray, arm_amp: np.ndarray, lean: np.ndarray, sh_half: float, sh_y: np.ndarray) -> None:
    arm_lat = (sh_half - 0.022 * v.b) * (0.25 + 0.75 * v.as_) + 0.012 * v.as_
    for side, sign, lat in (("a", -1.0, -arm_lat), ("b", 1.0, arm_lat)):
        alpha = sign * arm_amp * np.sin(w)  # arm a swings opposite to leg a
        elbow = np.deg2rad(12) + 0.9 * np.maximum(0.0, alpha)
        ef, eu = UPPER_ARM * np.sin(alpha), -UPPER_ARM * np.cos(alpha)
        wf, wu = ef + FOREARM * np.sin(alpha + elbow), eu - FOREARM * np.cos(alpha + elbow)
        shoulder = np.stack([lean + lat, sh_y - 0.015], -1)
        pts[:, P["sh_" + side]] = shoulder
        pts[:, P["elbow_" + side]] = shoulder + v.to_screen(ef, eu, 0.0)
        pts[:, P["wrist_" + side]] = shoulder + v.to_screen(wf, wu, 0.0)


def _head_points(pts: np.ndarray, v: _View, head: np.ndarray) -> None:
    fx, ac = v.fx, v.ac
    pts[:, P["head"]] = head
    pts[:, P["feet"]] = 0.0
    if ac >= 0.55:  # side: hair at the back of the head, face at the front
        pts[:, P["hair"]] = head + [-0.012 * fx, 0.008]
        pts[:, P["face"]] = head + [0.01 * fx, -0.006]
    else:
        pts[:, P["hair"]] = head + [0.0, 0.012 if v.s < 0 else 0.0]
        pts[:, P["face"]] = head + [0.0, -0.009]
    pts[:, P["longhair"]] = head + [-0.012 * fx * ac, -0.075]
    pts[:, P["hat"]] = head + [0.0, 0.02]
    pts[:, P["brim0"]] = head + [0.02 * fx * ac, 0.02]
    pts[:, P["brim1"]] = head + [(0.02 + 0.05 * ac) * fx, 0.018]


def _torso_texture(pts: np.ndarray, v: _View) -> None:
    """Stripes, jacket opening and logo, from the torso's four corners."""
    # Texture lines, inset from the torso edges so their round caps stay inside.
    inset = 0.016
    for k, f in enumerate((0.3, 0.52, 0.74)):
        left = pts[:, P["t_sl"]] * (1 - f) + pts[:, P["t_hl"]] * f
        right = pts[:, P["t_sr"]] * (1 - f) + pts[:, P["t_hr"]] * f
        pts[:, P[f"st{k}l"]] = left + [inset, 0]
        pts[:, P[f"st{k}r"]] = right - [inset, 0]
    for k, f in enumerate((0.35, 0.65)):
        top = pts[:, P["t_sl"]] * (1 - f) + pts[:, P["t_sr"]] * f
        bottom = pts[:, P["t_hl"]] * (1 - f) + pts[:, P["t_hr"]] * f
        pts[:, P[f"vs{k}t"]] = top - [0, inset]
        pts[:, P[f"vs{k}b"]] = bottom + [0, inset]
    mid_top = (pts[:, P["t_sl"]] + pts[:, P["t_sr"]]) / 2
    mid_bot = (pts[:, P["t_hl"]] + pts[:, P["t_hr"]]) / 2
    fx, b = v.fx, v.b
    if v.ac >= 0.55:  # open jacket seen from the side: a strip along the chest
        front_top = pts[:, P["t_sr"]] if fx > 0 else pts[:, P["t_sl"]]
        front_bot = pts[:, P["t_hr"]] if fx > 0 else pts[:, P["t_hl"]]
        pts[:, P["in0"]] = front_top
        pts[:, P["in1"]] = front_top - [0.035 * fx, 0]
        pts[:, P["in2"]] = front_bot - [0.03 * fx, 0]
        pts[:, P["in3"]] = front_bot
    else:
        pts[:, P["in0"]] = mid_top + [-0.035 * b, 0]
        pts[:, P["in1"]] = mid_top + [0.035 * b, 0]
        pts[:, P["in2"]] = mid_bot + [0.028 * b, 0]
        pts[:, P["in3"]] = mid_bot + [-0.028 * b, 0]
    logo_c = mid_top * 0.62 + mid_bot * 0.38 - [0, 0.04]
    lw, lh = (0.075, 0.07) if v.s > 0 else (0.045, 0.04)
    for k, (dx, dy) in enumerate(((-1, 1), (1, 1), (1, -1), (-1, -1))):
        pts[:, P[f"logo{k}"]] = logo_c + [dx * lw / 2, dy * lh / 2]


def _skirt_points(pts: np.ndarray, v: _View, hip_half: float, hip_y: np.ndarray) -> None:
    knees_x = pts[:, [P["knee_a"], P["knee_b"]], 0]
    skirt_y = np.minimum(pts[:, P["knee_a"], 1], pts[:, P["knee_b"], 1]) + 0.035
    spread = 0.035 * v.b
    pts[:, P["skirt0"]] = np.stack([np.full(v.n, -hip_half), hip_y + 0.03], -1)
    pts[:, P["skirt1"]] = np.stack([np.full(v.n, hip_half), hip_y + 0.03], -1)
    pts[:, P["skirt2"]] = np.stack([np.maximum(knees_x.max(1) + spread, hip_half + 0.02), skirt_y], -1)
    pts[:, P["skirt3"]] = np.stack([np.minimum(knees_x.min(1) - spread, -hip_half - 0.02), skirt_y], -1)


def _sizes(v: _View, appearance: Appearance) -> np.ndarray:
    b, ac = v.b, v.ac
    sizes = np.zeros((v.n, len(SIZES)))
    sizes[:, S["thigh"]] = 0.088 * b
    sizes[:, S["shin"]] = 0.064 * b
    sizes[:, S["foot"]] = 0.042
    sizes[:, S["uarm"]] = 0.056 * b
    sizes[:, S["farm"]] = 0.045 * b
    sizes[:, S["hand"]] = 0.026
    head_w = 0.05 + 0.006 * ac
    sizes[:, S["head_ax"]], sizes[:, S["head_ay"]] = head_w, 0.066
    sizes[:, S["hair_ax"]], sizes[:, S["hair_ay"]] = head_w + 0.004, 0.068
    sizes[:, S["face_ax"]], sizes[:, S["face_ay"]] = head_w - 0.008, 0.057
    sizes[:, S["stripe"]] = 0.022
    sizes[:, S["strap"]] = 0.016
    sizes[:, S["hat_ax"]] = head_w + 0.008
    sizes[:, S["hat_ay"]] = 0.05 if appearance.hat == "cap" else 0.062
    sizes[:, S["brim"]] = 0.02
    sizes[:, S["lh_ax"]], sizes[:, S["lh_ay"]] = head_w + 0.006, 0.085
    sizes[:, S["shadow_ax"]] = 0.16 + 0.1 * ac
    sizes[:, S["shadow_ay"]] = 0.035
    return sizes


def _bag_points(pts: np.ndarray, bag: str, fx: float, ac: float, sh_half: float, hip_half: float,
                sh_y: np.ndarray, hip_y: np.ndarray) -> None:
    """Corner points of the bag and its straps for this view (unused points stay at 0)."""
    n = pts.shape[0]

    def put(names: list[str], xy: list[tuple[np.ndarray | float, np.ndarray | float]]) -> None:
        for name, (x, y) in zip(names, xy):
            pts[:, P[name]] = np.stack([np.broadcast_to(x, (n,)), np.broadcast_to(y, (n,))], -1)

    corners = ["bag0", "bag1", "bag2", "bag3"]
    top, low = sh_y - 0.015, sh_y - 0.26
    if bag == "backpack":
        if ac >= 0.55:
            back = -fx * (sh_half - 0.01)
            out = back - fx * 0.085
            put(corners, [(back, top), (out, top - 0.02), (out, low), (back, low)])
        else:
            put(corners, [(-0.085, top), (0.085, top), (0.08, low), (-0.08, low)])
            put(["strap0", "strap1", "strap2", "strap3"],
                [(-0.6 * sh_half, sh_y), (-0.55 * sh_half, sh_y - 0.2), (0.6 * sh_half, sh_y), (0.55 * sh_half, sh_y - 0.2)])
    elif bag == "shoulder":
        side = 1.0 if ac < 0.55 else -fx * 0.3
        bx = side * (hip_half + 0.035)
        put(corners, [(bx - 0.05, hip_y + 0.04), (bx + 0.05, hip_y + 0.04), (bx + 0.05, hip_y - 0.05), (bx - 0.05, hip_y - 0.05)])
        put(["strap0", "strap1"], [(-side * sh_half * 0.7, sh_y), (bx, hip_y + 0.04)])
    elif bag == "handbag":
        wrist = pts[:, P["wrist_b"]]
        put(corners, [(wrist[:, 0] - 0.04, wrist[:, 1] - 0.005), (wrist[:, 0] + 0.04, wrist[:, 1] - 0.005),
                      (wrist[:, 0] + 0.035, wrist[:, 1] - 0.075), (wrist[:, 0] - 0.035, wrist[:, 1] - 0.075)])


def _leg(side: str, far: bool, app: Appearance) -> list[Op]:
    f = "_far" if far else ""
    thigh = C["leg" + f] if app.bottom_kind == "skirt" else C["bottom" + f]
    shin = C["bottom" + f] if app.bottom_kind == "trousers" else C["leg" + f]
    return [
        Op("line", thigh, P["hip_" + side], P["knee_" + side], S["thigh"]),
        Op("line", shin, P["knee_" + side], P["ankle_" + side], S["shin"]),
        Op("line", C["shoes"], P["ankle_" + side], P["toe_" + side], S["foot"]),
    ]


def _arm(side: str, far: bool, app: Appearance) -> list[Op]:
    f = "_far" if far else ""
    fore = C["top" + f] if app.long_sleeves else C["skin" + f]
    return [
        Op("line", C["top" + f], P["sh_" + side], P["elbow_" + side], S["uarm"]),
        Op("line", fore, P["elbow_" + side], P["wrist_" + side], S["farm"]),
        Op("circle", C["skin" + f], P["wrist_" + side], size=S["hand"]),
    ]


def _quad(colour: str, names: str, mask: bool = True) -> Op:
    return Op("poly", C[colour], pts=tuple(P[n] for n in names.split()), mask=mask)


def _torso(app: Appearance, view: str) -> list[Op]:
    ops = [_quad("top", "t_sl t_sr t_hr t_hl")]
    tex = app.top_texture
    stripes = [Op("line", C["top_alt"], P[f"st{k}l"], P[f"st{k}r"], S["stripe"], mask=False) for k in range(3)]
    if tex == "stripes":
        ops += stripes
    elif tex == "checks":
        ops += stripes + [Op("line", C["top_alt"], P[f"vs{k}t"], P[f"vs{k}b"], S["stripe"], mask=False) for k in range(2)]
    elif tex == "open_jacket" and view != "back":
        ops.append(_quad("top_alt", "in0 in1 in2 in3", mask=False))
    elif tex == "logo" and view != "side":
        ops.append(_quad("top_alt", "logo0 logo1 logo2 logo3", mask=False))
    return ops


def _head(app: Appearance, view: str) -> list[Op]:
    ops = [Op("ellipse", C["hair"], P["hair"], size=S["hair_ax"], size2=S["hair_ay"])]
    if view != "back":
        ops.append(Op("ellipse", C["skin"], P["face"], size=S["face_ax"], size2=S["face_ay"], mask=False))
    if app.hat != "none":
        ops.append(Op("ellipse", C["hat"], P["hat"], size=S["hat_ax"], size2=S["hat_ay"], arc=(180, 360)))
        if app.hat == "cap":
            ops.append(Op("line", C["hat"], P["brim0"], P["brim1"], S["brim"]))
    return ops


def _bag(app: Appearance, view: str, phase: str) -> list[Op]:
    """Bag parts drawn at ``phase`` 'behind' (before the torso) or 'over' (after it)."""
    bag = app.bag
    body = _quad("bag", "bag0 bag1 bag2 bag3")
    if bag == "backpack":
        if view == "side":
            return [body] if phase == "behind" else []
        if view == "back":
            return [body] if phase == "over" else []
        return [Op("line", C["bag"], P["strap0"], P["strap1"], S["strap"], mask=False),
                Op("line", C["bag"], P["strap2"], P["strap3"], S["strap"], mask=False)] if phase == "over" else []
    if bag == "shoulder" and phase == "over":
        return [Op("line", C["bag"], P["strap0"], P["strap1"], S["strap"], mask=False), body]
    if bag == "handbag" and phase == "hand":
        return [body]
    return []


def program(app: Appearance, view: str) -> list[Op]:
    """The figure's drawing operations, back to front, for one view (``side``/``front``/``back``)."""
    long_hair = [Op("ellipse", C["hair"], P["longhair"], size=S["lh_ax"], size2=S["lh_ay"])] if app.long_hair else []
    skirt = [_quad("bottom", "skirt0 skirt1 skirt2 skirt3")] if app.bottom_kind == "skirt" else []
    if view == "side":
        ops = _leg("a", True, app) + _arm("a", True, app) + _bag(app, view, "behind") + long_hair
        ops += _leg("b", False, app) + skirt + _torso(app, view) + _bag(app, view, "over") + _head(app, view)
        ops += _arm("b", False, app) + _bag(app, view, "hand")
    elif view == "front":
        ops = _leg("a", False, app) + _leg("b", False, app) + skirt + long_hair + _torso(app, view)
        ops += _bag(app, view, "over") + _arm("a", False, app) + _arm("b", False, app) + _bag(app, view, "hand")
        ops += _head(app, view)
    else:
        ops = _leg("a", False, app) + _leg("b", False, app) + skirt + _torso(app, view)
        ops += _arm("a", False, app) + _arm("b", False, app) + _bag(app, view, "over") + long_hair
        ops += _head(app, view) + _bag(app, view, "hand")
    return ops


def extents(ops: list[Op], pts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per frame ``(x0, y0, x1, y1)``: the outline of everything the operations draw.

    Pass image-space points and pixel sizes.  Lines are measured as OpenCV
    draws them: with the thickness rounded to whole pixels, reaching
    ``(t + 1) // 2`` pixels past their centre line (a 1-pixel line, none).
    """
    lo = np.full((pts.shape[0], 2), np.inf)
    hi = np.full((pts.shape[0], 2), -np.inf)

    def grow(p: np.ndarray, r: np.ndarray) -> None:
        np.minimum(lo, p - r, out=lo)
        np.maximum(hi, p + r, out=hi)

    for op in ops:
        if op.kind == "line":
            t = np.maximum(1, np.round(sizes[:, op.size]))
            r = np.where(t <= 1, 0, (t + 1) // 2)[:, None]
            grow(pts[:, op.a], r)
            grow(pts[:, op.b], r)
        elif op.kind == "circle":  # OpenCV rounds small circles up by up to half a pixel
            grow(pts[:, op.a], sizes[:, op.size][:, None] + 0.5)
        elif op.kind == "ellipse":
            grow(pts[:, op.a], np.stack([sizes[:, op.size], sizes[:, op.size2]], -1) + 0.5)
        else:
            for i in op.pts:
                grow(pts[:, i], np.zeros((1, 1)))
    return np.concatenate([lo, hi], axis=1)
