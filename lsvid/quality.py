"""How good was the curation?  Scored against MOT truth where the footage has it.

* detection recall and precision at IoU >= 0.5 (one-to-one matching per frame);
* tracking: IDF1, identity switches and MOTA of the raw tracks, computed by
  ``motmetrics`` (its accumulator and metric definitions; the IoU distances
  are computed here because motmetrics' own helper needs NumPy < 2);
* tracklet purity of the kept tracklets: the share of a tracklet's boxes that
  belong to its majority person;
* identity assignment: purity, inverse purity and pairwise F1 of the
  dataset's person ids against the truth ids.

Truth boxes less than ``min_visibility`` visible are "don't care": missing
them is no error and a box on them is no false positive.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from .boxes import iou_matrix
from .identities import clustering_quality
from .mot import read_mot

GT_BOX = ["bb_left", "bb_top", "bb_width", "bb_height"]
BOX = ["x", "y", "w", "h"]


def _match(a: np.ndarray, b: np.ndarray, min_iou: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-to-one matching maximising IoU; pairs below ``min_iou`` are not matches."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros(0, int), np.zeros(0, int), np.zeros((len(a), len(b)))
    iou = iou_matrix(a, b)
    r, c = linear_sum_assignment(-iou)
    ok = iou[r, c] >= min_iou
    return r[ok], c[ok], iou


def video_quality(truth_file: Path, detections: pd.DataFrame, tracks: pd.DataFrame, *, min_iou: float = 0.5, min_visibility: float = 0.5) -> dict[str, Any]:
    """Detection and tracking scores of one video (frames in the tables are 0-based)."""
    import motmetrics as mm

    gt = read_mot(truth_file)
    gt = gt.assign(frame=gt["frame"] - 1)
    frames = sorted(set(detections["frame"]) | set(tracks["frame"]) | set(gt["frame"]))
    gt_by = {f: g for f, g in gt.groupby("frame")}
    det_by = {f: g for f, g in detections.groupby("frame")}
    trk_by = {f: g for f, g in tracks.groupby("frame")}
    tp = fp = fn = 0
    acc = mm.MOTAccumulator(auto_id=False)
    empty = pd.DataFrame(columns=GT_BOX + ["id", "visibility"])
    for f in frames:
        g = gt_by.get(f, empty)
        care = g["visibility"].to_numpy(float) >= min_visibility
        gb = g[GT_BOX].to_numpy(float)
        d = det_by.get(f)
        if d is not None and len(d):
            r, c, _ = _match(d[BOX].to_numpy(float), gb, min_iou)
            matched_care = care[c]
            tp += int(matched_care.sum())
            fp += len(d) - len(r)  # matched to a don't-care box: neither
            fn += int(care.sum() - matched_care.sum())
        else:
            fn += int(care.sum())
        t = trk_by.get(f)
        tb = t[BOX].to_numpy(float) if t is not None else np.zeros((0, 4))
        tids = t["track_id"].to_numpy() if t is not None else np.zeros(0, int)
        # hypotheses that sit on a don't-care box are removed before scoring
        if len(tb) and (~care).any():
            r, c, _ = _match(tb, gb, min_iou)
            drop = r[~care[c]]
            keep = np.setdiff1d(np.arange(len(tb)), drop)
            tb, tids = tb[keep], tids[keep]
        gcare, gids = gb[care], g["id"].to_numpy()[care]
        iou = iou_matrix(gcare, tb) if len(gcare) and len(tb) else np.zeros((len(gcare), len(tb)))
        dist = np.where(iou >= min_iou, 1.0 - iou, np.nan)
        acc.update(gids.tolist(), tids.tolist(), dist, frameid=int(f))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # motmetrics warns about pandas idioms under pandas 3
        s = mm.metrics.create().compute(acc, metrics=["idf1", "num_switches", "mota", "num_unique_objects", "mostly_tracked"], name="v")
    return {
        "detection": {"tp": tp, "fp": fp, "fn": fn},
        "idf1": float(s["idf1"].iloc[0]),
        "id_switches": int(s["num_switches"].iloc[0]),
        "mota": float(s["mota"].iloc[0]),
        "objects": int(s["num_unique_objects"].iloc[0]),
        "mostly_tracked": int(s["mostly_tracked"].iloc[0]),
    }


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
    idf1: float | None = None  # over videos, weighted by their number of truth people
    id_switches: int | None = None
    mota: float | None = None
    tracklet_purity: float | None = None  # mean over tracklets
    tracklet_purity_boxes: float | None = None  # weighted by tracklet length
    identities_mode: str | None = None  # truth | cluster | csv
    identity: dict[str, float] | None = None  # lsvid.identities.clustering_quality
    per_video: dict[str, dict[str, Any]] = field(default_factory=dict)  # shard name -> video_quality()

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


def curation_quality(
    work: Path, shards: list[str], truth_files: list[Path | None], tracklets: pd.DataFrame, person_ids: np.ndarray, identities_mode: str = "cluster"
) -> CurationQuality:
    """Scores over all videos with truth, and of the final tracklets and identities.

    Identities taken from the truth itself are not scored against it.
    """
    per_video = {}
    for name, truth in zip(shards, truth_files):
        if truth is None or not Path(truth).exists():
            continue
        d = work / "shards" / name
        per_video[name] = video_quality(Path(truth), pd.read_parquet(d / "detections.parquet"), pd.read_parquet(d / "tracks.parquet"))
    if not per_video:
        return CurationQuality(videos_with_truth=0)
    videos = list(per_video.values())
    tp, fp, fn = (sum(v["detection"][k] for v in videos) for k in ("tp", "fp", "fn"))
    w = np.maximum(np.array([v["objects"] for v in videos], float), 1)
    scores: dict[str, Any] = {
        "detection_recall": tp / max(tp + fn, 1),
        "detection_precision": tp / max(tp + fp, 1),
        "idf1": float(np.average([v["idf1"] for v in videos], weights=w)),
        "id_switches": int(sum(v["id_switches"] for v in videos)),
        "mota": float(np.average([v["mota"] for v in videos], weights=w)),
    }
    if len(tracklets):
        pur = tracklets["truth_purity"].to_numpy(float)
        scores["tracklet_purity"] = float(np.nanmean(pur))
        scores["tracklet_purity_boxes"] = float(np.nansum(pur * tracklets["num_frames"].to_numpy()) / tracklets["num_frames"].sum())
        scores["identities_mode"] = identities_mode
        if identities_mode != "truth":
            scores["identity"] = clustering_quality(np.asarray(person_ids), tracklets["truth_id"].to_numpy())
    return CurationQuality(videos_with_truth=len(per_video), per_video=per_video, **scores)


def format_quality(q: CurationQuality) -> str:
    """The scores as a few lines for the terminal."""
    if not q.videos_with_truth:
        return "curation quality: no MOT truth found beside the videos; nothing to score"
    lines = [
        f"curation quality over {q.videos_with_truth} video(s) with truth:",
        f"  detection   recall {q.detection_recall:.1%}  precision {q.detection_precision:.1%}  (IoU >= 0.5)",
        f"  tracking    IDF1 {q.idf1:.1%}  ID switches {q.id_switches}  MOTA {q.mota:.1%}",
    ]
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
