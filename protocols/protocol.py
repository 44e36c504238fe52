"""Per-dataset evaluation settings: which ids are junk, which are distractors, ranks, trials."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from lsvid_core.config import check, from_dict
from lsvid_core.errors import ConfigError

from .metrics import AP_VARIANTS


@dataclass(frozen=True)
class Protocol:
    """How a dataset is scored.

    ``junk_pids``: gallery items with these person ids are removed from every
    query's ranking (they neither help nor hurt), e.g. MARS's ``-1`` boxes.
    ``distractor_pids``: ids that are never a true match but stay in the gallery
    as negatives, e.g. MARS's ``0`` (false detections).  They need no special
    handling in scoring; they are listed so reports can count them.
    ``num_trials``: PRID-2011 and iLIDS-VID are scored as the mean over 10
    random identity splits; the others have one fixed split.
    ``average_precision``: which AP definition mAP follows, one of
    :data:`protocols.metrics.AP_VARIANTS` -- ``"torchreid"`` (mean precision
    at each true match) or ``"market1501"`` (the official MATLAB code's
    trapezoid rule); see :mod:`protocols.metrics`.  A ``dataset.json``
    written before the field existed reads as ``"torchreid"``, what its
    numbers were computed with.
    """

    name: str
    junk_pids: tuple[int, ...] = ()
    distractor_pids: tuple[int, ...] = ()
    max_rank: int = 20
    num_trials: int = 1
    # the rule applied per query: drop gallery items of the same id seen by the same camera
    same_camera_excluded: bool = True
    average_precision: str = AP_VARIANTS[0]
    notes: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        check(
            self.average_precision in AP_VARIANTS,
            "average_precision",
            f"{self.average_precision!r} is not one of {', '.join(AP_VARIANTS)}",
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["junk_pids"] = list(self.junk_pids)
        d["distractor_pids"] = list(self.distractor_pids)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "protocol") -> Protocol:
        """Read a ``dataset.json`` protocol, each field type-checked (keys of later versions ignored)."""
        if not isinstance(d, dict):
            raise ConfigError(f"{where}: expected a JSON object, got {type(d).__name__}")
        return from_dict(cls, {k: d[k] for k in cls.__dataclass_fields__ if k in d}, where)


# The protocol of datasets curated by ``lsvid`` from footage: LS-VID's (one fixed
# split, no junk ids; person_id -1 marks tracklets no identity could be given).
CURATED = Protocol(name="lsvid-curated", junk_pids=(-1,), max_rank=20)
