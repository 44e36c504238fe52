"""Per-dataset evaluation settings: which ids are junk, which are distractors, ranks, trials."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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
    """

    name: str
    junk_pids: tuple[int, ...] = ()
    distractor_pids: tuple[int, ...] = ()
    max_rank: int = 20
    num_trials: int = 1
    # the rule applied per query: drop gallery items of the same id seen by the same camera
    same_camera_excluded: bool = True
    notes: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["junk_pids"] = list(self.junk_pids)
        d["distractor_pids"] = list(self.distractor_pids)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Protocol":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        known["junk_pids"] = tuple(int(x) for x in known.get("junk_pids", ()))
        known["distractor_pids"] = tuple(int(x) for x in known.get("distractor_pids", ()))
        return cls(**known)


# The protocol of datasets curated by ``lsvid`` from footage: LS-VID's (one fixed
# split, no junk ids; person_id -1 marks tracklets no identity could be given).
CURATED = Protocol(name="lsvid-curated", junk_pids=(-1,), max_rank=20)
