"""Cameras: where each one looks from, what stands in its view, its light and its sensor.

A camera is a pinhole at ``height_m`` above flat ground, looking level (the
horizon row ``horizon_y`` may lie above the picture, which reads as a camera
tilted down).  A ground point at lateral ``x`` and depth ``z`` metres images at
``u = W/2 + f x / z``, ``v = horizon_y + f height_m / z``, and a person of
height ``h`` metres standing there is ``f h / z`` pixels tall: people shrink
and rise in the picture as they walk away, as in real footage.  The walking
area runs from ``z_near`` (feet near the bottom) to ``z_far`` (the smallest
people), with the back wall behind it.

:class:`CameraSpec` is plain data sampled per camera; :class:`CameraView` is
what the renderer needs for one camera in one time slot (the background plate
with its static occluders, the illumination, the noise bank), built once and
reused for every frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from .config import SynthConfig
from .identity import RGB
from .seeding import rng_for

OUTDOOR_OCCLUDERS = ("pole", "tree", "bench", "planter", "board", "bollards", "car", "pole", "board")
INDOOR_OCCLUDERS = ("pillar", "planter", "board", "bin", "bench", "pillar")
# Footprint size (x width, z depth, height) in metres, before per-object jitter.
OCCLUDER_SIZES: dict[str, tuple[float, float, float]] = {
    "pole": (0.16, 0.16, 4.2),
    "tree": (0.3, 0.3, 4.8),
    "bench": (1.8, 0.55, 0.85),
    "planter": (1.3, 0.8, 1.15),
    "board": (1.1, 0.3, 2.05),
    "bollards": (3.0, 0.2, 0.95),
    "car": (4.2, 1.8, 1.45),
    "pillar": (0.6, 0.6, 6.0),
    "bin": (0.55, 0.55, 1.0),
}
TIMES_OF_DAY = ("morning", "noon", "afternoon")
NOISE_BANK = 12


@dataclass(frozen=True)
class Occluder:
    """A static object standing on the ground: ``x_m``/``z_m`` its centre, sizes in metres."""

    kind: str
    x_m: float
    z_m: float
    width_m: float
    depth_m: float
    height_m: float
    colour: RGB

    def footprint(self, margin: float = 0.0) -> tuple[float, float, float, float]:
        """``(x0, x1, z0, z1)`` of the ground it covers, grown by ``margin`` metres."""
        return (self.x_m - self.width_m / 2 - margin, self.x_m + self.width_m / 2 + margin,
                self.z_m - self.depth_m / 2 - margin, self.z_m + self.depth_m / 2 + margin)


@dataclass(frozen=True)
class CameraSpec:
    """Everything sampled about one camera (1-based ``camera_id``)."""

    camera_id: int
    kind: str
    width: int
    height: int
    horizon_y: float
    height_m: float
    focal_px: float
    z_near: float
    z_far: float
    z_wall: float
    wall_height_m: float
    occluders: tuple[Occluder, ...]
    noise_sigma: float
    blur_sigma: float
    resolution: float
    jpeg_quality: int
    white_balance: tuple[float, float, float]
    saturation: float
    map_xy: tuple[float, float]
    yaw_deg: float
    scenery_seed: int

    @property
    def name(self) -> str:
        return f"cam{self.camera_id:02d}"

    def project(self, x: np.ndarray | float, z: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Image ``(u, v)`` of ground points at lateral ``x`` and depth ``z`` metres."""
        z = np.asarray(z, dtype=np.float64)
        return self.width / 2 + self.focal_px * np.asarray(x) / z, self.horizon_y + self.focal_px * self.height_m / z

    def depth_at_row(self, v: np.ndarray | float) -> np.ndarray:
        """Depth of the ground seen at image row ``v`` (below the horizon)."""
        return self.focal_px * self.height_m / (np.asarray(v, dtype=np.float64) - self.horizon_y)

    def half_width_m(self, z: np.ndarray | float) -> np.ndarray:
        """Half the width of ground in view at depth ``z``."""
        return np.asarray(z) * (self.width / 2) / self.focal_px

    def person_px(self, z: np.ndarray | float, height_m: float) -> np.ndarray:
        """Pixel height of a person ``height_m`` tall standing at depth ``z``."""
        return self.focal_px * height_m / np.asarray(z, dtype=np.float64)

    @property
    def pad(self) -> int:
        """Margin around the frame wide enough to hold anyone partly out of view (in pixels)."""
        return int(np.ceil(self.person_px(self.depth_at_row(self.height * 1.12), 2.0))) + 8

    @property
    def z_bottom(self) -> float:
        """Depth of the ground at the bottom image row."""
        return float(self.depth_at_row(self.height))


