"""``lsvid demo``: the main job on embedded data, no downloads, a few seconds on a laptop.

Until the footage-to-leaderboard pipeline lands, the demo exercises the whole
evaluation half: it writes a small tree in each public dataset's native
layout, converts all five to the Parquet schema, scores a weight-free colour
descriptor under each dataset's own protocol (PRID/iLIDS over their 10 trials,
MARS with its junk ids), re-ranks, and prints the table.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import click
import cv2
import numpy as np
from tqdm import tqdm

from protocols import Dataset, read_dataset
from protocols.datasets import convert
from protocols.evaluation import evaluate_dataset, summarize

from ..appearance import colour_histogram
from ..toy_native import write_native

DATASETS = ("lsvid", "mars", "dukev", "prid", "ilids")


def read_image(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        if not path.exists():
            raise click.ClickException(f"{path}: missing image")
        raise click.ClickException(f"{path}: not a readable image")
    return img


def tracklet_features(ds: Dataset) -> np.ndarray:
    """Mean colour histogram of each tracklet's frames, in tracklets.parquet order."""
    fr = ds.frames
    paths = ds.frame_paths()
    feats = np.zeros((len(paths), 0), np.float32)
    chunks = []
    for i in tqdm(range(0, len(paths), 512), desc=f"{ds.name}: frame descriptors", leave=False, unit="blk"):
        chunks.append(colour_histogram([read_image(p) for p in paths[i : i + 512]]))
    feats = np.concatenate(chunks) if chunks else feats
    tid = fr["tracklet_id"].to_numpy()
    order = {t: i for i, t in enumerate(ds.tracklets["tracklet_id"].to_numpy().tolist())}
    row = np.array([order[t] for t in tid.tolist()])
    out = np.zeros((len(order), feats.shape[1]), np.float64)
    np.add.at(out, row, feats)
    out /= np.bincount(row, minlength=len(order))[:, None]
    return out.astype(np.float32)


@click.command("demo")
@click.option("--out", type=click.Path(path_type=Path), default=Path("demo_out"), show_default=True, help="Working folder.")
@click.option("--seed", type=int, default=0, show_default=True)
def demo_cmd(out: Path, seed: int) -> None:
    """Convert toy copies of LS-VID, MARS, DukeMTMC-VideoReID, PRID-2011 and iLIDS-VID
    (written in their native layouts), and score a colour-histogram baseline on each
    under its own protocol, with and without k-reciprocal re-ranking."""
    t0 = time.perf_counter()
    rows = []
    for name in DATASETS:
        native = out / "native" / name
        if native.exists():
            shutil.rmtree(native)
        write_native(name, native, seed=seed)
        ds_path = convert(name, native, out / "datasets" / name, overwrite=True)
        ds = read_dataset(ds_path)
        feats = tracklet_features(ds)
        for rerank in (False, True):
            s = summarize(evaluate_dataset(ds, feats, rerank=rerank))
            c = ds.counts()
            rows.append(
                {
                    "dataset": name,
                    "protocol": ds.protocol.name,
                    "rerank": rerank,
                    "tracklets": c["total"]["tracklets"],
                    "query": c.get("query", {}).get("tracklets", 0),
                    "gallery": c.get("gallery", {}).get("tracklets", 0),
                    **s,
                }
            )
    click.echo("\nColour-histogram baseline (no learning) on toy copies of the five datasets:")
    click.echo(f"{'dataset':<7} {'rerank':<6} {'trials':>6} {'query':>6} {'gallery':>7} {'mAP':>7} {'R1':>7} {'R5':>7} {'R10':>7} {'R20':>7}")
    for r in rows:
        std = f" ±{r['mAP_std']:.1%}" if r["trials"] > 1 else ""
        click.echo(
            f"{r['dataset']:<7} {'yes' if r['rerank'] else 'no':<6} {r['trials']:>6} {r['query']:>6} {r['gallery']:>7} "
            f"{r['mAP']:>7.1%} {r['rank1']:>7.1%} {r['rank5']:>7.1%} {r['rank10']:>7.1%} {r['rank20']:>7.1%}{std}"
        )
    (out / "results.json").write_text(json.dumps(rows, indent=2))
    click.echo(f"\ndatasets in {out / 'datasets'}; results in {out / 'results.json'} ({time.perf_counter() - t0:.1f} s)")
