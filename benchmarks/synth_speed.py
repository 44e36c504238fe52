"""Synthetic footage speed: lsvid.synth's renderer against an obvious per-frame implementation.

Run: python benchmarks/synth_speed.py [--frames 750] [--naive-frames 25] [--no-demo]

On one core (OpenCV's threads off), at 640x360 with the default network
(4 cameras, 60 people, 6 on screen on average):

- render: frames/s of ``VideoRenderer.render`` (target: >= 200), setup
  (plate, occluders, noise bank, poses) timed apart;
- naive: the obvious implementation measured in the same run -- every frame
  repaints the background procedurally, draws fresh Gaussian noise, poses each
  person for that frame alone and draws part by part from float coordinates,
  and computes visibility from full-frame masks -- and the ratio;
- write: frames/s of encoding rendered frames with the video writer;
- demo: wall time of ``generate_footage`` at demo size (3 cameras, 25 people,
  25 s at 25 fps, 640x360), which the demo needs well under a minute.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lsvid.synth import (  # noqa: E402
    SynthConfig,
    VideoWriter,
    body,  # noqa: E402
    generate_footage,
    open_video,
    plan_footage,
)
from lsvid.synth.camera import apply_light  # noqa: E402
from lsvid.synth.identity import Gait  # noqa: E402
from lsvid.synth.motion import Track  # noqa: E402
from lsvid.synth.render import _base_colours  # noqa: E402
from lsvid.synth.scenery import paint_view  # noqa: E402


def naive_frame(renderer, frame: int, rng: np.random.Generator) -> tuple[np.ndarray, list[float]]:
    """One frame the obvious way; returns the image and each person's visibility."""
    spec, view = renderer.spec, renderer.view
    plate, illum, layers = paint_view(spec, view.lighting, view.slot)
    img = plate.copy()
    H, W = img.shape[:2]
    people: list[tuple[Track, int]] = []
    for t in renderer.tracks:
        hits = np.flatnonzero(t.frames == frame)
        if len(hits):
            people.append((t, int(hits[0])))
    people.sort(key=lambda p: -p[0].depth[p[1]])
    masks = []
    for t, row in people:
        v = t.visit
        tau = frame / renderer.config.fps - v.t_start
        phase = np.array([v.phase0 + tau * v.step_hz / 2])
        c, s = (1.0, 0.0) if t.views[row] == 0 else (0.0, -1.0 if t.views[row] == 1 else 1.0)
        gait = Gait(v.step_hz, v.step_length_m, t.identity.gait.arm_swing_deg)
        pts, sizes = body.pose(phase, np.ones(1), c, s, t.identity.appearance, gait)
        h = t.height_px[row]
        u, vv = t.foot[row]
        colours = apply_light(_base_colours(t)[None], np.array([1.0]), view.lighting, spec.saturation)[0][:, ::-1]
        mask = np.zeros((H, W), np.uint8)
        for op in t.programs[int(t.views[row])]:
            col = tuple(float(x) for x in colours[op.colour])

            def at(i):
                return (int(round(u + pts[0, i, 0] * h)), int(round(vv - pts[0, i, 1] * h)))

            for target, colour in ((img, col), (mask, 1)):
                if op.kind == "line":
                    cv2.line(target, at(op.a), at(op.b), colour, max(1, int(round(sizes[0, op.size] * h))), cv2.LINE_AA)
                elif op.kind == "circle":
                    cv2.circle(target, at(op.a), max(1, int(round(sizes[0, op.size] * h))), colour, -1, cv2.LINE_AA)
                elif op.kind == "ellipse":
                    axes = (max(1, int(round(sizes[0, op.size] * h))), max(1, int(round(sizes[0, op.size2] * h))))
                    cv2.ellipse(target, at(op.a), axes, 0, op.arc[0], op.arc[1], colour, -1, cv2.LINE_AA)
                else:
                    cv2.fillPoly(target, [np.array([at(i) for i in op.pts], np.int32)], colour, cv2.LINE_AA)
        masks.append(mask.astype(bool))
    occluded = np.zeros((H, W), bool)
    for L in layers:
        occluded[L.y0:L.y1, L.x0:L.x1] |= L.mask
    vis = []
    for k, m in enumerate(masks):
        front = occluded.copy()
        for m2 in masks[k + 1:]:
            front |= m2
        vis.append(float((m & ~front).sum() / max(m.sum(), 1)))
    noise = rng.normal(0, spec.noise_sigma, img.shape)
    return np.clip(img.astype(np.float64) + noise, 0, 255).astype(np.uint8), vis


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=750, help="frames to render with lsvid.synth (from each camera)")
    ap.add_argument("--naive-frames", type=int, default=25)
    ap.add_argument("--write-frames", type=int, default=250)
    ap.add_argument("--no-demo", action="store_true", help="skip the demo-size generate_footage run")
    args = ap.parse_args()
    cv2.setNumThreads(1)

    config = SynthConfig()
    t = time.perf_counter()
    plan = plan_footage(config)
    t_plan = time.perf_counter() - t
    print(f"config: {config.cameras} cameras, {config.identities} people, {config.seconds:.0f} s at {config.fps} fps, "
          f"{config.width}x{config.height}; plan {t_plan:.2f} s")

    render_s, frames, people, setup_s = 0.0, 0, 0, 0.0
    kept = []
    for cam in range(1, config.cameras + 1):
        t = time.perf_counter()
        r = open_video(config, cam, 1, plan=plan)
        setup_s += time.perf_counter() - t
        start = (config.num_frames - args.frames) // 2
        t = time.perf_counter()
        for f in range(start, start + args.frames):
            fr = r.render(f)
            people += len(fr.truth)
            if len(kept) < args.write_frames:
                kept.append(fr.image)
        render_s += time.perf_counter() - t
        frames += args.frames
    fps = frames / render_s
    print(f"render (lsvid.synth): {fps:8.1f} frames/s  ({frames} frames, {people / frames:.1f} people per frame; "
          f"setup {setup_s / config.cameras:.2f} s per video)  target >= 200: {'ok' if fps >= 200 else 'MISSED'}")

    r = open_video(config, 1, 1, plan=plan)
    rng = np.random.default_rng(0)
    mid = config.num_frames // 2
    t = time.perf_counter()
    for f in range(mid, mid + args.naive_frames):
        naive_frame(r, f, rng)
    naive_fps = args.naive_frames / (time.perf_counter() - t)
    t = time.perf_counter()
    for f in range(mid, mid + args.naive_frames):
        r.render(f)
    ours_cam1 = args.naive_frames / (time.perf_counter() - t)
    print(f"render (naive):       {naive_fps:8.1f} frames/s  (same camera 1 frames: ours {ours_cam1:.1f} frames/s, "
          f"ratio {ours_cam1 / naive_fps:.1f}x)")

    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        with VideoWriter(Path(d) / "bench", config.fps, config.size) as w:
            for img in kept:
                w.write(img)
        write_s = time.perf_counter() - t
        size = w.path.stat().st_size
    print(f"write ({w.fourcc}):        {len(kept) / write_s:8.1f} frames/s  ({len(kept)} frames, "
          f"{size / len(kept) / 1024:.1f} KiB/frame)")

    if not args.no_demo:
        demo = SynthConfig(cameras=3, identities=25, seconds=25)
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            m = generate_footage(Path(d) / "foot", demo, progress=False)
            wall = time.perf_counter() - t
        tm = m["timing"]
        print(f"demo footage ({demo.cameras} cameras x {demo.num_frames} frames, {demo.identities} people): {wall:.1f} s "
              f"(plan {tm['plan_s']:.1f}, render {tm['render_s']:.1f}, encode {tm['write_s']:.1f})")


if __name__ == "__main__":
    main()
