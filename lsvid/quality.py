"""How good was the curation?  Scored against MOT truth where the footage has it.

* detection recall and precision at IoU >= 0.5 (one-to-one matching per frame);
* tracking: the MOTChallenge devkit's scores of the raw tracks — HOTA (DetA,
  AssA), CLEAR (MOTA, MOTP, identity switches, fragmentations, mostly
  tracked/lost) and Identity (IDF1, IDP, IDR) — computed by TrackEval itself
  (:func:`lsvid.mot_metrics.score_tracking`), under the MOT15 rules for truth
  without a class column (MOT15's 10-column files) and the MOT17 rules for
  truth with one (MOT16/17/20, and ``lsvid synth``'s);
* tracklet purity of the kept tracklets: the share of a tracklet's boxes that
  belong to its majority person;
* identity assignment: purity, inverse purity and pairwise F1 of the
  dataset's person ids against the truth ids.

Frames: MOT files count from 1, the shard tables from 0; both sides are
put on the files' numbering before scoring.  Boxes are compared as they are
(0-based pixels here, 1-based in MOTChallenge's files: the same convention on
both sides whenever detections and truth come from one benchmark).  A video is
scored on the frames its truth covers (from frame 1 to its last truth frame,
so PETS 2009's truth of frames 1-69 scores those) and, with ``frame_step`` N,
on the frames the pipeline processed (every N-th, renumbered 1, 2, ... for
TrackEval, so an identity switch is counted between processed frames).

Truth rows that do not count (consider flag 0, or a class other than
pedestrian; :func:`lsvid.mot.considered`) are never scored.  For detection
recall and precision they, and truth boxes less than ``min_visibility``
visible, are "don't care": missing them is no error and a box on them is no
false positive.  TrackEval reads no visibility: its tracking scores drop the
rows whose consider flag is 0 and (MOT17 rules) other classes, forgiving
tracker boxes on distractor classes, and score every other box however hidden.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from .boxes import iou_matrix
from .identities import clustering_quality
from .mot import BOX_COLUMNS, considered, read_truth, truth_benchmark
from .mot_metrics import TrackingScores, combine_tracking, score_tracking

GT_BOX = list(BOX_COLUMNS)
BOX = ["x", "y", "w", "h"]


def _match(a: np.ndarray, b: np.ndarray, min_iou: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-to-one matching maximising IoU; pairs below ``min_iou`` are not matches."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros(0, int), np.zeros(0, int), np.zeros((len(a), len(b)))
    iou = iou_matrix(a, b)
    r, c = linear_sum_assignment(-iou)
    ok = iou[r, c] >= min_iou
    return r[ok], c[ok], iou


def _detection_counts(gt: pd.DataFrame, detections: pd.DataFrame, frames: np.ndarray, min_iou: float,
                      min_visibility: float) -> dict[str, int]:
    """TP, FP, FN of ``detections`` (0-based frames) against ``gt`` (1-based) on ``frames`` (0-based)."""
    care_all = considered(gt) & (gt["visibility"].to_numpy(float) >= min_visibility)
    gt = gt.assign(_care=care_all)
    gt_by = {int(f) - 1: g for f, g in gt.groupby("frame")}
    det_by = {int(f): g for f, g in detections.groupby("frame")}
    tp = fp = fn = 0
    for f in frames.tolist():
        g = gt_by.get(f)
        care = g["_care"].to_numpy(bool) if g is not None else np.zeros(0, bool)
        gb = g[GT_BOX].to_numpy(float) if g is not None else np.zeros((0, 4))
        d = det_by.get(f)
        if d is not None and len(d):
            r, c, _ = _match(d[BOX].to_numpy(float), gb, min_iou)
            matched_care = care[c]
            tp += int(matched_care.sum())
            fp += len(d) - len(r)  # matched to a don't-care box: neither
            fn += int(care.sum() - matched_care.sum())
        else:
            fn += int(care.sum())
    return {"tp": tp, "fp": fp, "fn": fn}


def _scored_frames(gt: pd.DataFrame, num_frames: int | None, frame_step: int) -> np.ndarray:
    """0-based frames scored: every ``frame_step``-th from 0 up to the last truth frame (and the video's end)."""
    last = int(gt["frame"].max()) if len(gt) else 0
    if num_frames:
        last = min(last, int(num_frames))
    return np.arange(0, last, max(int(frame_step), 1), dtype=np.int64)


def score_video(truth_file: Path, detections: pd.DataFrame, tracks: pd.DataFrame, *, min_iou: float = 0.5, min_visibility: float = 0.5,
                frame_step: int = 1, num_frames: int | None = None) -> tuple[dict[str, int], TrackingScores | None, int]:
    """Detection counts, TrackEval's tracking scores (None: no truth frame to score) and the number of
    frames scored, of one video (frames in the tables 0-based, ``track_id`` the tracks' id)."""
    gt = read_truth(truth_file)
    frames = _scored_frames(gt, num_frames, frame_step)
    det = _detection_counts(gt, detections, frames, min_iou, min_visibility)
    if not len(frames):
        return det, None, 0
    step = max(int(frame_step), 1)
    keep_gt = ((gt["frame"].to_numpy() - 1) % step == 0) & (gt["frame"].to_numpy() <= frames[-1] + 1)
    g = gt[keep_gt].assign(frame=lambda t: (t["frame"] - 1) // step + 1)
    tf = tracks["frame"].to_numpy(np.int64) if len(tracks) else np.zeros(0, np.int64)
    t = tracks[(tf % step == 0) & (tf <= frames[-1])]
    t = pd.DataFrame({"frame": t["frame"].to_numpy(np.int64) // step + 1, "id": t["track_id"].to_numpy(np.int64),
                      **{gc: t[c].to_numpy(np.float64) for gc, c in zip(GT_BOX, BOX)}})
    scores = score_tracking(g, t, num_frames=len(frames), benchmark=truth_benchmark(truth_file))
    return det, scores, len(frames)


def video_quality(truth_file: Path, detections: pd.DataFrame, tracks: pd.DataFrame, *, min_iou: float = 0.5, min_visibility: float = 0.5,
                  frame_step: int = 1, num_frames: int | None = None) -> dict[str, Any]:
    """Detection and tracking scores of one video (frames in the tables are 0-based), JSON-ready:
    ``detection`` (tp, fp, fn), ``frames_scored``, ``tracking`` (:class:`TrackingScores` as a dict, or None)."""
    det, scores, n = score_video(truth_file, detections, tracks, min_iou=min_iou, min_visibility=min_visibility,
                                 frame_step=frame_step, num_frames=num_frames)
    return {"detection": det, "frames_scored": n, "tracking": None if scores is None else scores.to_dict()}


@dataclass(frozen=True)
class CurationQuality:
    """Scores of a curation run against MOT truth (see the module docstring).

    A score is None where it could not be computed: all of them without a
    video with truth, the tracklet ones without tracklets, ``identity`` when
    the identities came from the truth itself.
    """

    videos_with_truth: int
    detection_recall: float | None = None
    detection_precision: float | None = None
    # the devkit's combined row over the videos with truth (TrackEval; fractions in [0, 1])
    hota: float | None = None
    deta: float | None = None
    assa: float | None = None
    mota: float | None = None
    idf1: float | None = None
    id_switches: int | None = None
    tracking: dict[str, Any] | None = None  # every TrackingScores field of that row: MOTP, IDP, IDR, FP, FN, Frag, MT, ML, benchmark, ...
    frames_scored: int | None = None
    tracklet_purity: float | None = None  # mean over tracklets
    tracklet_purity_boxes: float | None = None  # weighted by tracklet length
    identities_mode: str | None = None  # truth | cluster | csv
    identity: dict[str, float] | None = None  # lsvid.identities.clustering_quality
    per_video: dict[str, dict[str, Any]] = field(default_factory=dict)  # shard name -> video_quality()'s record

    def to_dict(self, *, per_video: bool = True) -> dict[str, Any]:
        """The scores that exist, as JSON-ready data; ``per_video=False`` leaves the per-video ones out
        (what ``dataset.json`` keeps)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "per_video" and getattr(self, f.name) is not None}
        if per_video and self.per_video:
            out["per_video"] = self.per_video
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CurationQuality:
        """Read :meth:`to_dict` (or ``dataset.json``'s ``quality``) back."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def _shard_frames(shard: Path) -> tuple[int, int | None]:
    """The frame step a shard was made with and its video's frame count (from its ``DONE.json``)."""
    try:
        raw = json.loads((shard / "DONE.json").read_text())
        return int(raw["config"]["frame_step"]), int(raw["info"]["frames"])
    except (OSError, ValueError, KeyError, TypeError):
        return 1, None


def curation_quality(
    work: Path, shards: list[str], truth_files: list[Path | None], tracklets: pd.DataFrame, person_ids: np.ndarray, identities_mode: str = "cluster"
) -> CurationQuality:
    """Scores over all videos with truth, and of the final tracklets and identities.

    Identities taken from the truth itself are not scored against it.
    """
    per_video, tracked = {}, []
    for name, truth in zip(shards, truth_files):
        if truth is None or not Path(truth).exists():
            continue
        d = work / "shards" / name
        step, frames = _shard_frames(d)
        det, sc, n = score_video(Path(truth), pd.read_parquet(d / "detections.parquet"), pd.read_parquet(d / "tracks.parquet"),
                                 frame_step=step, num_frames=frames)
        if sc is None:
            continue  # a truth file without a single box: nothing to score against
        per_video[name] = {"detection": det, "frames_scored": n, "tracking": sc.to_dict()}
        tracked.append(sc)
    if not per_video:
        return CurationQuality(videos_with_truth=0)
    tp, fp, fn = (sum(v["detection"][k] for v in per_video.values()) for k in ("tp", "fp", "fn"))
    t = combine_tracking(tracked)
    scores: dict[str, Any] = {
        "detection_recall": tp / max(tp + fn, 1),
        "detection_precision": tp / max(tp + fp, 1),
        "hota": t.HOTA, "deta": t.DetA, "assa": t.AssA, "mota": t.MOTA, "idf1": t.IDF1, "id_switches": t.IDSW,
        "tracking": t.to_dict(), "frames_scored": t.frames,
    }
    if len(tracklets):
        pur = tracklets["truth_purity"].to_numpy(float)
        known, n = np.isfinite(pur), tracklets["num_frames"].to_numpy(float)
        # tracklets outside the annotated frames (NaN purity) are unknown, not impure
        scores["tracklet_purity"] = float(pur[known].mean()) if known.any() else None
        scores["tracklet_purity_boxes"] = float((pur[known] * n[known]).sum() / n[known].sum()) if known.any() else None
        scores["identities_mode"] = identities_mode
        if identities_mode != "truth":
            scores["identity"] = clustering_quality(np.asarray(person_ids), tracklets["truth_id"].to_numpy())
    return CurationQuality(videos_with_truth=len(per_video), per_video=per_video, **scores)


def format_quality(q: CurationQuality) -> str:
    """The scores as a few lines for the terminal."""
    if not q.videos_with_truth:
        return "curation quality: no MOT truth found beside the videos; nothing to score"
    frames = f", {q.frames_scored:,} frames" if q.frames_scored else ""
    lines = [
        f"curation quality over {q.videos_with_truth} video(s) with truth{frames}:",
        f"  detection   recall {q.detection_recall:.1%}  precision {q.detection_precision:.1%}  (IoU >= 0.5; truth less than half visible: don't care)",
    ]
    if q.hota is not None:
        t = q.tracking or {}
        rules = f", {t['benchmark']} rules" if t.get("benchmark") else ""
        lines.append(f"  tracking    HOTA {q.hota:.1%} (DetA {q.deta:.1%}, AssA {q.assa:.1%})  MOTA {q.mota:.1%}  IDF1 {q.idf1:.1%}  "
                     f"ID switches {q.id_switches}  (TrackEval{rules})")
    elif q.idf1 is not None:  # read back from a dataset.json of an older version
        lines.append(f"  tracking    IDF1 {q.idf1:.1%}  ID switches {q.id_switches}  MOTA {q.mota:.1%}")
    if q.tracklet_purity is not None:
        lines.append(f"  tracklets   purity {q.tracklet_purity:.1%} (mean), {q.tracklet_purity_boxes:.1%} (boxes)")
        idq = q.identity
        if q.identities_mode == "truth":
            lines.append("  identities  taken from the truth (majority person of each tracklet)")
        elif idq:
            lines.append(
                f"  identities  purity {idq['purity']:.1%}  inverse purity {idq['inverse_purity']:.1%}  pairwise F1 {idq['pairwise_f1']:.1%}  "
                f"({idq['identities_predicted']} predicted for {idq['identities_true']} true)"
            )
    return "\n".join(lines)
