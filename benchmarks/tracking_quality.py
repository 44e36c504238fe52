"""Tracking quality beside ByteTrack on the very same boxes: real video and synthetic footage, one run.

Sequences:

* **PETS 2009 S2.L1 View 001** (``../shared/data/footage/pets09_s2l1``, 7 fps,
  truth for frames 1-69): boxes of YOLOv8n (the OpenVINO IR in
  ``../shared/data/weights``, run through our ``yolo`` detector) and the
  MOT15 public detections;
* **synthetic scenes** the tracker was not tuned on (seeds 31 and 32 of the
  tracking tests' scene: one camera, 10 people, twins, companions,
  occluders): the truth boxes, then a noisy detector (5% jitter, 10% missed,
  false positives), at 25 fps and subsampled to 6.25 fps.

Trackers: ours (``lsvid.track``, its default config, with the colour-texture
embedder and, where the weights are in ``../shared/data``, OSNet x0.25 through
our ``onnx`` embedder) and ByteTrack as ``supervision`` implements it
(``sv.ByteTrack(frame_rate=fps)``, its defaults).  Scores are TrackEval's
(``lsvid.mot_metrics``: the MOTChallenge devkit's HOTA, MOTA, IDF1, ID
switches) on the scored frames, plus **box purity** of the tracks (the share
of each track's boxes on its majority truth person, box-weighted mean and
the worst track), **tracklet purity**, the number the dataset depends on
(the mean purity of the tracklets ``lsvid curate`` would keep from those
tracks: its default box and length filters and its cut where a tracklet's
look changes, ``lsvid.filters``, applied to either tracker's output alike on
the same colour-texture embeddings, as ``truth_purity`` is computed), and the
tracker's own speed (frames per second, embeddings excluded).  The last
line compares ours (colour texture) with ByteTrack on PETS with YOLOv8n.

    pip install -e ".[benchmarks]"       # supervision (ByteTrack), openvino
    python benchmarks/tracking_quality.py [--data ../shared/data] [--skip-synthetic]
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "track"))

from lsvid.boxes import iou_matrix  # noqa: E402
from lsvid.mot import considered, read_truth  # noqa: E402
from lsvid.mot_metrics import score_tracking  # noqa: E402
from lsvid.track import Tracker, TrackerConfig  # noqa: E402

BOX = ["bb_left", "bb_top", "bb_width", "bb_height"]


@dataclass
class Sequence:
    name: str
    truth: pd.DataFrame  # MOT truth, 1-based frames
    boxes: list[np.ndarray]  # per 0-based frame: (N, 5) x, y, w, h, score
    frames: list[np.ndarray] | None  # images, for the embedders (None: embeddings given)
    fps: float
    size: tuple[int, int]
    scored: int  # frames 1..scored have truth
    benchmark: str  # TrackEval's rules: MOT15 or MOT17


def to_rows(tracks) -> pd.DataFrame:
    rows = [(int(f) + 1, int(t.track_id), *b, s) for t in tracks for f, b, s in zip(t.frames, t.boxes, t.scores)]
    return pd.DataFrame(rows, columns=["frame", "id", *BOX, "conf"])


def owners(truth: pd.DataFrame, hyp: pd.DataFrame) -> np.ndarray:
    """Per row of ``hyp``, the truth person whose box it overlaps best at IoU >= 0.5, else -1."""
    hyp = hyp.reset_index(drop=True)
    by = {f: g for f, g in truth[considered(truth)].groupby("frame")}
    owner = np.full(len(hyp), -1)
    for f, idx in hyp.groupby("frame").indices.items():
        g = by.get(f)
        if g is None:
            continue
        iou = iou_matrix(hyp.loc[idx, BOX].to_numpy(float), g[BOX].to_numpy(float))
        best = iou.argmax(1)
        ok = iou[np.arange(len(idx)), best] >= 0.5
        owner[idx[ok]] = g["id"].to_numpy()[best[ok]]
    return owner


def _majority(o: np.ndarray) -> int:
    """How many of the owners ``o`` are its most frequent truth person (-1, nobody, never counts)."""
    hit = o[o >= 0]
    return int(np.bincount(hit - hit.min()).max()) if len(hit) else 0


def box_purity(truth: pd.DataFrame, hyp: pd.DataFrame, scored: int) -> tuple[float, float]:
    """Box-weighted mean and minimum over tracks of the share of a track's scored boxes on its
    majority truth person (:func:`owners`)."""
    hyp = hyp[hyp["frame"] <= scored].reset_index(drop=True)
    owner = owners(truth, hyp)
    tops = [(_majority(owner[idx]), len(idx)) for idx in hyp.groupby("id").indices.values()]
    total = sum(n for _, n in tops)
    return (sum(t for t, _ in tops) / total if total else 1.0), min((t / n for t, n in tops), default=1.0)


def _row_feats(hyp: pd.DataFrame, seq: Sequence, feats: list[np.ndarray]) -> np.ndarray:
    """The embedding of the detection each ``hyp`` row is (the box of its frame it overlaps best):
    either tracker reports the detector's boxes, so both get the very same embeddings."""
    out = np.zeros((len(hyp), feats[0].shape[1] if feats else 0), np.float32)
    for f, idx in hyp.groupby("frame").indices.items():
        b = seq.boxes[int(f) - 1]
        if len(b):
            out[idx] = feats[int(f) - 1][iou_matrix(hyp.iloc[idx][BOX].to_numpy(float), b[:, :4]).argmax(1)]
    return out


