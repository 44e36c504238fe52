"""Procedural backgrounds: ground, back wall, sky or ceiling, props and static occluders.

Shapes are described in world coordinates (metres: ``x`` across, ``y`` up,
``z`` depth) as a list of primitives, then painted twice with the same
rasteriser: once in colour into the plate and once as a mask, so an
occluder's mask matches its pixels exactly.  Boxes are drawn with their
visible faces only (front, the top when the camera is above it, the side that
faces the camera), shaded so they read as solid objects.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .camera import OCCLUDER_SIZES, CameraSpec, Lighting, Occluder, OccluderLayer, apply_light, occluder_colour, shadow_offset
from .identity import RGB

SHIFT = 4
ONE = 1 << SHIFT

FACADES = [(0.56, 0.32, 0.26), (0.63, 0.61, 0.58), (0.78, 0.72, 0.6), (0.38, 0.46, 0.54), (0.36, 0.36, 0.39), (0.7, 0.66, 0.62)]
PAVEMENTS = [(0.52, 0.52, 0.5), (0.6, 0.57, 0.52), (0.5, 0.4, 0.36), (0.44, 0.45, 0.46), (0.66, 0.64, 0.6)]
INDOOR_WALLS = [(0.86, 0.84, 0.78), (0.78, 0.8, 0.82), (0.74, 0.8, 0.86), (0.84, 0.78, 0.7)]
INDOOR_FLOORS = [(0.72, 0.7, 0.66), (0.58, 0.56, 0.54), (0.8, 0.78, 0.74), (0.5, 0.44, 0.38)]


@dataclass(frozen=True)
class Shape:
    """A world-space primitive: ``box`` (x0, x1, z0, z1, y0, y1) or ``disc`` (x, y, z, rx, ry)."""

    kind: str
    params: tuple[float, ...]
    rgb: tuple[float, float, float]


class Painter:
    """Rasterises shapes seen by one camera onto an image: a float RGB plate, or a mask when
    ``mask_value`` is given (every face painted with that value)."""

    def __init__(self, spec: CameraSpec, img: np.ndarray, mask_value: float | None = None):
        self.spec, self.img, self.mask_value = spec, img, mask_value

    def _colour(self, rgb: tuple[float, float, float], shade: float = 1.0) -> tuple[float, ...]:
        if self.mask_value is not None:
            return (self.mask_value,) * (1 if self.img.ndim == 2 else self.img.shape[2])
        return tuple(float(np.clip(c * shade, 0, 1)) for c in rgb)

    def project(self, x: float, y: float, z: float) -> tuple[float, float]:
        s = self.spec
        return s.width / 2 + s.focal_px * x / z, s.horizon_y + s.focal_px * (s.height_m - y) / z

    def quad(self, corners: list[tuple[float, float, float]], rgb: tuple[float, float, float], shade: float = 1.0) -> None:
        pts = np.array([self.project(*c) for c in corners]) * ONE
        cv2.fillConvexPoly(self.img, np.round(pts).astype(np.int32), self._colour(rgb, shade), cv2.LINE_8, SHIFT)

    def box(self, x0: float, x1: float, z0: float, z1: float, y0: float, y1: float, rgb: tuple[float, float, float]) -> None:
        if y1 < self.spec.height_m:
            self.quad([(x0, y1, z0), (x1, y1, z0), (x1, y1, z1), (x0, y1, z1)], rgb, 1.15)
        if x1 < 0:
            self.quad([(x1, y0, z0), (x1, y0, z1), (x1, y1, z1), (x1, y1, z0)], rgb, 0.72)
        elif x0 > 0:
            self.quad([(x0, y0, z0), (x0, y0, z1), (x0, y1, z1), (x0, y1, z0)], rgb, 0.72)
        self.quad([(x0, y0, z0), (x1, y0, z0), (x1, y1, z0), (x0, y1, z0)], rgb)

    def disc(self, x: float, y: float, z: float, rx: float, ry: float, rgb: tuple[float, float, float]) -> None:
        u, v = self.project(x, y, z)
        k = self.spec.focal_px / z
        centre = (int(round(u * ONE)), int(round(v * ONE)))
        axes = (max(1, int(round(rx * k * ONE))), max(1, int(round(ry * k * ONE))))
        cv2.ellipse(self.img, centre, axes, 0, 0, 360, self._colour(rgb), -1, cv2.LINE_8, SHIFT)

    def paint(self, shapes: list[Shape]) -> None:
        for sh in shapes:
            getattr(self, sh.kind)(*sh.params, sh.rgb)


def _rgb(c: RGB) -> tuple[float, float, float]:
    return (c[0] / 255.0, c[1] / 255.0, c[2] / 255.0)


class _Object:
    """An occluder's footprint and colours, and the primitive list it is drawn from."""

    def __init__(self, occ: Occluder, rng: np.random.Generator) -> None:
        self.rng = rng
        self.x, self.z, self.w, self.d, self.h = occ.x_m, occ.z_m, occ.width_m, occ.depth_m, occ.height_m
        self.x0, self.x1, self.z0, self.z1 = self.x - self.w / 2, self.x + self.w / 2, self.z - self.d / 2, self.z + self.d / 2
        self.col = _rgb(occ.colour)
        self.dark = tuple(c * 0.55 for c in self.col)
        self.out: list[Shape] = []

    def box(self, bx0: float, bx1: float, bz0: float, bz1: float, y0: float, y1: float, c: tuple[float, float, float]) -> None:
        self.out.append(Shape("box", (bx0, bx1, bz0, bz1, y0, y1), c))

    def disc(self, params: tuple[float, ...], c: tuple[float, ...]) -> None:
        self.out.append(Shape("disc", params, c))


