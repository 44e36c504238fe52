"""Cached frame-feature extraction vs the obvious loop, in frames per second.

Run: python benchmarks/feature_extraction.py [--frames 1024] [--device auto] [--backbone resnet50]
     [--content person|noise] [--decode threads,processes,nvjpeg]

A dataset of JPEG frames (256x128, quality 90, in the project's schema) is
generated in a temporary folder: person-like crops with sensor noise (about
the size of real ReID crops), or, with ``--content noise``, uniform noise, the
worst case for a JPEG decoder (files 3-4x larger).  A randomly initialised
backbone checkpoint embeds it:

* baseline: one tracklet at a time, each frame read with OpenCV in the main
  process, float32, the tracklet as the batch (the obvious implementation);
* ours: ``benchmark.feature_cache.extract_features`` — batches across
  tracklets, BatchNorm folded, bf16 autocast and channels-last on CUDA, with
  each decoder asked for (threads: OpenCV in a thread pool into pinned
  buffers; processes: OpenCV in DataLoader workers; nvjpeg: on the GPU).

Both include decoding and writing the cache.  The script prints frames/s of
each, the ratio and the device; features are compared (cosine similarity, bf16
on GPU).  On CUDA it also times the decoder alone and the network alone.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark.feature_cache import extract_features, inference_model  # noqa: E402
from benchmark.frames import DECODERS, make_loader, normalize, read_frame  # noqa: E402
from benchmark.runtime import device_name, resolve_device  # noqa: E402
from gltr import build_backbone, save_checkpoint  # noqa: E402
from protocols import read_dataset, tables_from_sequences, write_dataset  # noqa: E402


def person_crop(rng: np.random.Generator) -> np.ndarray:
    """A 256x128 BGR crop: a figure (head, torso, legs) on a shaded background, with sensor noise."""
    img = np.empty((256, 128, 3), np.float32)
    ramp = np.linspace(0.8, 1.2, 256, dtype=np.float32)[:, None, None]
    img[:] = rng.uniform(60, 160, 3).astype(np.float32) * ramp
    cv2.ellipse(img, (64, 36), (14, 18), 0, 0, 360, rng.uniform(90, 200, 3).tolist(), -1)
    cv2.rectangle(img, (36, 56), (92, 140), rng.uniform(20, 230, 3).tolist(), -1)
    cv2.rectangle(img, (42, 140), (62, 248), rng.uniform(20, 200, 3).tolist(), -1)
    cv2.rectangle(img, (66, 140), (86, 248), rng.uniform(20, 200, 3).tolist(), -1)
    img = cv2.GaussianBlur(img, (0, 0), 1.2)
    img += rng.normal(0, 6, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_dataset(root: Path, frames: int, per_tracklet: int = 32, content: str = "person") -> Path:
    rng = np.random.default_rng(0)
    seqs = []
    n_tr = max(1, frames // per_tracklet)
    for t in range(n_tr):
        paths = []
        base = person_crop(rng) if content == "person" else rng.integers(0, 255, (256, 128, 3), dtype=np.uint8)
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
    ap.add_argument("--workers", type=int, default=None, help="decoding threads/processes (default: cores - 2 on CUDA, 2 on CPU)")
    ap.add_argument("--decode", default=None, help=f"comma-separated decoders to time, of {', '.join(DECODERS)} (default: all on CUDA, threads on CPU)")
    ap.add_argument("--content", choices=["person", "noise"], default="person", help="person-like crops, or uniform noise (the decoder's worst case)")
    args = ap.parse_args()
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    n = args.frames or (163840 if cuda else 1024)
    batch = args.batch or (1024 if cuda else 128)
    workers = args.workers if args.workers is not None else (max(1, (os.cpu_count() or 4) - 2) if cuda else 2)
    decoders = (args.decode or (",".join(DECODERS) if cuda else "threads")).split(",")
    quiet = dict(progress=False, log=lambda s: None)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        ds = read_dataset(make_dataset(root, n, content=args.content))
        kb = np.mean([(ds.image_root / p).stat().st_size for p in ds.frames["path"].iloc[:: max(1, n // 200)]]) / 1024
        print(f"generated {len(ds.frames)} JPEG frames ({args.content}, 256x128, mean {kb:.1f} KB) in {time.perf_counter() - t:.1f} s")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = build_backbone(args.backbone, weights="random")
        ckpt = save_checkpoint(model, root / "backbone.pt", extra={"config": {"height": 256, "width": 128}})
        model = model.to(device)
        warm = read_dataset(make_dataset(root / "warm", 2 * batch, content=args.content))
        t = time.perf_counter()
        ref = baseline(ds, model, device, args.baseline_frames)
        nb = len(ref)
        t_base = (time.perf_counter() - t) / nb  # seconds per frame
        nf = len(ds.frames)
        print(f"device: {device_name(device)}; backbone {args.backbone} at 256x128, decode included")
        print(f"one tracklet at a time, fp32 (first {nb} frames):  {1 / t_base:9.0f} frames/s")
        best = 0.0
        for dec in decoders:
            # warm-up at the full batch shape (cuDNN autotuning, worker start-up, nvJPEG handles)
            extract_features(warm, ckpt, root / f"warm_{dec}", device=device, batch_size=batch, workers=workers, decoder=dec, **quiet)
            if cuda:
                torch.cuda.synchronize()
            t = time.perf_counter()
            cache = extract_features(ds, ckpt, root / f"cache_{dec}", device=device, batch_size=batch, workers=workers, decoder=dec, **quiet)
            t_ours = time.perf_counter() - t
            ours = np.asarray(cache.features[:nb])
            cos = (ref * ours).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(ours, axis=1) + 1e-12)
            how = f"{dec} decoder" + (", bf16, channels-last, BN folded" if cuda else ", BN folded")
            print(f"feature cache (batch {batch}, {workers} workers, {how}): {nf / t_ours:9.0f} frames/s   ratio {t_base * nf / t_ours:.1f}x   (min cosine to fp32 {cos.min():.4f})")
            best = max(best, nf / t_ours)
        paths = [str(ds.image_root / p) for p in ds.frames["path"]]
        for dec in decoders:
            t = time.perf_counter()
            for _ in make_loader(paths, None, height=256, width=128, batch_size=batch, workers=workers, device=device, decoder=dec):
                pass
            if cuda:
                torch.cuda.synchronize()
            print(f"the {dec} decoder alone (read, decode, batch{', to the GPU' if cuda else ''}): {nf / (time.perf_counter() - t):9.0f} frames/s")
        if cuda:
            x = torch.randn(batch, 3, 256, 128, device=device).contiguous(memory_format=torch.channels_last)
            for name, net in (("as built", model.eval().to(memory_format=torch.channels_last)), ("BN folded", inference_model(model, device))):
                with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
                    for _ in range(3):
                        net(x)
                    torch.cuda.synchronize()
                    t = time.perf_counter()
                    for _ in range(10):
                        net(x)
                    torch.cuda.synchronize()
                print(f"the network alone ({name}; no decode, no copy), batch {batch}: {10 * batch / (time.perf_counter() - t):9.0f} frames/s")
            print(f"goal >= 20,000 frames/s on GPU including decode: {'met' if best >= 20000 else 'not met'} ({best:.0f})")


if __name__ == "__main__":
    main()
