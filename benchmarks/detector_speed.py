"""Person detector speed on 640x360 synthetic footage, each against an obvious implementation.

Run: python benchmarks/detector_speed.py [--seconds 12] [--cameras 2] [--yolo-weights yolo.pt] [--skip-naive]

Frames are decoded once into memory; each detector is timed on detection
alone, fed as the pipeline feeds it (groups of its ``batch_size``), and
scored against the MOT truth (recall/precision at IoU >= 0.5, truth less than
half visible is "don't care", by ``lsvid.quality``).  Baselines, measured in
the same run:

- motion: OpenCV MOG2 with its defaults at full resolution, ``findContours``
  and a Python loop over the contours (``boundingRect``, size and shape tests);
  ours downscales, primes the background with a median plate and filters
  connected components with vectorised statistics.  Also timed with decoding
  included, against the curation goal of 25 frames/s per camera on 2 cores;
- hog: the textbook sliding window, each window's descriptor computed from its
  own pixels (``hogfeat.descriptor``) on the same pyramid, timed on a few
  frames; ours computes each level's blocks once and scores all windows with
  one matrix product;
- yolo: one ``predict`` call per frame against batches of 16, an untrained
  ``yolov8n.yaml`` (speed does not depend on the weights) unless
  ``--yolo-weights`` names trained ones; on CUDA too when present;
- synthetic: the bundled YOLO (the default detector), batched, with its
  detection quality beside motion's on the same clips;
- truth: reading boxes from the MOT file (for scale).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsvid.detect import (
    create_detector,  # noqa: E402
    hogfeat,  # noqa: E402
)
from lsvid.detect.boxes import detections, nms  # noqa: E402
from lsvid.detect.hog import PERSON_H, PERSON_W, PERSON_X, PERSON_Y  # noqa: E402
from lsvid.footage import find_videos, read_frames  # noqa: E402
from lsvid.quality import video_quality  # noqa: E402
from lsvid.synth import SynthConfig, generate_footage  # noqa: E402


class NaiveMotion:
    """MOG2 as its documentation shows it, contours walked in Python."""

    batch_size = 1

    def __init__(self, min_height: float = 30.0):
        self.min_height = min_height

    def start_video(self, video) -> None:
        self.bg = cv2.createBackgroundSubtractorMOG2(detectShadows=True)

    def detect(self, frames, indices):
        out = []
        for frame in frames:
            mask = self.bg.apply(frame)
            _, mask = cv2.threshold(mask, 200, 255, cv2.THRESH_BINARY)
            mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
            contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            rows = []
            for c in contours:
                x, y, w, h = cv2.boundingRect(c)
                if h >= self.min_height and 0.15 * h <= w <= 0.7 * h:
                    rows.append((x, y, w, h, cv2.contourArea(c) / (w * h)))
            b = np.array(rows, np.float64).reshape(-1, 5)
            out.append(detections(b[:, :4], b[:, 4], frame.shape[1], frame.shape[0]))
        return out


class NaiveHog:
    """The textbook sliding window: every window's descriptor from its own pixels."""

    batch_size = 1

    def __init__(self, ours):
        self.ours = ours

    def start_video(self, video) -> None:
        pass

    def detect(self, frames, indices):
        o = self.ours
        out = []
        for frame in frames:
            boxes, scores = [], []
            h, w = frame.shape[:2]
            scale = o.upscale
            while PERSON_H / scale <= o.max_height:
                size = (int(round(w * scale)), int(round(h * scale)))
                if size[0] < hogfeat.WIN_W or size[1] < hogfeat.WIN_H:
                    break
                level = cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA)
                for y in range(0, size[1] - hogfeat.WIN_H + 1, 8):
                    for x in range(0, size[0] - hogfeat.WIN_W + 1, 8):
                        s = float(hogfeat.descriptor(level[y:y + hogfeat.WIN_H, x:x + hogfeat.WIN_W]) @ o.weights) + o.bias
                        if s > o.threshold:
                            boxes.append(((x + PERSON_X) / scale, (y + PERSON_Y) / scale, PERSON_W / scale, PERSON_H / scale))
                            scores.append(s)
                scale /= o.scale_step
            b, s = np.array(boxes).reshape(-1, 4), np.array(scores)
            keep = nms(b, s, o.nms_iou)
            out.append(detections(b[keep], s[keep], w, h))
        return out


def run(det, clips, limit: int | None = None) -> tuple[float, int, list[pd.DataFrame]]:
    """Seconds spent in detect, frames, and per-video detections (frames 0-based)."""
    spent, n, tables = 0.0, 0, []
    for video, frames in clips:
        frames = frames[:limit] if limit else frames
        det.start_video(video)
        rows = []
        bs = max(1, getattr(det, "batch_size", 1))
        for s in range(0, len(frames), bs):
            chunk = frames[s:s + bs]
            t = time.perf_counter()
            boxes = det.detect(chunk, list(range(s, s + len(chunk))))
            spent += time.perf_counter() - t
            rows += [(s + k, *r) for k, b in enumerate(boxes) for r in b.tolist()]
        n += len(frames)
        tables.append(pd.DataFrame(rows, columns=["frame", "x", "y", "w", "h", "score"]))
    return spent, n, tables