def _pole(o: _Object) -> None:
    o.box(o.x0, o.x1, o.z0, o.z1, 0.0, o.h, o.col)
    o.box(o.x0 - 0.05, o.x1 + 0.05, o.z0 - 0.05, o.z1 + 0.05, 0.0, 0.35, o.dark)
    o.box(o.x0, o.x1 + 0.55, o.z0, o.z1, o.h - 0.12, o.h, o.col)
    o.box(o.x1 + 0.3, o.x1 + 0.6, o.z0 - 0.05, o.z1 + 0.05, o.h - 0.2, o.h - 0.1, (0.85, 0.85, 0.8))


def _pillar(o: _Object) -> None:
    o.box(o.x0, o.x1, o.z0, o.z1, 0.0, o.h, o.col)
    py = o.rng.uniform(1.2, 1.6)
    o.box(o.x0 - 0.01, o.x1 + 0.01, o.z0 - 0.01, o.z0, py, py + 0.8, tuple(o.rng.uniform(0.2, 0.9, 3)))


def _tree(o: _Object) -> None:
    o.box(o.x0, o.x1, o.z0, o.z1, 0.0, 2.4, o.col)
    green = np.array((0.22, 0.38, 0.18)) * o.rng.uniform(0.8, 1.2)
    for _ in range(5):
        ox, oy = o.rng.uniform(-0.7, 0.7), o.rng.uniform(-0.4, 0.6)
        r = o.rng.uniform(0.8, 1.2)
        leaves = tuple(green * o.rng.uniform(0.85, 1.15))
        o.disc((o.x + ox, 3.5 + oy, o.z + o.rng.uniform(-0.3, 0.3), r, r * 0.9), leaves)


def _bench(o: _Object) -> None:
    for lx in (o.x0 + 0.1, o.x1 - 0.16):
        o.box(lx, lx + 0.06, o.z0 + 0.05, o.z1 - 0.05, 0.0, 0.42, o.dark)
        o.box(lx, lx + 0.06, o.z1 - 0.08, o.z1 - 0.02, 0.42, 0.86, o.dark)
    o.box(o.x0, o.x1, o.z0, o.z1 - 0.05, 0.42, 0.47, o.col)
    for y in (0.55, 0.67, 0.79):
        o.box(o.x0, o.x1, o.z1 - 0.06, o.z1 - 0.02, y, y + 0.07, o.col)


