"""Curation speed per stage (decode, detect, embed, track, write) for each detector.

Run: python benchmarks/curation_speed.py [--seconds 20] [--detectors motion,hog,truth,yolo] [--yolo-weights PATH] [--device auto]

One synthetic 640x360 camera video (8-10 people on screen) is curated with
each detector in a fresh work folder; frames/s of every stage and of the
whole video task are printed, with the ratio to real time (25 frames/s per
camera, the goal on 2 cores with ``motion``).  Without ``--yolo-weights`` the
YOLO row uses an untrained ``yolov8n.yaml`` model: the speed is right, the
boxes are not.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsvid.footage import find_videos  # noqa: E402
from lsvid.shard import CurateConfig, process_video  # noqa: E402
from lsvid.synth import SynthConfig, generate_footage  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--detectors", default="motion,hog,truth,yolo")
    ap.add_argument("--yolo-weights", default=None)
    ap.add_argument("--device", default="auto", help="for yolo")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        generate_footage(tmp / "footage", SynthConfig(cameras=1, identities=30, seconds=args.seconds, size=(640, 360), seed=3), progress=False)
        video = find_videos(tmp / "footage")[0]
        print(f"one camera, {args.seconds:.0f} s of 640x360 at 25 fps; {os.cpu_count()} CPU cores")
        print(f"{'detector':<10} {'decode':>8} {'detect':>8} {'embed':>8} {'track':>8} {'write':>8} {'task':>8} {'x real time':>12}")
        for name in args.detectors.split(","):
            opts = {}
            if name == "yolo":
                opts = {"weights": args.yolo_weights or "yolov8n.yaml", "device": args.device}
            cfg = CurateConfig(detector=name, detector_options=opts)
            s = process_video(video, cfg, tmp / f"work_{name}")
            n = s.frames_decoded
            sec = s.seconds
            def rate(stage: str) -> str:
                v = sec.get(stage, 0.0)
                return f"{n / v:8.0f}" if v > 1e-3 else f"{'-':>8}"  # a stage with no work (no boxes) has no rate

            total = n / max(sec["total"], 1e-9)
            print(
                f"{name:<10} {rate('decode')} {rate('detect')} {rate('embed')} {rate('track')} {rate('write')} {total:8.0f} {total / 25:11.1f}x"
                f"   ({s.tracklets} tracklets kept)"
            )

if __name__ == "__main__":
    main()