def tracklet_purity(truth: pd.DataFrame, hyp: pd.DataFrame, seq: Sequence, feats: list[np.ndarray]) -> float:
    """Mean over the tracklets the curation filters keep (with an annotated box) of the share of their
    annotated boxes on their majority truth person (:func:`owners`; an unmatched box counts against).
    The filters include the cut where a tracklet's look changes (``lsvid.filters.cut_mixed``), on the
    colour-texture embeddings of the boxes, for either tracker alike."""
    from collections import Counter

    from lsvid.filters import FilterConfig, apply_filters, cut_mixed

    hyp = hyp.reset_index(drop=True)
    looks = _row_feats(hyp, seq, feats)
    groups = [hyp.loc[idx].sort_values("frame") for idx in hyp.groupby("id").indices.values()]
    cfg = FilterConfig()
    keep, _ = apply_filters([g[BOX].to_numpy(float) for g in groups], [None] * len(groups), seq.size, cfg,
                            [g["frame"].to_numpy() for g in groups], [g["conf"].to_numpy(float) for g in groups])
    pieces = cut_mixed(keep, [looks[g.index.to_numpy()] for g in groups], cfg, Counter())
    kept = [groups[t].iloc[k] for t, k in pieces]
    kept = [g[g["frame"] <= seq.scored] for g in kept]
    out = [_majority(owners(truth, g)) / len(g) for g in kept if len(g)]
    return float(np.mean(out)) if out else float("nan")


def run_ours(seq: Sequence, feats: list[np.ndarray], step: int) -> tuple[pd.DataFrame, float]:
    tracker = Tracker(TrackerConfig(), frame_size=seq.size, fps=seq.fps / step)
    t0 = time.perf_counter()
    for f in range(0, len(seq.boxes), step):
        tracker.update(f, seq.boxes[f], feats[f])
    tracks = tracker.finish()
    return to_rows(tracks), len(range(0, len(seq.boxes), step)) / (time.perf_counter() - t0)


def run_bytetrack(seq: Sequence, step: int) -> tuple[pd.DataFrame, float]:
    import supervision as sv

    tracker = sv.ByteTrack(frame_rate=max(1, round(seq.fps / step)))
    rows, t0 = [], time.perf_counter()
    for f in range(0, len(seq.boxes), step):
        b = seq.boxes[f]
        det = sv.Detections(xyxy=np.c_[b[:, :2], b[:, :2] + b[:, 2:4]].astype(np.float32), confidence=b[:, 4].astype(np.float32),
                            class_id=np.zeros(len(b), int))
        out = tracker.update_with_detections(det)
        rows += [(f + 1, int(i), x0, y0, x1 - x0, y1 - y0, c) for (x0, y0, x1, y1), i, c in zip(out.xyxy, out.tracker_id, out.confidence)]
    return pd.DataFrame(rows, columns=["frame", "id", *BOX, "conf"]), len(range(0, len(seq.boxes), step)) / (time.perf_counter() - t0)


def embed(seq: Sequence, embedder) -> list[np.ndarray]:
    return [embedder.embed(img, b.astype(np.float32)) if len(b) else np.zeros((0, embedder.dim), np.float32)
            for img, b in zip(seq.frames, seq.boxes)]


def pets(data: Path) -> list[Sequence]:
    import cv2

    from lsvid.detect import create_detector
    from lsvid.mot import read_detections

    root = data / "footage" / "pets09_s2l1"
    cap = cv2.VideoCapture(str(root / "vtest.avi"))
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    H, W = frames[0].shape[:2]
    truth = read_truth(root / "gt_frames_1-69.txt")
    det = read_detections(root / "public_det.txt")
    public = [det[det["frame"] == f + 1][[*BOX, "conf"]].to_numpy(np.float64) for f in range(len(frames))]
    out = [Sequence("PETS public det.", truth, public, frames, 7.0, (W, H), 69, "MOT15")]
    weights = data / "weights" / "yolov8n_int8_openvino_model"
    try:
        yolo = create_detector("yolo", weights=str(weights), conf=0.1)
    except Exception as e:  # noqa: BLE001 - reported, the other sequences still run
        print(f"(PETS with YOLOv8n skipped: {e})")
        return out
    boxes = []
    for i in range(0, len(frames), yolo.batch_size):
        chunk = frames[i : i + yolo.batch_size]
        boxes += [np.asarray(b, np.float64).reshape(-1, 5) for b in yolo.detect(chunk, list(range(i, i + len(chunk))))]
    return [Sequence("PETS YOLOv8n", truth, boxes, frames, 7.0, (W, H), 69, "MOT15"), *out]


