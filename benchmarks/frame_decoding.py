"""Frame loading (read, decode, batch, normalise) vs the obvious torchreid-style loader.

Run: python benchmarks/frame_decoding.py [--frames 8192] [--batch 128] [--workers 2] [--device auto]
     [--content person|noise] [--decode threads,processes,nvjpeg]

The obvious loader is what ReID code bases usually do: a ``DataLoader`` whose
worker processes open each frame with PIL, apply ``Resize``, ``ToTensor`` and
``Normalize`` per image, collate float32 tensors and pin them.  Ours is
``benchmark.frames.make_loader`` with each decoder asked for, normalising the
whole batch on the device (as stage (a) and the feature cache do).  Both hand
over normalised ``(B, 3, 256, 128)`` float batches on the device; the script
prints frames/s of each and the ratio, in one run.  No network runs, so this
times exactly the loading that feeds the frame CNN.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from feature_extraction import make_dataset  # noqa: E402

from benchmark.frames import DECODERS, IMAGENET_MEAN, IMAGENET_STD, make_loader, normalize  # noqa: E402
from benchmark.runtime import device_name, resolve_device  # noqa: E402
from protocols import read_dataset  # noqa: E402


class PilFrames(Dataset):
    """torchreid's way: PIL per image, torchvision transforms per image, in worker processes."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        self.tf = transforms.Compose([transforms.Resize((256, 128)), transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        with Image.open(self.paths[i]) as im:
            return self.tf(im.convert("RGB"))


def time_loader(batches, device: torch.device) -> tuple[float, int]:
    t = time.perf_counter()
    n = 0
    for x in batches:
        n += x.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=8192)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--content", choices=["person", "noise"], default="person")
    ap.add_argument("--decode", default=None, help=f"comma-separated, of {', '.join(DECODERS)} (default: all on CUDA, threads and processes on CPU)")
    args = ap.parse_args()
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    decoders = (args.decode or ("threads,processes,nvjpeg" if cuda else "threads,processes")).split(",")
    with tempfile.TemporaryDirectory() as tmp:
        ds = read_dataset(make_dataset(Path(tmp), args.frames, content=args.content))
        paths = [str(ds.image_root / p) for p in ds.frames["path"]]
        kb = np.mean([Path(p).stat().st_size for p in paths[:: max(1, len(paths) // 200)]]) / 1024
        print(f"device: {device_name(device)}; {len(paths)} JPEG frames ({args.content}, 256x128, mean {kb:.1f} KB), batch {args.batch}, {args.workers} workers")

        def obvious():
            loader = DataLoader(PilFrames(paths), batch_size=args.batch, num_workers=args.workers, pin_memory=cuda)
            for x in loader:
                yield x.to(device, non_blocking=True)

        def ours(dec: str):
            for x, _ in make_loader(paths, None, height=256, width=128, batch_size=args.batch, workers=args.workers, device=device, decoder=dec):
                yield normalize(x)

        time_loader(obvious(), device)  # warm the page cache and the worker start-up path
        t_obv, n = time_loader(obvious(), device)
        print(f"obvious: PIL + per-image transforms in {args.workers} worker processes: {n / t_obv:8.0f} frames/s")
        for dec in decoders:
            t, n = time_loader(ours(dec), device)
            print(f"ours, {dec} decoder: {n / t:8.0f} frames/s   ratio {t_obv / t:.2f}x")


if __name__ == "__main__":
    main()
