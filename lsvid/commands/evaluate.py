"""``lsvid evaluate``: score your own video features under a dataset's protocol."""
from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from protocols import SchemaError, read_dataset
from protocols.evaluation import evaluate_dataset, summarize


def load_features(path: Path, tracklet_ids: np.ndarray) -> np.ndarray:
    """Features aligned with ``tracklet_ids``.

    ``.npy``: one row per row of tracklets.parquet, in its order.  ``.npz``:
    arrays ``tracklet_id`` and ``features`` in any order (every tracklet present).
    """
    if not path.exists():
        raise click.ClickException(f"{path}: missing; expected a .npy (rows in tracklets.parquet order) or .npz (tracklet_id, features)")
    try:
        if path.suffix == ".npz":
            z = np.load(path)
            if "tracklet_id" not in z or "features" not in z:
                raise click.ClickException(f"{path}: expected arrays 'tracklet_id' and 'features', found {list(z.keys())}")
            ids, feats = z["tracklet_id"].astype(np.int64), z["features"]
            pos = {int(t): i for i, t in enumerate(ids)}
            missing = [int(t) for t in tracklet_ids if int(t) not in pos]
            if missing:
                raise click.ClickException(f"{path}: no features for {len(missing)} tracklets (first: {missing[0]})")
            return np.asarray(feats[[pos[int(t)] for t in tracklet_ids]], dtype=np.float32)
        feats = np.load(path)
    except (ValueError, OSError) as e:
        raise click.ClickException(f"{path}: not a readable numpy file ({e})") from e
    if feats.ndim != 2 or len(feats) != len(tracklet_ids):
        raise click.ClickException(f"{path}: shape {feats.shape}; expected ({len(tracklet_ids)}, D), one row per tracklet")
    return np.asarray(feats, dtype=np.float32)


@click.command("evaluate")
@click.option("--dataset", "dataset", type=click.Path(path_type=Path), required=True, help="Dataset folder (schema).")
@click.option("--features", type=click.Path(path_type=Path), required=True, help=".npy or .npz video features, one per tracklet.")
@click.option("--metric", type=click.Choice(["euclidean", "cosine", "sqeuclidean"]), default="euclidean", show_default=True)
@click.option("--rerank", is_flag=True, help="k-reciprocal re-ranking (Zhong et al. 2017; k1=20, k2=6, lambda=0.3).")
@click.option("--trial", "trials", type=int, multiple=True, help="Score only these trials (PRID/iLIDS); default all.")
@click.option("--json-out", type=click.Path(path_type=Path), default=None, help="Also write the results as JSON.")
def evaluate_cmd(dataset: Path, features: Path, metric: str, rerank: bool, trials: tuple[int, ...], json_out: Path | None) -> None:
    """CMC and mAP of FEATURES under DATASET's protocol (junk ids, trials, max rank)."""
    try:
        ds = read_dataset(dataset, frames=False)
    except (SchemaError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from e
    feats = load_features(features, ds.tracklets["tracklet_id"].to_numpy())
    try:
        results = evaluate_dataset(ds, feats, metric=metric, rerank=rerank, trials=trials or None)
    except ValueError as e:
        raise click.ClickException(f"{features}: {e}") from e
    for r in results:
        d = r.result.to_dict()
        click.echo(
            f"trial {r.trial}: mAP {d['mAP']:.2%}  R1 {d['rank1']:.2%}  R5 {d.get('rank5', float('nan')):.2%}  "
            f"R10 {d.get('rank10', float('nan')):.2%}  R20 {d.get('rank20', float('nan')):.2%}  "
            f"({d['num_valid_queries']}/{d['num_queries']} queries with a match)"
        )
    s = summarize(results)
    if len(results) > 1:
        click.echo(
            f"mean over {len(results)} trials: mAP {s['mAP']:.2%} ± {s['mAP_std']:.2%}  R1 {s['rank1']:.2%} ± {s['rank1_std']:.2%}"
        )
    if json_out:
        json_out.write_text(json.dumps({"dataset": str(dataset), "summary": s, "trials": [dict(trial=r.trial, **r.result.to_dict()) for r in results]}, indent=2))