def synthetic(seeds: list[int]) -> list[Sequence]:
    from track_helpers import detections, render_scene, scene_config

    out = []
    for seed in seeds:
        scene = render_scene(scene_config(seed))
        truth = scene.truth.drop(columns="f")
        T, H, W = scene.frames.shape[:3]
        for kind, kw in (("truth boxes", {}), ("noisy boxes", dict(jitter=0.05, drop=0.1, false_per_frame=0.1, seed=seed))):
            boxes, _ = detections(scene, **kw)
            out.append(Sequence(f"synthetic {seed}, {kind}", truth, [b.astype(np.float64) for b in boxes], list(scene.frames), 25.0, (W, H), T, "MOT17"))
    return out


def embedders(data: Path) -> dict[str, object]:
    from lsvid.embed import create_embedder

    out = {"colour_texture": create_embedder("colour_texture")}
    onnx = data / "weights" / "osnet_x0_25_msmt17_onnx" / "osnet_x0_25_msmt17.onnx"
    if onnx.is_file():
        try:
            out["OSNet (onnx)"] = create_embedder("onnx", checkpoint=str(onnx))
        except Exception as e:  # noqa: BLE001 - reported, the colour embedder still runs
            print(f"(OSNet embedder skipped: {e})")
    return out


def report(seq: Sequence, who: str, hyp: pd.DataFrame, fps: float, step: int, looks: list[np.ndarray]) -> tuple[float, int, float]:
    """Prints one table row; returns IDF1, ID switches and tracklet purity."""
    truth = seq.truth if step == 1 else seq.truth[(seq.truth["frame"] - 1) % step == 0]
    s = score_tracking(truth, hyp[["frame", "id", *BOX]], num_frames=seq.scored, benchmark=seq.benchmark)
    pm, pw = box_purity(truth, hyp, seq.scored)
    tp = tracklet_purity(truth, hyp, seq, looks)
    n = hyp[hyp["frame"] <= seq.scored]["id"].nunique()
    rate = f"{seq.fps / step:.2f} fps" if step > 1 else f"{seq.fps:g} fps"
    print(f"| {seq.name} ({rate}) | {who} | {s.HOTA:.3f} | {s.MOTA:.3f} | {s.IDF1:.3f} | {s.IDSW} | {s.FP} | {s.FN} | {n} "
          f"| {pm:.3f} / {pw:.3f} | {tp:.3f} | {fps:,.0f} |", flush=True)
    return s.IDF1, s.IDSW, tp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data", help="the real material (footage, weights)")
    ap.add_argument("--seeds", default="31,32", help="synthetic scenes (seeds of the tracking tests' scene)")
    ap.add_argument("--skip-synthetic", action="store_true")
    args = ap.parse_args()
    seqs = pets(args.data) if (args.data / "footage" / "pets09_s2l1" / "vtest.avi").is_file() else []
    if not seqs:
        print(f"(PETS skipped: no {args.data / 'footage' / 'pets09_s2l1' / 'vtest.avi'})")
    if not args.skip_synthetic:
        seqs += synthetic([int(s) for s in args.seeds.split(",") if s])
    embs = embedders(args.data)
    print("| sequence | tracker | HOTA | MOTA | IDF1 | ID sw. | FP | FN | tracks | box purity mean / worst | tracklet purity | tracker frames/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    summary = {}
    for seq in seqs:
        feats = {name: embed(seq, e) for name, e in embs.items()}
        looks = feats["colour_texture"]  # the cut's embeddings, the same for every tracker
        for step in (1, 4) if seq.fps >= 25 else (1,):
            hyp, fps = run_bytetrack(seq, step)
            summary[(seq.name, step, "bytetrack")] = report(seq, "ByteTrack (supervision)", hyp, fps, step, looks)
            for name, f in feats.items():
                hyp, fps = run_ours(seq, f, step)
                summary[(seq.name, step, name)] = report(seq, f"ours, {name}", hyp, fps, step, looks)
    ours, bt = summary.get(("PETS YOLOv8n", 1, "colour_texture")), summary.get(("PETS YOLOv8n", 1, "bytetrack"))
    if ours and bt:
        print(f"PETS YOLOv8n, ours vs ByteTrack: IDF1 {ours[0]:.3f} vs {bt[0]:.3f}; ID switches {ours[1]} vs {bt[1]}; "
              f"tracklet purity {ours[2]:.3f} vs {bt[2]:.3f}")


if __name__ == "__main__":
    main()
