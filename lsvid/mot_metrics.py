"""Tracking scores as the MOTChallenge devkit computes them: TrackEval's HOTA, CLEAR and Identity.

:func:`score_tracking` writes the truth and the tracker's output in the
MOTChallenge layout into a temporary folder and runs TrackEval's own
``MotChallenge2DBox`` dataset and metrics on it, so its preprocessing (truth
rows whose *consider* flag is 0 are dropped, and for MOT16/17/20-style truth
the tracker boxes matched to distractor classes are removed) and its
identity-switch rule are exactly the devkit's; nothing is re-implemented
here.  Frames are 1-based as in MOT files; only the frames ``1..num_frames``
are scored (PETS 2009's public truth covers its first 69 frames only).

Boxes are ``x, y, w, h`` in the same convention on both sides (this project
writes 0-based pixels; MOTChallenge's are 1-based, which shifts both files
alike and changes no IoU).

TrackEval reads no visibility: the MOT16/17/20 rules drop truth rows whose
consider flag is 0 and rows of other classes than pedestrian (forgiving
tracker boxes matched to :data:`MOT_DISTRACTOR_CLASSES`); the MOT15 rules,
for truth without classes, drop consider-0 rows only.  A box however little
visible is scored when its flag is 1.

:func:`combine_tracking` combines the scores of several sequences as the
devkit's ``COMBINED_SEQ`` row does (counts summed; HOTA's association
accuracy weighted by its true positives), from the per-sequence results
TrackEval returned.
"""
from __future__ import annotations

import contextlib
import io
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lsvid_core.errors import InputError, MissingDependencyError

from .mot import DISTRACTOR_CLASSES as MOT_DISTRACTOR_CLASSES  # person on vehicle, static person, distractor, reflection


@dataclass(frozen=True)
class TrackingScores:
    """The devkit's headline numbers for one sequence (fractions in [0, 1], counts as integers)."""

    HOTA: float
    DetA: float
    AssA: float
    MOTA: float
    MOTP: float
    IDF1: float
    IDP: float
    IDR: float
    IDSW: int
    FP: int
    FN: int
    Frag: int
    gt_ids: int
    gt_boxes: int
    tracker_ids: int
    tracker_boxes: int
    MT: int = 0  # truth people tracked for at least 80% of their boxes
    PT: int = 0
    ML: int = 0  # ... for at most 20%
    benchmark: str = "MOT17"  # the devkit rules scored under ("MOT15+MOT17" when combined across both)
    frames: int = 0  # frames scored
    #: TrackEval's own per-metric results, for :func:`combine_tracking`; not part of the record
    raw: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, float | int | str]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "raw"}


def _mot_lines(df: pd.DataFrame, *, truth: bool) -> str:
    cols = ["frame", "id", "bb_left", "bb_top", "bb_width", "bb_height"]
    rows = df[cols].to_numpy(np.float64)
    if truth:
        conf = df["conf"].to_numpy(np.float64) if "conf" in df else np.ones(len(df))
        cls = df["class"].to_numpy(np.float64) if "class" in df else np.ones(len(df))
        vis = df["visibility"].to_numpy(np.float64) if "visibility" in df else np.ones(len(df))
        extra = np.stack([conf, cls, vis], 1)
    else:
        extra = np.stack([np.ones(len(df)), -np.ones(len(df)), -np.ones(len(df)), -np.ones(len(df))], 1)
    out = np.concatenate([rows, extra], 1)
    return "".join(",".join(f"{v:.6g}" if j >= 2 else str(int(v)) for j, v in enumerate(r)) + "\n" for r in out)


