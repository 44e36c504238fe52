"""Embed + track speed: lsvid.embed and lsvid.track against the obvious implementation.

Run: python benchmarks/tracker_speed.py [--seconds 20] [--naive-frames 100] [--threads 1]

A synthetic 640x360 video at 25 fps with about 8 people in every frame
(lsvid.synth, one camera); the detections are the truth boxes of everyone at
least 30% visible, so the numbers are about embedding and tracking alone.
OpenCV runs on ``--threads`` threads (1: the pipeline's one video per worker
process).  Printed, all measured in this run:

- ours: frames/s of ``ColourTextureEmbedder.embed`` + ``Tracker.update``
  (default config), and each part alone;
- naive: the same descriptor the obvious way -- each box converted and
  histogrammed on its own, with ``np.histogram`` per stripe and channel --
  and the same tracker with its cost matrix filled by a Python double loop
  over tracks and detections; and the ratio;
- checks: the naive tracker's tracks equal ours (same features in), and the
  naive descriptor equals ours (to float rounding).

The curation goal is real time, 25 frames/s per camera on 2 cores, for
detect + embed + track; embed + track must leave the detector most of that.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsvid.appearance import DESCRIPTOR_HW  # noqa: E402
from lsvid.boxes import clip_boxes, iou_matrix  # noqa: E402
from lsvid.embed import ColourTextureEmbedder  # noqa: E402
from lsvid.synth import SynthConfig, render_video  # noqa: E402
from lsvid.track import _GATED, Tracker, TrackerConfig  # noqa: E402

MIN_VISIBILITY = 0.3


def scene(seconds: float, identities: int, seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
    config = SynthConfig(cameras=1, max_cameras=1, identities=identities, seconds=seconds, fps=25, size=(640, 360),
                         seed=seed)
    frames, truth = render_video(config, 1, 1)
    truth = truth[truth["visibility"] >= MIN_VISIBILITY]
    boxes = {f - 1: g[["bb_left", "bb_top", "bb_width", "bb_height"]].to_numpy(np.float32) for f, g in truth.groupby("frame")}
    dets = []
    for f in range(len(frames)):
        b = boxes.get(f, np.zeros((0, 4), np.float32))
        dets.append(np.concatenate([b, np.ones((len(b), 1), np.float32)], 1))
    return frames, dets


# -- the obvious implementation ------------------------------------------------


def naive_descriptor(frame: np.ndarray, boxes: np.ndarray, *, colour_width: float = 0.6, texture_weight: float = 0.3,
                     stripes: int = 4, bins=(8, 4, 4), orientations: int = 8) -> np.ndarray:
    """The colour-texture descriptor one box at a time, histograms by ``np.histogram``."""
    h, w = DESCRIPTOR_HW
    wide = int(round(w / colour_width))
    left = (wide - w) // 2
    H, W = frame.shape[:2]
    out = []
    for x0, y0, x1, y1 in clip_boxes(boxes, W, H):
        crop = cv2.resize(frame[y0:y1, x0:x1], (wide, h), interpolation=cv2.INTER_AREA)
        hsv = cv2.cvtColor(np.ascontiguousarray(crop[:, left:left + w]), cv2.COLOR_BGR2HSV)
        colour = []
        for s in range(stripes):
            rows = hsv[s * h // stripes:(s + 1) * h // stripes]
            for c, (n, top) in enumerate(zip(bins, (180, 256, 256))):
                colour.append(np.histogram(rows[..., c], bins=n, range=(0, top))[0])
        colour = np.sqrt(np.concatenate(colour).astype(np.float64))
        colour /= max(np.linalg.norm(colour), 1e-12)
        gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(np.float64)
        gx = gray[1:-1, 2:] - gray[1:-1, :-2]
        gy = gray[2:, 1:-1] - gray[:-2, 1:-1]
        mag, ang = np.hypot(gx, gy), np.arctan2(gy, gx) % np.pi
        texture = []
        stripe_of_row = np.arange(h - 2) * stripes // (h - 2)
        for s in range(stripes):
            rows = stripe_of_row == s
            # linear split between the two nearest orientation bins, as the fast version does
            pos = ang[rows] * orientations / np.pi - 0.5
            lo = np.floor(pos)
            frac = pos - lo
            hist = np.histogram(lo % orientations, bins=orientations, range=(0, orientations), weights=mag[rows] * (1 - frac))[0]
            hist += np.histogram((lo + 1) % orientations, bins=orientations, range=(0, orientations), weights=mag[rows] * frac)[0]
            texture.append(hist)
        texture = np.sqrt(np.concatenate(texture))
        texture /= max(np.linalg.norm(texture), 1e-12)
        v = np.concatenate([colour, texture_weight * texture])
        out.append(v / np.linalg.norm(v))
    return np.asarray(out, np.float32).reshape(len(boxes), -1)


class NaiveTracker(Tracker):
    """The same tracker with its cost matrix filled pair by pair."""

    def _cost(self, frame: int, boxes: np.ndarray, feats: np.ndarray) -> np.ndarray:
        cfg = self.config
        pred, gap = self._predict(frame)
        cost = np.empty((len(self._live), len(boxes)))
        w = cfg.appearance_weight
        for i, t in enumerate(self._live):
            p = pred[i]
            for j, d in enumerate(boxes):
                iou = float(iou_matrix(p[None], d[None, :4])[0, 0])
                app = min(max(1.0 - float(np.dot(t.memory, feats[j])), 0.0), 2.0)
                dist = np.hypot(p[0] + p[2] / 2 - d[0] - d[2] / 2, p[1] + p[3] / 2 - d[1] - d[3] / 2)
                radius = p[3] * (cfg.gate_heights + cfg.gate_growth * (gap[i] - 1))
                ratio = d[3] / max(p[3], 1e-6)
                ok = (iou >= cfg.min_iou or dist <= radius) and 1 / cfg.max_height_ratio <= ratio <= cfg.max_height_ratio
                if w > 0 and app > cfg.max_appearance_distance:
                    ok = False
                cost[i, j] = w * app / cfg.max_appearance_distance + (1 - w) * (1 - iou) if ok else _GATED
        return cost


# -- timing --------------------------------------------------------------------


def run(frames, dets, embed, tracker) -> tuple[float, float, list[np.ndarray], list]:
    t_embed = t_track = 0.0
    feats = []
    for f, (img, d) in enumerate(zip(frames, dets)):
        t0 = time.perf_counter()
        e = embed(img, d)
        t1 = time.perf_counter()
        tracker.update(f, d, e)
        t_track += time.perf_counter() - t1
        t_embed += t1 - t0
        feats.append(e)
    return t_embed, t_track, feats, tracker.finish()


def same_tracks(a, b) -> bool:
    return len(a) == len(b) and all(
        x.track_id == y.track_id and np.array_equal(x.frames, y.frames) and np.array_equal(x.boxes, y.boxes) for x, y in zip(a, b)
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="video length (25 fps)")
    ap.add_argument("--identities", type=int, default=15, help="people walking through (sets the crowd)")
    ap.add_argument("--naive-frames", type=int, default=100, help="frames for the naive run (it is slow)")
    ap.add_argument("--threads", type=int, default=1, help="OpenCV threads")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    cv2.setNumThreads(args.threads)

    frames, dets = scene(args.seconds, args.identities, args.seed)
    n = len(frames)
    people = np.mean([len(d) for d in dets])
    print(f"scene: {n} frames 640x360, {people:.1f} detections per frame on average; OpenCV threads {cv2.getNumThreads()}")

    emb = ColourTextureEmbedder()
    emb.embed(frames[0], dets[0])  # warm-up
    t_e, t_t, feats, ours = run(frames, dets, emb.embed, Tracker(TrackerConfig(), frame_size=(640, 360)))
    fps = n / (t_e + t_t)
    print(f"ours : embed+track {fps:8.0f} frames/s   (embed {n / t_e:8.0f} frames/s, track {n / t_t:8.0f} frames/s), "
          f"{len(ours)} tracks")

    # The naive run is slow: both run again on the same stretch of frames from the middle for the ratio.
    k = min(args.naive_frames, n)
    part = slice((n - k) // 2, (n - k) // 2 + k)
    t_pe, t_pt, _, _ = run(frames[part], dets[part], emb.embed, Tracker(TrackerConfig(), frame_size=(640, 360)))
    t_ne, t_nt, naive_feats, _ = run(frames[part], dets[part], naive_descriptor, NaiveTracker(TrackerConfig(), frame_size=(640, 360)))
    people_part = np.mean([len(d) for d in dets[part]])
    print(f"naive: embed+track {k / (t_ne + t_nt):8.0f} frames/s   (embed {k / t_ne:8.0f} frames/s, track {k / t_nt:8.0f} frames/s), "
          f"frames {part.start}-{part.stop - 1} ({people_part:.1f} detections per frame)")
    print(f"ours , same frames {k / (t_pe + t_pt):8.0f} frames/s   (embed {k / t_pe:8.0f} frames/s, track {k / t_pt:8.0f} frames/s)")
    print(f"ratio: embed+track {(t_ne + t_nt) / (t_pe + t_pt):.1f}x   (embed {t_ne / t_pe:.1f}x, track {t_nt / t_pt:.1f}x)")

    # The naive tracker on our features must give our tracks exactly: the loop and the vectorised
    # cost are the same function.
    nt = NaiveTracker(TrackerConfig(), frame_size=(640, 360))
    for f in range(n):
        nt.update(f, dets[f], feats[f])
    assert same_tracks(ours, nt.finish()), "naive tracker disagrees with lsvid.track"
    err = max(float(np.abs(a - b).max()) for a, b in zip(feats[part], naive_feats) if len(a))
    assert err < 1e-4, f"naive descriptor disagrees with lsvid.embed by {err}"
    print(f"check: naive tracker = ours on all {n} frames; naive descriptor = ours on {k} frames (max |diff| {err:.1e})")
    goal = 25
    print(f"goal : detect+embed+track >= {goal} frames/s per camera; embed+track leaves "
          f"{1000 / goal - 1000 / fps:.1f} of the {1000 / goal:.0f} ms per frame to decoding and the detector")


if __name__ == "__main__":
    main()
