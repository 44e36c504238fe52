"""Helpers of the tracking tests: synthetic scenes, simulated detections, MOT metrics (TrackEval), purity."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lsvid.boxes import iou_matrix
from lsvid.embed import Embedder
from lsvid.mot_metrics import score_tracking
from lsvid.synth import SynthConfig, render_video
from lsvid.track import Track, Tracker, TrackerConfig

MIN_VISIBILITY = 0.3  # a person less visible than this is neither detected nor expected to be tracked
BOX = ["bb_left", "bb_top", "bb_width", "bb_height"]


def scene_config(seed: int, *, identities: int = 10, seconds: float = 10.0, **kw) -> SynthConfig:
    """One camera, 640x360 at 25 fps; every person walks through it once."""
    return SynthConfig(cameras=1, max_cameras=1, identities=identities, seconds=seconds, fps=25, size=(640, 360),
                       seed=seed, **kw)


@dataclass
class Scene:
    frames: np.ndarray  # (T, H, W, 3) BGR
    truth: pd.DataFrame  # MOT truth, 0-based frame column ``f`` added, invisible people dropped


def render_scene(config: SynthConfig) -> Scene:
    frames, truth = render_video(config, 1, 1)
    truth = truth[truth["visibility"] >= MIN_VISIBILITY].copy()
    truth["f"] = truth["frame"] - 1
    return Scene(frames, truth.reset_index(drop=True))


def detections(scene: Scene, *, jitter: float = 0.0, drop: float = 0.0, false_per_frame: float = 0.0,
               seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``(N, 5)`` float32 detections per frame: the truth boxes, optionally jittered (a fraction of the box
    size, Gaussian), randomly dropped, and with one-frame false positives of pedestrian size; and the truth
    id of each (-1 for a false positive)."""
    rng = np.random.default_rng(seed)
    T, H, W = scene.frames.shape[:3]
    by_frame = {f: (g[BOX].to_numpy(np.float64), g["id"].to_numpy()) for f, g in scene.truth.groupby("f")}
    out, out_ids = [], []
    for f in range(T):
        b, ids = by_frame.get(f, (np.zeros((0, 4)), np.zeros(0, np.int64)))
        if drop:
            keep = rng.random(len(b)) >= drop
            b, ids = b[keep], ids[keep]
        if jitter:
            size = np.concatenate([b[:, 2:4], b[:, 2:4]], 1)
            b = b + rng.normal(0, jitter, b.shape) * size
            b[:, 2:4] = np.maximum(b[:, 2:4], 4)
        score = np.ones((len(b), 1))
        k = rng.poisson(false_per_frame) if false_per_frame else 0
        if k:
            h = rng.uniform(50, 110, k)
            fp = np.stack([rng.uniform(0, W - 40, k), rng.uniform(100, H - h), h * 0.45, h], 1)
            b = np.concatenate([b, fp])
            ids = np.concatenate([ids, np.full(k, -1)])
            score = np.concatenate([score, np.full((k, 1), 0.5)])
        out.append(np.concatenate([b, score], 1).astype(np.float32))
        out_ids.append(ids)
    return out, out_ids


def oracle_tracks(dets: list[np.ndarray], ids: list[np.ndarray]) -> list[Track]:
    """The detections grouped by their truth id: a perfect tracker's output on these detections."""
    rows: dict[int, list[tuple[int, np.ndarray]]] = {}
    for f, (d, i) in enumerate(zip(dets, ids)):
        for b, pid in zip(d, i.tolist()):
            if pid >= 0:
                rows.setdefault(pid, []).append((f, b))
    return [Track(k, np.array([f for f, _ in r], np.int64), np.array([b[:4] for _, b in r], np.float32),
                  np.array([b[4] for _, b in r], np.float32), np.zeros((len(r), 0), np.float32))
            for k, r in enumerate(rows.values())]


def embed_all(scene: Scene, dets: list[np.ndarray], embedder: Embedder) -> list[np.ndarray]:
    return [embedder.embed(frame, d) for frame, d in zip(scene.frames, dets)]


def run_tracker(dets: list[np.ndarray], feats: list[np.ndarray], config: TrackerConfig | None = None,
                frame_size: tuple[int, int] = (640, 360), step: int = 1) -> list[Track]:
    tracker = Tracker(config or TrackerConfig(), frame_size=frame_size)
    for f in range(0, len(dets), step):
        tracker.update(f, dets[f], feats[f])
    return tracker.finish()