def score_tracking(truth: pd.DataFrame, tracks: pd.DataFrame, *, num_frames: int | None = None, benchmark: str = "MOT17") -> TrackingScores:
    """Score ``tracks`` (columns ``frame, id, bb_left, bb_top, bb_width, bb_height``, 1-based frames)
    against ``truth`` (the same plus ``conf`` = consider flag, ``class``, ``visibility``) with TrackEval.

    ``benchmark`` chooses the devkit's preprocessing: ``"MOT17"`` (truth with
    classes: only pedestrians scored, tracker boxes on distractor classes
    removed) or ``"MOT15"`` (no classes).  ``num_frames`` defaults to the last
    truth frame; tracker rows after it are not scored.
    """
    try:
        import trackeval
    except ImportError as e:  # pragma: no cover - a core dependency
        raise MissingDependencyError("tracking scores need TrackEval: pip install trackeval") from e
    if benchmark not in ("MOT15", "MOT16", "MOT17", "MOT20"):
        raise InputError(f"benchmark {benchmark!r}: expected MOT15, MOT16, MOT17 or MOT20 (the devkit's preprocessing rules)")
    n = int(num_frames if num_frames is not None else (truth["frame"].max() if len(truth) else 0))
    if n < 1:
        raise InputError("no truth frames to score against")
    tracks = tracks[(tracks["frame"] >= 1) & (tracks["frame"] <= n)]
    truth = truth[(truth["frame"] >= 1) & (truth["frame"] <= n)]
    with tempfile.TemporaryDirectory(prefix="lsvid-trackeval-") as d:
        root = Path(d)
        seq, split = "seq", f"{benchmark}-train"
        (root / "gt" / split / seq / "gt").mkdir(parents=True)
        (root / "gt" / split / seq / "gt" / "gt.txt").write_text(_mot_lines(truth, truth=True))
        (root / "gt" / split / seq / "seqinfo.ini").write_text(f"[Sequence]\nname={seq}\nseqLength={n}\n")
        (root / "trackers" / split / "ours" / "data").mkdir(parents=True)
        (root / "trackers" / split / "ours" / "data" / f"{seq}.txt").write_text(_mot_lines(tracks, truth=False))
        dataset = trackeval.datasets.MotChallenge2DBox({
            "GT_FOLDER": str(root / "gt"), "TRACKERS_FOLDER": str(root / "trackers"), "BENCHMARK": benchmark,
            "SPLIT_TO_EVAL": "train", "SEQ_INFO": {seq: n}, "TRACKERS_TO_EVAL": ["ours"], "PRINT_CONFIG": False,
        })
        evaluator = trackeval.Evaluator({
            "PRINT_RESULTS": False, "PRINT_CONFIG": False, "TIME_PROGRESS": False, "OUTPUT_SUMMARY": False,
            "OUTPUT_DETAILED": False, "PLOT_CURVES": False, "DISPLAY_LESS_PROGRESS": True,
            "LOG_ON_ERROR": None,  # else it appends to a file inside the installed package
        })
        with contextlib.redirect_stdout(io.StringIO()):  # TrackEval prints its configs and progress
            try:
                results, _ = evaluator.evaluate([dataset], _metrics(trackeval)[:-1])  # it adds Count itself
            except trackeval.utils.TrackEvalException as e:
                raise InputError(f"TrackEval ({benchmark} rules) cannot score this truth: {e}") from None
    return _scores(results["MotChallenge2DBox"]["ours"][seq]["pedestrian"], benchmark, n)


def _metrics(trackeval) -> list:
    quiet = {"PRINT_CONFIG": False}
    return [trackeval.metrics.HOTA(quiet), trackeval.metrics.CLEAR({**quiet, "THRESHOLD": 0.5}),
            trackeval.metrics.Identity({**quiet, "THRESHOLD": 0.5}), trackeval.metrics.Count(quiet)]


def _scores(r: dict[str, dict[str, Any]], benchmark: str, frames: int) -> TrackingScores:
    h, c, i, cnt = r["HOTA"], r["CLEAR"], r["Identity"], r.get("Count", {})
    return TrackingScores(
        HOTA=float(np.mean(h["HOTA"])), DetA=float(np.mean(h["DetA"])), AssA=float(np.mean(h["AssA"])),
        MOTA=float(c["MOTA"]), MOTP=float(c["MOTP"]), IDF1=float(i["IDF1"]), IDP=float(i["IDP"]), IDR=float(i["IDR"]),
        IDSW=int(c["IDSW"]), FP=int(c["CLR_FP"]), FN=int(c["CLR_FN"]), Frag=int(c["Frag"]),
        gt_ids=int(cnt.get("GT_IDs", 0)), gt_boxes=int(cnt.get("GT_Dets", c["CLR_TP"] + c["CLR_FN"])),
        tracker_ids=int(cnt.get("IDs", 0)), tracker_boxes=int(cnt.get("Dets", c["CLR_TP"] + c["CLR_FP"])),
        MT=int(c["MT"]), PT=int(c["PT"]), ML=int(c["ML"]), benchmark=benchmark, frames=int(frames),
        raw={k: r[k] for k in ("HOTA", "CLEAR", "Identity", "Count") if k in r},
    )


def combine_tracking(scores: list[TrackingScores]) -> TrackingScores:
    """The scores of several sequences together, as the devkit's combined row computes them
    (TrackEval's own ``combine_sequences`` on the per-sequence results)."""
    if not scores:
        raise InputError("combine_tracking: no sequences to combine")
    if any(s.raw is None for s in scores):
        raise InputError("combine_tracking: needs scores as score_tracking returns them (read back from JSON they lack TrackEval's details)")
    if len(scores) == 1:
        return scores[0]
    import trackeval

    with contextlib.redirect_stdout(io.StringIO()):
        combined = {}
        for m in _metrics(trackeval):
            name = m.get_name()
            combined[name] = m.combine_sequences({str(k): s.raw[name] for k, s in enumerate(scores)})
    benchmark = "+".join(sorted({s.benchmark for s in scores}))
    return _scores(combined, benchmark, sum(s.frames for s in scores))


__all__ = ["MOT_DISTRACTOR_CLASSES", "TrackingScores", "combine_tracking", "score_tracking"]