def _planter(o: _Object) -> None:
    o.box(o.x0, o.x1, o.z0, o.z1, 0.0, 0.55, o.col)
    for k in range(4):
        bx = o.x0 + o.w * (0.2 + 0.2 * k) + o.rng.uniform(-0.1, 0.1)
        r = o.rng.uniform(0.3, 0.42)
        o.disc((bx, 0.55 + r * 0.8, o.z + o.rng.uniform(-0.1, 0.1), r, r * 0.85), tuple(np.array((0.25, 0.42, 0.2)) * o.rng.uniform(0.75, 1.2)))


def _board(o: _Object) -> None:
    for px in (o.x0 + 0.08, o.x1 - 0.14):
        o.box(px, px + 0.06, o.z - 0.03, o.z + 0.03, 0.0, o.h, (0.3, 0.3, 0.32))
    o.box(o.x0, o.x1, o.z0, o.z1, 0.7, o.h, o.col)
    poster = tuple(o.rng.uniform(0.3, 1.0, 3))
    o.box(o.x0 + 0.08, o.x1 - 0.08, o.z0 - 0.01, o.z0, 0.8, o.h - 0.1, poster)


def _bollards(o: _Object) -> None:
    n = 4
    for k in range(n):
        bx = o.x0 + (o.w - 0.14) * k / (n - 1)
        o.box(bx, bx + 0.14, o.z0, o.z1, 0.0, o.h, o.col)
        o.box(bx, bx + 0.14, o.z0 - 0.005, o.z1, o.h - 0.18, o.h - 0.1, (0.85, 0.8, 0.3))


def _car(o: _Object) -> None:
    o.box(o.x0 + 0.1, o.x1 - 0.1, o.z0 + 0.1, o.z1 - 0.1, 0.05, 0.3, (0.05, 0.05, 0.05))
    o.box(o.x0 + 0.9, o.x1 - 1.0, o.z0 + 0.12, o.z1 - 0.12, 0.95, o.h, (0.16, 0.19, 0.23))
    o.box(o.x0, o.x1, o.z0, o.z1, 0.3, 0.98, o.col)
    for wx in (o.x0 + 0.85, o.x1 - 0.85):
        o.disc((wx, 0.33, o.z0 - 0.01, 0.33, 0.33), (0.06, 0.06, 0.06))
    o.box(o.x0 + 0.05, o.x0 + 0.25, o.z0 - 0.01, o.z0, 0.65, 0.8, (0.9, 0.85, 0.6))


def _bin(o: _Object) -> None:
    o.box(o.x0, o.x1, o.z0, o.z1, 0.0, o.h - 0.08, o.col)
    o.box(o.x0 - 0.03, o.x1 + 0.03, o.z0 - 0.03, o.z1 + 0.03, o.h - 0.08, o.h, o.dark)


# each kind's drawing, all with one signature; the random draws per kind are part of the footage's truth
_OBJECTS = {"pole": _pole, "pillar": _pillar, "tree": _tree, "bench": _bench, "planter": _planter,
            "board": _board, "bollards": _bollards, "car": _car, "bin": _bin}


def object_shapes(occ: Occluder, rng: np.random.Generator) -> list[Shape]:
    """The primitives of one object, back to front."""
    draw = _OBJECTS.get(occ.kind)
    if draw is None:  # pragma: no cover - the kinds are fixed in camera.py
        raise ValueError(f"unknown occluder kind {occ.kind!r}")
    o = _Object(occ, rng)
    draw(o)
    return o.out


