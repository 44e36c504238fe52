"""Cached frame-feature extraction vs the obvious loop, in frames per second.

Run: python benchmarks/feature_extraction.py [--frames 1024] [--device auto] [--backbone resnet50]

A dataset of JPEG frames (256x128, in the project's schema) is generated in a
temporary folder; a randomly initialised backbone checkpoint embeds it twice:

* baseline: one tracklet at a time, each frame read with OpenCV in the main
  process, float32, the tracklet as the batch (the obvious implementation);
* ours: ``benchmark.feature_cache.extract_features`` — batches across
  tracklets, decoding in worker processes (nvJPEG on the GPU when on CUDA),
  bf16 autocast and channels-last on CUDA.

Both include decoding.  The script prints frames/s of each, the ratio and the
device; features are compared (cosine similarity, bf16 on GPU).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark.feature_cache import extract_features  # noqa: E402
from benchmark.frames import normalize, read_frame  # noqa: E402
from benchmark.runtime import device_name, resolve_device  # noqa: E402
from gltr import build_backbone, save_checkpoint  # noqa: E402
from protocols import read_dataset, tables_from_sequences, write_dataset  # noqa: E402


def make_dataset(root: Path, frames: int, per_tracklet: int = 32) -> Path:
    rng = np.random.default_rng(0)
    seqs = []
    n_tr = max(1, frames // per_tracklet)
    for t in range(n_tr):
        paths = []
        base = rng.integers(0, 255, (256, 128, 3), dtype=np.uint8)
        ok, enc = cv2.imencode(".jpg", base, [cv2.IMWRITE_JPEG_QUALITY, 90])
        (root / "img" / f"{t:05d}").mkdir(parents=True, exist_ok=True)
        for f in range(per_tracklet):
            # one encoding per tracklet keeps generation fast; every frame is still its own file to read and decode
            rel = f"img/{t:05d}/{f:03d}.jpg"
            (root / rel).write_bytes(enc.tobytes())
            paths.append(rel)
        seqs.append({"person_id": t % 50, "camera_id": 1 + t % 6, "split": "gallery", "paths": paths})
    tr, fr = tables_from_sequences(seqs)
    return write_dataset(root / "ds", tr, fr, {"name": "speed", "image_root": str(root)})


@torch.inference_mode()
def baseline(ds, model, device, limit: int) -> np.ndarray:
    model = model.float().eval()
    out = []
    for _, g in ds.frames.iloc[:limit].groupby("tracklet_id", sort=True):
        x = np.stack([read_frame(str(ds.image_root / p), 256, 128) for p in g["path"]])
        x = torch.from_numpy(x).permute(0, 3, 1, 2).float().to(device)
        out.append(model(normalize(x).contiguous()).cpu().numpy())
    return np.concatenate(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=None, help="frames to embed (default: 1024 on CPU, 163840 on CUDA)")
    ap.add_argument("--baseline-frames", type=int, default=16384, help="the slow baseline runs on the first this-many frames (its rate is per tracklet, so constant)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--backbone", default="resnet50")
    ap.add_argument("--batch", type=int, default=None, help="our batch size (default 128 on CPU, 1024 on CUDA)")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--decode", choices=["gpu", "cpu", "both"], default="both", help="on CUDA: nvJPEG, OpenCV in the workers, or time both")
    args = ap.parse_args()
    device = resolve_device(args.device)
    n = args.frames or (163840 if device.type == "cuda" else 1024)
    batch = args.batch or (1024 if device.type == "cuda" else 128)
    workers = args.workers if args.workers is not None else (8 if device.type == "cuda" else 2)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        ds = read_dataset(make_dataset(root, n))
        print(f"generated {len(ds.frames)} JPEG frames at 256x128 in {time.perf_counter() - t:.1f} s")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = build_backbone(args.backbone, weights="random")
        ckpt = save_checkpoint(model, root / "backbone.pt", extra={"config": {"height": 256, "width": 128}})
        model = model.to(device)
        # warm-up both paths (cuDNN autotuning, worker start-up)
        extract_features(read_dataset(make_dataset(root / "warm", 256)), ckpt, root / "cache_warm", device=device, batch_size=batch, workers=workers, progress=False, log=lambda s: None)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        ref = baseline(ds, model, device, args.baseline_frames)
        nb = len(ref)
        t_base = (time.perf_counter() - t) / nb  # seconds per frame
        nf = len(ds.frames)
        print(f"device: {device_name(device)}; backbone {args.backbone} at 256x128, decode included")
        print(f"one tracklet at a time, fp32 (first {nb} frames):  {1 / t_base:9.0f} frames/s")
        modes = [True, False] if (device.type == "cuda" and args.decode == "both") else [device.type == "cuda" and args.decode == "gpu"]
        best = 0.0
        for gpu in modes:
            t = time.perf_counter()
            cache = extract_features(ds, ckpt, root / f"cache_{gpu}", device=device, batch_size=batch, workers=workers, gpu_decode=gpu, progress=False, log=lambda s: None)
            t_ours = time.perf_counter() - t
            ours = np.asarray(cache.features[:nb])
            cos = (ref * ours).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(ours, axis=1) + 1e-12)
            how = ("nvJPEG decode" if gpu else "OpenCV decode in workers") + (", bf16, channels-last" if device.type == "cuda" else "")
            print(f"feature cache (batch {batch}, {workers} workers, {how}): {nf / t_ours:9.0f} frames/s   ratio {t_base * nf / t_ours:.1f}x   (min cosine to fp32 {cos.min():.4f})")
            best = max(best, nf / t_ours)
        if device.type == "cuda":
            x = torch.randn(batch, 3, 256, 128, device=device).contiguous(memory_format=torch.channels_last)
            with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
                for _ in range(3):
                    model(x)
                torch.cuda.synchronize()
                t = time.perf_counter()
                for _ in range(10):
                    model(x)
                torch.cuda.synchronize()
            print(f"the network alone (no decode, no copy), batch {batch}: {10 * batch / (time.perf_counter() - t):9.0f} frames/s")
            print(f"goal >= 20,000 frames/s on GPU including decode: {'met' if best >= 20000 else 'not met'} ({best:.0f})")


if __name__ == "__main__":
    main()