@dataclass(frozen=True)
class Lighting:
    """Light of one camera in one time slot: colour gain (RGB, includes the sensor's cast),
    haze lift, and the sun (shadow direction and strength) if it shines."""

    time_of_day: str
    gain: tuple[float, float, float]
    lift: float
    sunny: bool
    sun_dx: float
    shadow_strength: float


def occluder_colour(rng: np.random.Generator, kind: str) -> RGB:
    """The main colour (RGB 0-255) of an occluder of this kind."""
    table = {
        "pole": [(50, 52, 56), (40, 62, 48), (90, 92, 96)],
        "tree": [(92, 70, 50)],
        "bench": [(115, 78, 48), (45, 70, 55), (70, 72, 76)],
        "planter": [(150, 146, 138), (110, 100, 92), (60, 60, 64)],
        "board": [(40, 80, 140), (170, 40, 40), (40, 40, 44), (30, 110, 80)],
        "bollards": [(60, 60, 64), (170, 170, 165)],
        "car": [(190, 190, 190), (30, 30, 36), (230, 230, 230), (140, 26, 26), (38, 56, 102), (102, 107, 115)],
        "pillar": [(200, 196, 188), (170, 172, 176)],
        "bin": [(40, 70, 50), (60, 60, 64), (90, 60, 40)],
    }[kind]
    return table[int(rng.integers(len(table)))]  # type: ignore[return-value]


def _place_occluders(rng: np.random.Generator, spec: CameraSpec, count: int) -> tuple[Occluder, ...]:
    """Objects in and just in front of the walking area, apart enough for people to pass between."""
    kinds = OUTDOOR_OCCLUDERS if spec.kind == "outdoor" else INDOOR_OCCLUDERS
    placed: list[Occluder] = []
    for _ in range(count * 25):
        if len(placed) == count:
            break
        kind = kinds[int(rng.integers(len(kinds)))]
        if kind in ("car", "bollards") and any(o.kind in ("car", "bollards") for o in placed):
            continue
        w, d, h = OCCLUDER_SIZES[kind]
        jit = rng.uniform(0.85, 1.2)
        w, d, h = w * jit, d * jit, h * rng.uniform(0.9, 1.1)
        # Big objects stand at the edges of the walking area so paths stay open.
        if kind == "car":
            z = spec.z_far * rng.uniform(0.92, 1.0) if rng.random() < 0.5 else spec.z_near * rng.uniform(0.8, 0.9)
        else:
            z = float(np.exp(rng.uniform(np.log(spec.z_bottom * 1.15), np.log(spec.z_far * 0.95))))
        half = float(spec.half_width_m(z))
        x = rng.uniform(-0.85, 0.85) * half
        occ = Occluder(kind, round(float(x), 3), round(z, 3), round(w, 3), round(d, 3), round(h, 3),
                       occluder_colour(rng, kind))
        ax0, ax1, az0, az1 = occ.footprint(1.2)
        if any(ax0 < b1 and b0 < ax1 and az0 < c1 and c0 < az1 for b0, b1, c0, c1 in (o.footprint() for o in placed)):
            continue
        placed.append(occ)
    return tuple(sorted(placed, key=lambda o: -o.z_m))


