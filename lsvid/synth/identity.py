"""The people of a footage set: how each one looks, how tall and broad, how they walk.

Appearance and gait are sampled from separate random streams keyed by
``(seed, person_id)``, so adding people or changing the twin fraction never
changes who an existing person is.  A twin copies its partner's appearance
(colours, textures, height, build, accessories) exactly and gets its own gait,
resampled until cadence, step length and arm swing all differ clearly: the two
can then be told apart by how they move and never by how they look.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from .config import SynthConfig
from .seeding import rng_for

RGB = tuple[int, int, int]

# Clothing colours as people wear them: mostly dark and neutral, a few bright.
TOP_COLOURS: list[tuple[RGB, float]] = [
    ((24, 24, 28), 9), ((58, 58, 64), 6), ((125, 125, 130), 5), ((225, 225, 218), 6), ((30, 40, 82), 6),
    ((45, 85, 165), 4), ((135, 170, 210), 3), ((170, 32, 38), 3), ((100, 28, 38), 2), ((42, 105, 55), 2),
    ((95, 100, 58), 2), ((172, 150, 112), 3), ((200, 186, 156), 3), ((102, 72, 46), 3), ((222, 190, 42), 1.5),
    ((224, 112, 32), 1), ((222, 142, 172), 1.5), ((92, 52, 122), 1), ((32, 122, 128), 1),
]
BOTTOM_COLOURS: list[tuple[RGB, float]] = [
    ((22, 22, 26), 10), ((55, 55, 60), 5), ((118, 118, 122), 3), ((32, 40, 70), 5), ((58, 80, 122), 8),
    ((112, 136, 172), 3), ((168, 148, 110), 3), ((196, 182, 150), 2), ((96, 70, 48), 2), ((222, 220, 212), 1),
    ((88, 94, 56), 1.5), ((140, 30, 40), 0.8),
]
SKIN_TONES: list[tuple[RGB, float]] = [
    ((250, 218, 190), 3), ((236, 192, 160), 4), ((214, 164, 128), 3), ((186, 134, 98), 2), ((146, 100, 70), 2),
    ((104, 70, 50), 2),
]
HAIR_COLOURS: list[tuple[RGB, float]] = [
    ((20, 18, 18), 6), ((52, 36, 26), 5), ((96, 66, 40), 3), ((188, 158, 98), 1.5), ((150, 150, 150), 1),
    ((120, 52, 30), 0.8),
]
SHOE_COLOURS: list[tuple[RGB, float]] = [((20, 20, 22), 6), ((230, 230, 228), 3), ((90, 62, 40), 2), ((110, 110, 115), 2)]
ACCESSORY_COLOURS: list[tuple[RGB, float]] = [
    ((22, 22, 24), 6), ((60, 60, 66), 3), ((36, 52, 100), 2), ((140, 30, 36), 1.5), ((110, 78, 50), 2),
    ((200, 190, 170), 1), ((40, 110, 60), 1), ((210, 170, 40), 0.7),
]

TOP_TEXTURES = ("plain", "stripes", "checks", "open_jacket", "logo")
TOP_TEXTURE_WEIGHTS = (0.45, 0.15, 0.1, 0.18, 0.12)
BOTTOM_KINDS = ("trousers", "shorts", "skirt")
BOTTOM_KIND_WEIGHTS = (0.78, 0.12, 0.10)
HATS = ("none", "cap", "beanie")
HAT_WEIGHTS = (0.75, 0.15, 0.10)
BAGS = ("none", "backpack", "shoulder", "handbag")
BAG_WEIGHTS = (0.5, 0.25, 0.15, 0.10)

# Twins must differ by at least this much in each gait parameter.
TWIN_MIN_STEP_HZ = 0.22
TWIN_MIN_STEP_LENGTH_M = 0.08
TWIN_MIN_ARM_SWING_DEG = 8.0


@dataclass(frozen=True)
class Appearance:
    """Everything visible about a person except how they move.

    Colours are RGB; ``top_alt`` is the second colour of a textured top (the
    stripes, the shirt under an open jacket, the logo); ``legwear`` is what
    shows below shorts or a skirt (skin or tights).
    """

    height_m: float
    build: float
    skin: RGB
    hair: RGB
    long_hair: bool
    top: RGB
    top_alt: RGB
    top_texture: str
    long_sleeves: bool
    bottom: RGB
    bottom_kind: str
    legwear: RGB
    shoes: RGB
    hat: str
    hat_colour: RGB
    bag: str
    bag_colour: RGB


@dataclass(frozen=True)
class Gait:
    """How a person walks.  Speed is cadence times step length, so feet do not slide."""

    step_hz: float
    step_length_m: float
    arm_swing_deg: float

    @property
    def speed_mps(self) -> float:
        return self.step_hz * self.step_length_m


@dataclass(frozen=True)
class Identity:
    """One person: a 1-based id, a look, a gait, and the id of their look-alike (-1: none)."""

    person_id: int
    appearance: Appearance
    gait: Gait
    twin_of: int = -1


def _pick(rng: np.random.Generator, table: list[tuple[RGB, float]], jitter: float = 0.08) -> RGB:
    """A palette colour, shifted a little in brightness and hue so no two people share it exactly."""
    w = np.array([p for _, p in table], dtype=float)
    base = np.array(table[rng.choice(len(table), p=w / w.sum())][0], dtype=float)
    c = base * rng.uniform(1 - jitter, 1 + jitter) + rng.normal(0, 6, 3)
    return tuple(int(v) for v in np.clip(np.round(c), 0, 255))  # type: ignore[return-value]


def _choice(rng: np.random.Generator, names: tuple[str, ...], weights: tuple[float, ...]) -> str:
    w = np.asarray(weights, dtype=float)
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def sample_appearance(rng: np.random.Generator) -> Appearance:
    """A plausible passer-by: clothing, body and accessories."""
    height = float(np.clip(rng.normal(1.72, 0.09), 1.5, 1.96))
    build = float(np.clip(rng.normal(1.0, 0.09), 0.82, 1.25))
    skin = _pick(rng, SKIN_TONES, 0.04)
    top = _pick(rng, TOP_COLOURS)
    top_alt = _pick(rng, TOP_COLOURS)
    # A texture drawn in nearly the top's own colour would be invisible.
    for _ in range(8):
        if np.abs(np.subtract(top_alt, top)).sum() > 120:
            break
        top_alt = _pick(rng, TOP_COLOURS)
    bottom_kind = _choice(rng, BOTTOM_KINDS, BOTTOM_KIND_WEIGHTS)
    legwear = skin if bottom_kind == "shorts" or rng.random() < 0.5 else _pick(rng, BOTTOM_COLOURS[:4])
    return Appearance(
        height_m=round(height, 3),
        build=round(build, 3),
        skin=skin,
        hair=_pick(rng, HAIR_COLOURS, 0.05),
        long_hair=bool(rng.random() < 0.3),
        top=top,
        top_alt=top_alt,
        top_texture=_choice(rng, TOP_TEXTURES, TOP_TEXTURE_WEIGHTS),
        long_sleeves=bool(rng.random() < 0.7),
        bottom=_pick(rng, BOTTOM_COLOURS),
        bottom_kind=bottom_kind,
        legwear=legwear,
        shoes=_pick(rng, SHOE_COLOURS, 0.05),
        hat=_choice(rng, HATS, HAT_WEIGHTS),
        hat_colour=_pick(rng, ACCESSORY_COLOURS),
        bag=_choice(rng, BAGS, BAG_WEIGHTS),
        bag_colour=_pick(rng, ACCESSORY_COLOURS),
    )


def sample_gait(rng: np.random.Generator, height_m: float) -> Gait:
    """Cadence 1.5–2.2 steps/s, step length growing with height: 0.8–1.9 m/s walkers."""
    step_hz = float(np.clip(rng.normal(1.85, 0.16), 1.5, 2.2))
    step_len = float(np.clip(rng.normal(0.41, 0.045) * height_m, 0.5, 0.88))
    arm = float(np.clip(rng.normal(22.0, 7.0), 8.0, 38.0))
    return Gait(round(step_hz, 3), round(step_len, 3), round(arm, 2))


def gaits_differ(a: Gait, b: Gait) -> bool:
    """True when two gaits differ enough in every parameter to tell twins apart."""
    return (
        abs(a.step_hz - b.step_hz) >= TWIN_MIN_STEP_HZ
        and abs(a.step_length_m - b.step_length_m) >= TWIN_MIN_STEP_LENGTH_M
        and abs(a.arm_swing_deg - b.arm_swing_deg) >= TWIN_MIN_ARM_SWING_DEG
    )


def twin_pairs(config: SynthConfig) -> list[tuple[int, int]]:
    """Which person ids form look-alike pairs, ``(original, twin)``: ``twins * N / 2`` pairs."""
    n_pairs = int(round(config.twins * config.identities / 2))
    if n_pairs == 0:
        return []
    order = rng_for(config.seed, "twins").permutation(np.arange(1, config.identities + 1))
    chosen = order[: 2 * n_pairs].reshape(-1, 2)
    return sorted((int(min(a, b)), int(max(a, b))) for a, b in chosen)


def sample_identities(config: SynthConfig) -> list[Identity]:
    """All people of a footage set, ids 1..N, twins included."""
    people = {}
    for pid in range(1, config.identities + 1):
        app = sample_appearance(rng_for(config.seed, "appearance", pid))
        people[pid] = Identity(pid, app, sample_gait(rng_for(config.seed, "gait", pid), app.height_m))
    for a, b in twin_pairs(config):
        rng = rng_for(config.seed, "twin-gait", b)
        original = people[a]
        gait = sample_gait(rng, original.appearance.height_m)
        for _ in range(200):
            if gaits_differ(gait, original.gait):
                break
            gait = sample_gait(rng, original.appearance.height_m)
        else:  # pragma: no cover - the ranges above make this practically unreachable
            gait = replace(gait, step_hz=round(original.gait.step_hz + (0.3 if original.gait.step_hz < 1.85 else -0.3), 3))
        people[a] = replace(original, twin_of=b)
        people[b] = Identity(b, original.appearance, gait, twin_of=a)
    return [people[p] for p in sorted(people)]


def hex_rgb(c: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*c)


def identity_row(person: Identity) -> dict:
    """A person's attributes as one flat row of identities.csv (colours as ``#rrggbb``)."""
    row: dict = {"person_id": person.person_id, "twin_of": person.twin_of}
    for f in fields(Appearance):
        v = getattr(person.appearance, f.name)
        row[f.name] = hex_rgb(v) if isinstance(v, tuple) else v
    row.update(
        step_hz=person.gait.step_hz,
        step_length_m=person.gait.step_length_m,
        arm_swing_deg=person.gait.arm_swing_deg,
        speed_mps=round(person.gait.speed_mps, 3),
    )
    return row


APPEARANCE_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Appearance))
GAIT_COLUMNS: tuple[str, ...] = ("step_hz", "step_length_m", "arm_swing_deg", "speed_mps")