def quality(clips, tables, limit: int | None, tmp: Path) -> str:
    from lsvid.synth.truth import read_mot, write_mot

    tp = fp = fn = 0
    for k, ((video, frames), d) in enumerate(zip(clips, tables)):
        gt = read_mot(video.truth)
        gt = gt[gt["frame"] <= (limit or len(frames))]
        q = video_quality(write_mot(gt, tmp / f"t{k}.txt"), d, pd.DataFrame(columns=["track_id", "frame", "x", "y", "w", "h"]))
        tp, fp, fn = tp + q["detection"]["tp"], fp + q["detection"]["fp"], fn + q["detection"]["fn"]
    return f"R {tp / max(tp + fn, 1):.2f} P {tp / max(tp + fp, 1):.2f}"


def row(name: str, spent: float, n: int, q: str, note: str = "") -> float:
    fps = n / spent
    print(f"{name:<34} {n:>5} frames {spent:8.2f} s {fps:9.1f} frames/s   {q:<14} {note}")
    return fps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--cameras", type=int, default=2)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--hog-frames", type=int, default=60, help="frames per video for hog (it is slow)")
    ap.add_argument("--naive-hog-frames", type=int, default=1)
    ap.add_argument("--yolo-weights", default="yolov8n.yaml")
    ap.add_argument("--skip-naive", action="store_true")
    args = ap.parse_args()

    import torch

    print(f"device: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, OpenCV {cv2.__version__} "
          f"({cv2.getNumThreads()} threads), torch {torch.__version__} ({torch.get_num_threads()} threads)"
          + (f", CUDA {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no CUDA"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfg = SynthConfig(cameras=args.cameras, identities=8 * args.cameras, seconds=args.seconds, size=(640, 360), seed=args.seed)
        generate_footage(tmp / "footage", cfg, progress=False)
        videos = find_videos(tmp / "footage")
        t = time.perf_counter()
        clips = [(v, [f for _, f in read_frames(v)]) for v in videos]
        t_decode = time.perf_counter() - t
        total = sum(len(f) for _, f in clips)
        print(f"footage: {len(videos)} cameras x {cfg.num_frames} frames, 640x360; decoding alone {total / t_decode:.0f} frames/s\n")

        spent, n, tabs = run(create_detector("truth"), clips)
        row("truth", spent, n, quality(clips, tabs, None, tmp))

        spent, n, tabs = run(create_detector("motion", geometry="off"), clips)
        row("motion, blob rules (geometry off)", spent, n, quality(clips, tabs, None, tmp))
        motion = create_detector("motion")  # synthetic footage has footage.json: the ground-plane fit
        spent, n, tabs = run(motion, clips)
        fps = row("motion (ours, camera geometry)", spent, n, quality(clips, tabs, None, tmp))
        t = time.perf_counter()
        for v in videos:  # what the pipeline pays per camera: priming, decoding and detection
            motion.start_video(v)
            for i, f in read_frames(v):
                motion.detect([f], [i])
        e2e = total / (time.perf_counter() - t)
        print(f"{'motion incl. decode + priming':<34} {total:>5} frames {'':10} {e2e:9.1f} frames/s   "
              f"goal 25 per camera: {'met' if e2e >= 25 else 'NOT met'} ({e2e / 25:.0f}x)")
        if not args.skip_naive:
            spent, n, tabs = run(NaiveMotion(), clips)
            naive = row("motion, naive MOG2 + contour loop", spent, n, quality(clips, tabs, None, tmp))
            print(f"{'':34} ratio {fps / naive:.1f}x")

        synth = create_detector("synthetic", device="cpu")  # the default: the bundled YOLO, never trained on this seed
        run(synth, [(clips[0][0], clips[0][1][:16])])  # warm-up
        spent, n, tabs = run(synth, clips)
        row(f"synthetic (bundled) cpu {synth.imgsz}px", spent, n, quality(clips, tabs, None, tmp))

        hog = create_detector("hog")
        spent, n, tabs = run(hog, clips, args.hog_frames)
        fps = row(f"hog (ours, upscale {hog.upscale})", spent, n, quality(clips, tabs, args.hog_frames, tmp))
        if not args.skip_naive:
            k = args.naive_hog_frames
            spent, n, _ = run(NaiveHog(hog), clips[:1], k)
            naive = row("hog, per-window descriptors", spent, n, "")
            print(f"{'':34} ratio {fps / naive:.0f}x")

        for device in ["cpu"] + (["cuda:0"] if torch.cuda.is_available() else []):
            yolo = create_detector("yolo", weights=args.yolo_weights, device=device)
            run(yolo, [(clips[0][0], clips[0][1][:16])])  # warm-up: model to device, first-call setup
            lim = None if device != "cpu" else 64
            spent, n, tabs = run(yolo, clips, lim)
            fps = row(f"yolo {Path(args.yolo_weights).name} {device} {yolo.imgsz}px, batch 16", spent, n,
                      quality(clips, tabs, lim, tmp) if args.yolo_weights != "yolov8n.yaml" else "(untrained)")
            yolo.batch_size = 1
            spent, n, _ = run(yolo, clips, lim)
            one = row(f"yolo {device}, one frame per call", spent, n, "")
            print(f"{'':34} ratio {fps / one:.1f}x")


if __name__ == "__main__":
    main()