def sample_camera(config: SynthConfig, camera_id: int) -> CameraSpec:
    """Camera ``camera_id`` (1-based) of the network, sampled from its own random stream."""
    rng = rng_for(config.seed, "camera", camera_id)
    w, h = config.size
    kind = "outdoor" if rng.random() < 0.75 else "indoor"
    scale = h / 360.0
    # Pixel height of a 1.7 m person nearest to and farthest from the camera: the
    # viewpoint scale, which differs between cameras as it does in real networks.
    h_near = rng.uniform(120, 150) * scale
    h_far = rng.uniform(52, 70) * scale
    cam_h = rng.uniform(2.8, 6.0) if kind == "outdoor" else rng.uniform(2.6, 3.6)
    hfov = np.deg2rad(rng.uniform(55, 75))
    focal = (w / 2) / np.tan(hfov / 2)
    v_near = 0.93 * h
    horizon = v_near - h_near * cam_h / 1.7
    z_near = focal * 1.7 / h_near
    z_far = focal * 1.7 / h_far
    z_wall = z_far * rng.uniform(1.08, 1.35) + 1.0
    wall_h = rng.uniform(5.0, 14.0) if kind == "outdoor" else float(rng.uniform(cam_h + 0.4, cam_h + 1.5))
    wb = np.clip(1.0 + rng.normal(0, 0.05, 3), 0.88, 1.12)
    spec = CameraSpec(
        camera_id=camera_id,
        kind=kind,
        width=w,
        height=h,
        horizon_y=round(float(horizon), 3),
        height_m=round(float(cam_h), 3),
        focal_px=round(float(focal), 3),
        z_near=round(float(z_near), 3),
        z_far=round(float(z_far), 3),
        z_wall=round(float(z_wall), 3),
        wall_height_m=round(float(wall_h), 3),
        occluders=(),
        noise_sigma=round(float(rng.uniform(1.5, 5.0) * config.noise), 3),
        blur_sigma=round(float(rng.uniform(0.3, 0.9) * config.blur), 3),
        resolution=round(float(1.0 - rng.uniform(0.0, 0.4) * min(config.blur, 1.0)), 3),
        jpeg_quality=int(round(100 - rng.uniform(15, 60) * min(config.compression, 1.0))),
        white_balance=tuple(round(float(v), 3) for v in wb),  # type: ignore[arg-type]
        saturation=round(float(rng.uniform(0.7, 1.05)), 3),
        map_xy=(round(float(rng.uniform(0, 100)), 2), round(float(rng.uniform(0, 100)), 2)),
        yaw_deg=round(float(rng.uniform(0, 360)), 2),
        scenery_seed=int(rng.integers(2**31)),
    )
    lo, hi = config.occluders
    count = int(rng.integers(lo, hi + 1))
    return replace(spec, occluders=_place_occluders(rng, spec, count))


def sample_lighting(config: SynthConfig, spec: CameraSpec, slot: int) -> Lighting:
    """The light a camera sees in time slot ``slot`` (1-based): morning, noon, afternoon, repeating."""
    rng = rng_for(config.seed, "lighting", spec.camera_id, slot)
    tod = TIMES_OF_DAY[(slot - 1) % len(TIMES_OF_DAY)]
    if spec.kind == "indoor":
        base = np.array((0.96, 1.0, 0.97)) if rng.random() < 0.5 else np.array((1.05, 0.98, 0.86))
        level, sunny, lift = rng.uniform(0.85, 1.0), False, rng.uniform(0.0, 0.03)
    else:
        sunny = bool(rng.random() < 0.65)
        base = {"morning": np.array((1.02, 0.95, 0.84)), "noon": np.array((1.0, 1.0, 0.98)),
                "afternoon": np.array((1.06, 0.93, 0.8))}[tod]
        if not sunny:
            base = np.array((0.94, 0.97, 1.02))
        level = {"morning": 0.85, "noon": 1.05, "afternoon": 0.95}[tod] * (1.0 if sunny else 0.85)
        level *= rng.uniform(0.92, 1.05)
        lift = rng.uniform(0.0, 0.06)
    gain = base * level * np.asarray(spec.white_balance)
    sun_dx = float(rng.uniform(-1, 1)) if sunny else 0.0
    strength = float(rng.uniform(0.35, 0.5)) if sunny else float(rng.uniform(0.12, 0.2))
    return Lighting(tod, tuple(round(float(g), 4) for g in gain), round(float(lift), 4), sunny,  # type: ignore[arg-type]
                    round(sun_dx, 3), round(strength, 3))


@dataclass(frozen=True)
class OccluderLayer:
    """An occluder as the renderer uses it: its depth and its pixels in the frame."""

    occluder: Occluder
    x0: int
    y0: int
    x1: int
    y1: int
    mask: np.ndarray  # bool (y1 - y0, x1 - x0)


