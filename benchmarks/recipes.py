"""Both recipes under both evaluation protocols, on one synthetic dataset, in one table.

Run: python benchmarks/recipes.py [--out DIR] [--identities 40] [--seconds 30] [--device auto]
                                  [--methods gltr,avgpool] [--scale 1.0]

The dataset: ``lsvid synth`` footage (3 cameras) curated with the truth boxes
and identities (``--detector truth``), so that the table is about training
and scoring, not about detection.  Then, with one frame CNN size for both
(ResNet-18 at 128x64, CPU-sized schedules; ``--scale`` multiplies every
epoch count):

* ``paper``: stage (a), the frame CNN alone, then each method on the cached
  frame features (stage (b));
* ``released``: backbone and method trained together end to end on 16-frame
  clips, with the released code's DTP/TSA variants and head.

Each trained model is scored twice from the same video features: under the
``default`` protocol (raw features, the dataset's AP rule, queries without a
match skipped) and under ``official`` (L2-normalised features, Euclidean
distance, the MATLAB trapezoid AP, such queries counted as failures).  The
second scoring reuses the models: run folders are keyed by what training
depends on, and the protocol is not part of it.  Re-running resumes.

The last line reads ``recipes: R1 gltr paper/default X%, released/official Y%
(N methods x 2 recipes x 2 protocols, S s on DEVICE)``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark.recipes import recipe_config  # noqa: E402
from benchmark.results import read_leaderboard  # noqa: E402
from benchmark.runner import BenchRequest, run_bench  # noqa: E402
from benchmark.runtime import device_name, resolve_device  # noqa: E402

FRAME = {"backbone": "resnet18", "height": 128, "width": 64, "embed_dim": 128, "workers": 0}


def make_dataset(out: Path, identities: int, seconds: float, seed: int) -> Path:
    """Synthetic footage curated with its truth boxes and identities (reused when present)."""
    from lsvid.curate import CurateConfig, CurateRequest, curate
    from lsvid.synth import SynthConfig, generate_footage

    footage, dataset = out / "footage", out / "dataset"
    if not (footage / "footage.json").exists():
        generate_footage(footage, SynthConfig(cameras=3, identities=identities, seconds=seconds, size=(640, 360), seed=seed), workers=2, progress=False)
    if not (dataset / "dataset.json").exists():
        req = CurateRequest(footage=footage, out=dataset, config=CurateConfig(detector="truth"), identities="truth", seed=seed, workers=2,
                            progress=False, name="synthetic-recipes", train_fraction=0.5, val_fraction=0.05)
        curate(req, log=lambda _: None)
    return dataset


def configs(scale: float, seed: int) -> dict[str, dict]:
    """The two recipes' configs at CPU size: the same frame CNN, each recipe's own schedule."""
    e = lambda n: max(1, round(n * scale))  # noqa: E731
    paper = {"frame": {**FRAME, "epochs": e(6), "batch_size": 64, "frames_per_tracklet": 8, "lr": 0.05, "lr_step": e(4)},
             "agg": {"epochs": e(60), "lr_step": e(40), "checkpoint_every": 20}, "feature_batch": 256, "seed": seed}
    released = {"frame": {**FRAME, "last_stride": 1, "embed_bn": False},
                "video": {"epochs": e(12), "lr_step": e(8), "lr": 0.05, "workers": 0}, "feature_batch": 256, "seed": seed}
    return {"paper": paper, "released": released}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="working folder (default: a temporary one)")
    ap.add_argument("--identities", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--methods", default="gltr,avgpool")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies every epoch count")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="lsvid_recipes_"))
    device = resolve_device(args.device)
    t0 = time.perf_counter()
    dataset = make_dataset(out, args.identities, args.seconds, args.seed)
    methods = [m for m in args.methods.split(",") if m]
    board = out / "leaderboard.parquet"
    for recipe, data in configs(args.scale, args.seed).items():
        for protocol in ("default", "official"):
            cfg = recipe_config(recipe, {**data, "eval": protocol})
            run_bench(BenchRequest(dataset=dataset, methods=methods, run_dir=out / "runs", config=cfg, device=str(device), leaderboard=board, progress=False),
                      log=lambda s: print(s) if "mAP" in s else None)
    print_table(read_leaderboard(board), methods)
    df = read_leaderboard(board)
    pick = lambda r, p: df[(df.recipe == r) & (df["eval"] == p) & (df.method == methods[0])].rank1.iloc[-1]  # noqa: E731
    print(f"recipes: R1 {methods[0]} paper/default {pick('paper', 'default'):.1%}, released/official {pick('released', 'official'):.1%} "
          f"({len(methods)} methods x 2 recipes x 2 protocols, {time.perf_counter() - t0:.0f} s on {device_name(device)})")


def print_table(df, methods: list[str]) -> None:
    print(f"\n{'recipe':<9} {'training':<11} {'protocol':<9} {'method':<12} {'mAP':>7} {'R1':>7} {'R5':>7} {'R20':>7} {'queries':>9}")
    for recipe in ("paper", "released"):
        for protocol in ("default", "official"):
            for m in methods:
                r = df[(df.recipe == recipe) & (df["eval"] == protocol) & (df.method == m)].iloc[-1]
                print(f"{recipe:<9} {r.training:<11} {protocol:<9} {m:<12} {r.mAP:>7.1%} {r.rank1:>7.1%} {r.rank5:>7.1%} {r.rank20:>7.1%} "
                      f"{r.num_valid_queries:>4}/{r.num_queries:<4}")


if __name__ == "__main__":
    main()