def _ground(spec: CameraSpec, rng: np.random.Generator, img: np.ndarray, v_base: int, colour: np.ndarray, tile: float) -> None:
    """Paving or floor tiles in perspective, with wear blotches."""
    H, W = img.shape[:2]
    if v_base >= H:
        return
    rows = np.arange(max(v_base, 0), H, dtype=np.float64) + 0.5
    zs = spec.depth_at_row(rows)[:, None]
    xs = (np.arange(W) + 0.5 - W / 2)[None, :] * zs / spec.focal_px
    checker = ((np.floor(xs / tile) + np.floor(zs / tile)) % 2) * 2 - 1
    tile_jit = rng.uniform(-1, 1, 4096)[(np.floor(xs / tile) * 31 + np.floor(zs / tile) * 17).astype(np.int64) % 4096]
    small = rng.normal(0, 1, (H // 48 + 3, W // 48 + 3)).astype(np.float32)
    blotch = cv2.resize(small, (W, H), interpolation=cv2.INTER_CUBIC)[rows.astype(int)]
    shade = 1 + 0.02 * checker + 0.025 * tile_jit + 0.03 * blotch
    img[rows.astype(int)] = colour[None, None, :] * shade[..., None]
    joint = tuple(float(c) for c in colour * 0.72)
    z_lo, z_hi = spec.z_bottom, spec.z_wall
    x_max = float(spec.half_width_m(z_hi)) + tile
    for zk in np.arange(np.ceil(z_lo / tile) * tile, z_hi, tile):
        v = spec.project(0, zk)[1]
        cv2.line(img, (0, int(round(v * ONE))), (W * ONE, int(round(v * ONE))), joint, 1, cv2.LINE_AA, SHIFT)
    for xk in np.arange(-np.ceil(x_max / tile) * tile, x_max + tile, tile):
        u0, v0 = spec.project(xk, z_lo * 0.98)
        u1, v1 = spec.project(xk, z_hi)
        cv2.line(img, (int(u0 * ONE), int(v0 * ONE)), (int(u1 * ONE), int(v1 * ONE)), joint, 1, cv2.LINE_AA, SHIFT)


def _facade(spec: CameraSpec, rng: np.random.Generator, p: Painter, colour: np.ndarray) -> None:
    """The back wall: a building front outdoors, a corridor wall indoors."""
    z = spec.z_wall
    half = float(spec.half_width_m(z)) + 1.0
    wall_h = spec.wall_height_m
    p.box(-half, half, z, z + 0.1, 0.0, wall_h, tuple(colour))
    if spec.kind == "outdoor":
        # A few courses of texture, then windows floor by floor and shops at street level.
        for y in np.arange(0.3, wall_h, 0.9):
            p.box(-half, half, z - 0.001, z, y, y + 0.04, tuple(colour * 0.9))
        glass = np.array((0.2, 0.25, 0.3))
        for y in np.arange(3.6, wall_h - 1.2, 3.2):
            for x in np.arange(-half + rng.uniform(0.3, 1.5), half, rng.uniform(2.2, 3.0)):
                p.box(x - 0.08, x + 1.28, z - 0.01, z, y - 0.08, y + 1.58, tuple(colour * 0.75))
                p.box(x, x + 1.2, z - 0.02, z, y, y + 1.5, tuple(glass * rng.uniform(0.8, 1.6)))
        x = -half + rng.uniform(0, 2)
        while x < half:
            wdt = rng.uniform(1.0, 4.0)
            if rng.random() < 0.35:
                p.box(x, x + 1.1, z - 0.02, z, 0.0, 2.3, (0.16, 0.14, 0.13))
            else:
                p.box(x, x + wdt, z - 0.02, z, 0.5, 2.5, tuple(np.array((0.45, 0.5, 0.5)) * rng.uniform(0.7, 1.4)))
                p.box(x, x + wdt, z - 0.03, z, 2.7, 3.2, tuple(rng.uniform(0.15, 0.95, 3)))
            x += wdt + rng.uniform(0.5, 2.5)
    else:
        p.box(-half, half, z - 0.01, z, 0.0, 0.14, tuple(colour * 0.55))
        x = -half + rng.uniform(0, 2)
        while x < half:
            if rng.random() < 0.45:
                p.box(x, x + rng.uniform(0.9, 1.6), z - 0.02, z, 0.0, 2.15, tuple(np.array((0.45, 0.38, 0.3)) * rng.uniform(0.7, 1.3)))
            else:
                y = rng.uniform(1.1, 1.5)
                p.box(x, x + rng.uniform(0.5, 1.0), z - 0.02, z, y, y + rng.uniform(0.6, 1.0), tuple(rng.uniform(0.2, 0.95, 3)))
            x += rng.uniform(1.5, 3.5)


def _above_wall(spec: CameraSpec, rng: np.random.Generator, img: np.ndarray, v_top: int, sunny: bool) -> None:
    """Sky with a distant skyline outdoors; a ceiling with light panels indoors."""
    if v_top <= 0:
        return
    rows = np.linspace(0, 1, v_top)[:, None]
    if spec.kind == "outdoor":
        top, low = ((0.5, 0.66, 0.86), (0.78, 0.84, 0.9)) if sunny else ((0.7, 0.72, 0.76), (0.82, 0.83, 0.85))
        top, low = np.array(top), np.array(low)
        img[:v_top] = (top * (1 - rows) + low * rows)[:, None, :]
        x = 0
        W = img.shape[1]
        while x < W:
            bw = int(rng.uniform(0.05, 0.2) * W)
            bh = int(rng.uniform(0.1, 0.6) * v_top)
            img[v_top - bh:v_top, x:x + bw] = np.array((0.62, 0.66, 0.72)) * rng.uniform(0.85, 1.1)
            x += bw + int(rng.uniform(0, 0.1) * W)
    else:
        img[:v_top] = np.array((0.86, 0.86, 0.84)) * (0.9 + 0.1 * rows)[:, None, :]
        p = Painter(spec, img)
        y = spec.wall_height_m
        for z in np.arange(spec.z_bottom, spec.z_wall, 3.0):
            for x in (-2.0, 2.0):
                p.quad([(x - 0.6, y, z), (x + 0.6, y, z), (x + 0.6, y, z + 0.6), (x - 0.6, y, z + 0.6)], (1.0, 1.0, 0.97))


def _illumination(spec: CameraSpec, lighting: Lighting, rng: np.random.Generator, objects: list[Occluder]) -> np.ndarray:
    """Brightness factor per pixel: sun and shade on the ground, pools of light indoors, vignetting."""
    H, W = spec.height, spec.width
    illum = np.ones((H, W), np.float32)
    if spec.kind == "indoor":
        small = rng.normal(0, 1, (4, 6)).astype(np.float32)
        illum *= 1.0 + 0.08 * cv2.resize(small, (W, H), interpolation=cv2.INTER_CUBIC)
    elif lighting.sunny:
        p = Painter(spec, illum, mask_value=1.0 - lighting.shadow_strength)
        if rng.random() < 0.5:  # the shadow of the building behind, reaching into the square
            x = float(spec.half_width_m(spec.z_wall)) + 2
            za = rng.uniform(spec.z_near, spec.z_wall)
            zb = rng.uniform(spec.z_near, spec.z_wall)
            p.quad([(-x, 0, spec.z_wall), (x, 0, spec.z_wall), (x, 0, za), (-x, 0, zb)], (0, 0, 0))
        for o in objects:
            x0, x1, z0, z1 = o.footprint()
            dx, dz = shadow_offset(lighting, o.height_m)
            pts = np.array([p.project(x, 0, zz) for x, zz in ((x0, z0), (x1, z0), (x1, z1), (x0, z1),
                                                                (x0 + dx, z0 + dz), (x1 + dx, z0 + dz),
                                                                (x1 + dx, z1 + dz), (x0 + dx, z1 + dz))])
            hull = cv2.convexHull(np.round(pts * ONE).astype(np.int32))
            cv2.fillConvexPoly(illum, hull, 1.0 - lighting.shadow_strength * 0.9, cv2.LINE_8, SHIFT)
    illum = cv2.GaussianBlur(illum, (0, 0), max(1.0, H / 240))
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    r2 = ((xx - W / 2) / (W / 2)) ** 2 + ((yy - H / 2) / (H / 2)) ** 2
    illum *= 1.0 - rng.uniform(0.04, 0.16) * r2 / 2
    return illum


def _degrade(img: np.ndarray, spec: CameraSpec) -> np.ndarray:
    """The camera's optics and encoder on the still scene: lost resolution, blur, JPEG blocks."""
    H, W = img.shape[:2]
    if spec.resolution < 0.98:
        small = cv2.resize(img, (max(8, int(W * spec.resolution)), max(8, int(H * spec.resolution))), interpolation=cv2.INTER_AREA)
        img = cv2.resize(small, (W, H), interpolation=cv2.INTER_LINEAR)
    if spec.blur_sigma > 0.05:
        img = cv2.GaussianBlur(img, (0, 0), spec.blur_sigma)
    if spec.jpeg_quality < 100:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, spec.jpeg_quality])
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else img
    return img