def _hypotheses(tracks: list[Track]) -> dict[int, tuple[list[int], np.ndarray]]:
    rows: dict[int, tuple[list[int], list[np.ndarray]]] = {}
    for t in tracks:
        for f, b in zip(t.frames.tolist(), t.boxes):
            ids, boxes = rows.setdefault(f, ([], []))
            ids.append(t.track_id)
            boxes.append(b)
    return {f: (ids, np.asarray(bs, np.float64).reshape(-1, 4)) for f, (ids, bs) in rows.items()}


def mot_metrics(scene: Scene, tracks: list[Track], *, frames: range | None = None) -> dict[str, float]:
    """IDF1, MOTA and identity switches against the truth, as the MOTChallenge devkit scores them
    (TrackEval through :func:`lsvid.mot_metrics.score_tracking`, IoU >= 0.5 to match), on ``frames``
    (0-based; default all)."""
    keep = set(frames) if frames is not None else None
    truth = scene.truth if keep is None else scene.truth[scene.truth["f"].isin(keep)]
    rows = [(int(f) + 1, t.track_id, *b) for t in tracks for f, b in zip(t.frames.tolist(), t.boxes.tolist()) if keep is None or f in keep]
    hyp = pd.DataFrame(rows, columns=["frame", "id", *BOX])
    s = score_tracking(truth.drop(columns="f"), hyp, num_frames=len(scene.frames), benchmark="MOT17")
    return {"idf1": s.IDF1, "idp": s.IDP, "idr": s.IDR, "mota": s.MOTA, "hota": s.HOTA, "num_switches": s.IDSW}


def purity(scene: Scene, tracks: list[Track]) -> tuple[float, float]:
    """Box-weighted mean and minimum over tracks of the share of a track's boxes that belong to its
    majority truth id (a box belongs to the truth box it overlaps best, if IoU >= 0.5; else to none)."""
    all_truth = scene.truth
    gt = {f: (g["id"].to_numpy(), g[BOX].to_numpy(np.float64)) for f, g in all_truth.groupby("f")}
    total = good = 0
    worst = 1.0
    for t in tracks:
        owners = []
        for f, b in zip(t.frames.tolist(), t.boxes.astype(np.float64)):
            ids, boxes = gt.get(f, (np.zeros(0, int), np.zeros((0, 4))))
            iou = iou_matrix(b[None], boxes)[0] if len(boxes) else np.zeros(0)
            owners.append(int(ids[iou.argmax()]) if len(iou) and iou.max() >= 0.5 else -1)
        owners_arr = np.asarray(owners)
        valid = owners_arr[owners_arr >= 0]
        majority = np.bincount(valid).max() if len(valid) else 0
        total += len(owners_arr)
        good += majority
        worst = min(worst, majority / len(owners_arr))
    return (good / total if total else 1.0), worst


def crossing_scene(config: SynthConfig, people: list[tuple[int, float, bool, float]], *, camera: int = 1) -> Scene:
    """A hand-made scene in camera ``camera`` of ``config`` with its occluders removed: each
    ``(person_id, depth_fraction, leftwards, t_start)`` walks straight across the whole view at
    that fraction of the way from the nearest to the farthest depth."""
    from dataclasses import replace

    from lsvid.synth import Visit, make_plan, sample_camera

    spec = replace(sample_camera(config, camera), occluders=())
    visits = []
    for pid, depth, leftwards, t0 in people:
        z = float(spec.z_near + depth * (spec.z_far - spec.z_near))
        x = float(spec.half_width_m(z)) + 0.9  # start and end just out of view
        path = ((x, z), (-x, z)) if leftwards else ((-x, z), (x, z))
        visits.append(Visit(person_id=pid, camera_id=camera, slot=1, order=0, t_start=t0, path=path,
                            step_hz=1.8, step_length_m=0.7))
    frames, truth = render_video(config, camera, 1, plan=make_plan(config, [spec], visits))
    truth = truth[truth["visibility"] >= MIN_VISIBILITY].copy()
    truth["f"] = truth["frame"] - 1
    return Scene(frames, truth.reset_index(drop=True))