@dataclass
class CameraView:
    """One camera in one time slot, ready to render.

    ``plate`` (BGR uint8) is the empty scene as the camera records it without
    noise; ``illumination`` the brightness factor at each pixel (shade,
    vignetting), used to light people as they walk through it.
    """

    spec: CameraSpec
    slot: int
    lighting: Lighting
    plate: np.ndarray
    illumination: np.ndarray
    layers: list[OccluderLayer]
    noise_pos: np.ndarray
    noise_neg: np.ndarray
    ground_level: float
    _noise_order: np.ndarray = field(default_factory=lambda: np.arange(NOISE_BANK))

    @classmethod
    def build(cls, config: SynthConfig, spec: CameraSpec, slot: int) -> CameraView:
        """Paint the plate and its occluders, light them, and prepare the noise bank."""
        from .scenery import paint_view

        lighting = sample_lighting(config, spec, slot)
        plate, illum, layers = paint_view(spec, lighting, slot)
        walk = plate[int(spec.project(0, spec.z_far)[1]):int(spec.height * 0.95)]
        ground = float(walk.mean()) if walk.size else float(plate.mean())
        rng = rng_for(config.seed, "noise", spec.camera_id, slot)
        shape = (NOISE_BANK, spec.height, spec.width, 3)
        if spec.noise_sigma > 0:
            # A bank of noise frames cycled in a scrambled order: fresh Gaussian noise
            # per frame would cost more than drawing everything else.
            noise = rng.normal(0.0, spec.noise_sigma, shape).astype(np.float32)
            noise[..., 1] *= 0.8  # green sensels are less noisy, as in Bayer sensors
            pos = np.clip(np.round(noise), 0, 255).astype(np.uint8)
            neg = np.clip(np.round(-noise), 0, 255).astype(np.uint8)
        else:
            pos = neg = np.zeros((0,) + shape[1:], np.uint8)
        return cls(spec, slot, lighting, plate, illum, layers, pos, neg, ground, rng.permutation(NOISE_BANK))

    def noise_index(self, frame: int) -> int:
        """Which bank entry noises frame ``frame`` (0-based)."""
        return int(self._noise_order[frame % NOISE_BANK] if frame // NOISE_BANK % 2 == 0
                   else self._noise_order[::-1][frame % NOISE_BANK])

    def add_noise(self, image: np.ndarray, frame: int, out: np.ndarray | None = None) -> np.ndarray:
        """``image`` plus this camera's sensor noise for frame ``frame`` (0-based), saturating."""
        if len(self.noise_pos) == 0:
            if out is None:
                return image.copy()
            np.copyto(out, image)
            return out
        k = self.noise_index(frame)
        out = cv2.add(image, self.noise_pos[k], dst=out)
        return cv2.subtract(out, self.noise_neg[k], dst=out)

    def background(self, frame: int) -> np.ndarray:
        """The empty scene as recorded in frame ``frame`` (0-based): the plate plus its noise."""
        return self.add_noise(self.plate, frame)

    def occluder_mask(self) -> np.ndarray:
        """Pixels of the frame covered by any static occluder (bool, H x W)."""
        m = np.zeros((self.spec.height, self.spec.width), bool)
        for L in self.layers:
            m[L.y0:L.y1, L.x0:L.x1] |= L.mask
        return m


def shadow_offset(lighting: Lighting, height_m: float) -> tuple[float, float]:
    """Where the sun throws the shadow of the top of something ``height_m`` tall, relative to
    its foot, on the ground (``dx``, ``dz`` metres); (0, 0) without sun."""
    if not lighting.sunny:
        return 0.0, 0.0
    reach = 0.6 + 0.8 * abs(lighting.sun_dx)
    return lighting.sun_dx * height_m * reach, 0.35 * height_m * reach


def apply_light(rgb: np.ndarray, illum: np.ndarray | float, lighting: Lighting, saturation: float) -> np.ndarray:
    """Colours (RGB in [0, 1], any leading shape) as the camera records them: lit by
    ``illum`` and the slot's light, with the sensor's saturation; in [0, 255]."""
    x = rgb * np.asarray(illum, dtype=np.float32)[..., None] * np.asarray(lighting.gain, dtype=np.float32)
    x = x + np.float32(lighting.lift)
    grey = x.mean(-1, keepdims=True)
    return np.clip((grey + np.float32(saturation) * (x - grey)) * 255.0, 0, 255)