def background_props(spec: CameraSpec, rng: np.random.Generator) -> list[Occluder]:
    """Objects between the walking area and the wall: scenery, never in front of anyone."""
    kinds = ("tree", "pole", "bin", "planter", "bench") if spec.kind == "outdoor" else ("planter", "bin", "bench", "board")
    props = []
    for _ in range(int(rng.integers(2, 6))):
        kind = kinds[int(rng.integers(len(kinds)))]
        w, d, h = OCCLUDER_SIZES[kind]
        z = rng.uniform(spec.z_far + d / 2 + 0.4, max(spec.z_far + d / 2 + 0.5, spec.z_wall - d / 2 - 0.1))
        x = rng.uniform(-1, 1) * float(spec.half_width_m(z))
        props.append(Occluder(kind, float(x), float(z), w, d, h, occluder_colour(rng, kind)))
    return sorted(props, key=lambda o: -o.z_m)


def paint_view(spec: CameraSpec, lighting: Lighting, slot: int) -> tuple[np.ndarray, np.ndarray, list[OccluderLayer]]:
    """The plate (BGR uint8), its illumination map and its occluder layers, for one camera and slot."""
    rng = np.random.default_rng(spec.scenery_seed)
    H, W = spec.height, spec.width
    base = np.zeros((H, W, 3), np.float32)
    outdoor = spec.kind == "outdoor"
    walls, grounds = (FACADES, PAVEMENTS) if outdoor else (INDOOR_WALLS, INDOOR_FLOORS)
    wall_col = np.array(walls[int(rng.integers(len(walls)))])
    ground_col = np.array(grounds[int(rng.integers(len(grounds)))])
    tile = rng.uniform(0.5, 1.0) if outdoor else rng.uniform(0.5, 0.8)
    v_base = int(np.floor(spec.project(0, spec.z_wall)[1]))
    v_top = int(np.floor(spec.horizon_y + spec.focal_px * (spec.height_m - spec.wall_height_m) / spec.z_wall))
    _above_wall(spec, rng, base, min(max(v_top, 0), H), lighting.sunny)
    painter = Painter(spec, base)
    _facade(spec, rng, painter, wall_col)
    _ground(spec, rng, base, v_base, ground_col, tile)
    if outdoor and rng.random() < 0.5:  # a kerbed strip of grass along the building
        gz = spec.z_wall - rng.uniform(0.8, 1.6)
        half = float(spec.half_width_m(spec.z_wall)) + 2
        painter.box(-half, half, gz, spec.z_wall, 0.0, 0.12, (0.28, 0.4, 0.2))
        painter.box(-half, half, gz - 0.15, gz, 0.0, 0.14, (0.66, 0.66, 0.64))
    props = background_props(spec, rng)
    for prop in props:
        painter.paint(object_shapes(prop, np.random.default_rng(rng.integers(2**31))))
    # Static fine grain of surfaces (fixed across frames, unlike sensor noise).
    base *= 1 + rng.normal(0, 0.018, (H, W, 1)).astype(np.float32)

    occluders = sorted(spec.occluders, key=lambda o: -o.z_m)  # far to near: nearer objects cover farther ones
    masks = []
    for k, o in enumerate(occluders):
        sh = object_shapes(o, np.random.default_rng(spec.scenery_seed + 7 * k + 1))
        painter.paint(sh)
        m = np.zeros((H, W), np.uint8)
        Painter(spec, m, mask_value=1).paint(sh)
        masks.append(m)

    illum = _illumination(spec, lighting, np.random.default_rng(spec.scenery_seed + slot * 1009), list(spec.occluders) + props)
    lit = apply_light(base, illum, lighting, spec.saturation).astype(np.uint8)
    plate = _degrade(np.ascontiguousarray(lit[..., ::-1]), spec)
    layers = []
    for o, m in zip(occluders, masks):
        ys, xs = np.nonzero(m)
        if len(ys) == 0:
            continue
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
        layers.append(OccluderLayer(o, x0, y0, x1, y1, m[y0:y1, x0:x1].astype(bool)))
    return plate, illum, layers
