"""Every knob of the synthetic footage generator, in one small dataclass.

The defaults are the CLI's defaults.  Ids written to the truth files are
1-based everywhere (person, camera, time slot, MOT frame), as in the public
datasets; the Python API takes the same 1-based camera and slot numbers.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from lsvid_core.config import at_least, check, fraction, from_dict, positive
from lsvid_core.errors import ConfigError

#: Bump when the same config no longer gives the same truth (or pictures).
GENERATOR_VERSION = "1.0"


def parse_size(text: str) -> tuple[int, int]:
    """``"640x360"`` -> ``(640, 360)`` (width, height)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"size {text!r}: expected WIDTHxHEIGHT, e.g. 640x360") from None
    return w, h


@dataclass(frozen=True)
class SynthConfig:
    """What to generate: the camera network, its people, and how the pictures degrade.

    Fractions are of identities: ``twins=0.3`` puts 30% of the people in
    look-alike pairs (15% of the identities are the second of a pair);
    ``pairs=0.1`` makes 10% of the people walk beside a companion.
    ``noise``, ``blur`` and ``compression`` scale each camera's own sampled
    amount; 0 turns the effect off (tests use that for exact pixel checks).
    """

    cameras: int = 4
    slots: int = 1
    identities: int = 60
    seconds: float = 60.0
    fps: int = 25
    size: tuple[int, int] = (640, 360)
    twins: float = 0.3
    seed: int = 0
    distractors: float = 0.2
    pairs: float = 0.1
    pauses: float = 0.2
    max_cameras: int = 4
    transit_s: tuple[float, float] = (2.0, 8.0)
    occluders: tuple[int, int] = (2, 4)
    min_visit_s: float = 1.0
    noise: float = 1.0
    blur: float = 1.0
    compression: float = 1.0
    shadows: bool = True

    def __post_init__(self) -> None:
        w, h = self.size
        at_least(self, ("seed", "noise", "blur", "compression", "min_visit_s"), 0)
        at_least(self, ("cameras", "slots", "identities", "max_cameras"), 1)
        positive(self, ("seconds", "fps"))
        check(w >= 64 and h >= 48 and not w % 2 and not h % 2, "size",
              f"{w}x{h}: width and height must be even and at least 64x48 (video codecs need even sizes)")
        fraction(self, ("twins", "distractors", "pairs", "pauses"))
        check(0 <= self.transit_s[0] <= self.transit_s[1], "transit_s", f"{list(self.transit_s)}: need 0 <= low <= high")
        check(0 <= self.occluders[0] <= self.occluders[1], "occluders", f"{list(self.occluders)}: need 0 <= low <= high")

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]

    @property
    def num_frames(self) -> int:
        """Frames in every video (each camera records each slot for ``seconds``)."""
        return max(1, int(round(self.seconds * self.fps)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (tuples become lists); :meth:`from_dict` reads it back."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "config") -> SynthConfig:
        """Unknown keys and values of the wrong type are refused, naming the field."""
        return from_dict(cls, d, where)
