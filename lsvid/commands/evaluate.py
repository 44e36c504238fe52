"""``lsvid evaluate``: score your own video features under a dataset's protocol."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import click
import numpy as np

from lsvid_core.errors import InputError, MissingInputError, UnsafeOutputError
from lsvid_core.paths import atomic_write_text
from protocols import read_dataset
from protocols.evaluation import EVAL_SETTINGS, EvalSetting, evaluate_dataset, resolve_setting, summarize
from protocols.metrics import AP_VARIANTS

EXPECTED = "a .npy of shape (tracklets, D) in tracklets.parquet order, or an .npz with arrays 'tracklet_id' and 'features'"


def _load(path: Path):
    if not path.exists():
        raise MissingInputError(f"{path}: missing; expected {EXPECTED}")
    if path.is_dir():
        raise InputError(f"{path}: is a folder; expected {EXPECTED}")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes); expected {EXPECTED}")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise InputError(f"{path}: not a readable numpy file ({type(e).__name__}: {e}); expected {EXPECTED}") from None


def _as_features(feats: np.ndarray, path: Path, n: int) -> np.ndarray:
    if not (np.issubdtype(feats.dtype, np.floating) or np.issubdtype(feats.dtype, np.integer)) or feats.dtype == bool:
        raise InputError(f"{path}: features of dtype {feats.dtype}; expected numbers (float32 or float64)")
    if feats.ndim != 2 or len(feats) != n:
        raise InputError(f"{path}: shape {feats.shape}; expected ({n}, D), one row per tracklet")
    if feats.shape[1] == 0:
        raise InputError(f"{path}: features of width 0; expected ({n}, D) with D >= 1")
    return np.asarray(feats, dtype=np.float32)


def load_features(path: Path, tracklet_ids: np.ndarray) -> np.ndarray:
    """Features aligned with ``tracklet_ids``.

    ``.npy``: one row per row of tracklets.parquet, in its order.  ``.npz``:
    arrays ``tracklet_id`` and ``features`` in any order (every tracklet present).
    """
    z = _load(path)
    if isinstance(z, np.ndarray):
        return _as_features(z, path, len(tracklet_ids))
    with z:
        if "tracklet_id" not in z or "features" not in z:
            raise InputError(f"{path}: expected arrays 'tracklet_id' and 'features', found {list(z.keys())}")
        ids, feats = z["tracklet_id"], z["features"]
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise InputError(f"{path}: 'tracklet_id' of shape {ids.shape} and dtype {ids.dtype}; expected a 1-D integer array")
    if len(np.unique(ids)) != len(ids):
        raise InputError(f"{path}: 'tracklet_id' lists a tracklet twice")
    if feats.ndim < 1 or len(feats) != len(ids):
        raise InputError(f"{path}: {len(ids)} tracklet ids but 'features' of shape {feats.shape}; expected one row per id")
    feats = _as_features(feats, path, len(ids))
    pos = {int(t): i for i, t in enumerate(ids.tolist())}
    missing = [int(t) for t in tracklet_ids if int(t) not in pos]
    if missing:
        raise InputError(f"{path}: no features for {len(missing)} tracklets (first: {missing[0]})")
    return feats[[pos[int(t)] for t in tracklet_ids]]


def _check_json_out(path: Path | None) -> None:
    """Refuse a --json-out that cannot be written, before any work is done."""
    if path is None:
        return
    parent = path.absolute().parent
    if not parent.is_dir():
        raise UnsafeOutputError(f"--json-out {path}: its folder {parent} does not exist")
    if path.is_dir() or path.is_symlink():
        raise UnsafeOutputError(f"--json-out {path}: is a {'folder' if path.is_dir() else 'symbolic link'}; expected a file name")


def _setting(setting: str, protocol, metric: str | None, ap: str | None) -> EvalSetting:
    """The evaluation setting with its metric and AP decided; a conflict with --metric/--ap names the options."""
    try:
        return resolve_setting(setting, protocol, metric=metric, ap=ap)
    except InputError as e:
        raise click.UsageError(f"--eval {setting}: {e} (--metric / --ap)") from None


def _echo_setting(s: EvalSetting, ap: str | None) -> None:
    """Say what the numbers below follow: the AP definition, and for a named setting what it fixes."""
    fixes_ap = EVAL_SETTINGS[s.name].ap is not None
    source = f"the {s.name} setting" if fixes_ap else ("--ap" if ap else "the dataset protocol")
    click.echo(f"AP: {s.ap} ({source}'s definition)")
    if s.name != "default":
        norm = "L2-normalised features, " if s.normalize else ""
        how = "count as failures (AP 0, no hit; means over all queries)" if s.unanswerable == "zero" else "are skipped"
        click.echo(f"evaluation: {s.name} ({norm}{s.metric} distance; queries without a match {how})")


@click.command("evaluate")
@click.option("--dataset", "dataset", type=click.Path(path_type=Path), required=True, help="Dataset folder (schema).")
@click.option("--features", type=click.Path(path_type=Path), required=True, help=".npy or .npz video features, one per tracklet.")
@click.option("--metric", type=click.Choice(["euclidean", "cosine", "sqeuclidean"]), default=None, help="Distance (default: euclidean).")
@click.option("--rerank", is_flag=True, help="k-reciprocal re-ranking (Zhong et al. 2017; k1=20, k2=6, lambda=0.3).")
@click.option("--trial", "trials", type=click.IntRange(min=0), multiple=True, help="Score only these trials (PRID/iLIDS); default all.")
@click.option(
    "--ap", "ap", type=click.Choice(list(AP_VARIANTS)), default=None,
    help="AP definition of the mAP: torchreid (mean precision at each true match) or market1501 (the official "
    "Market-1501/MARS MATLAB code's trapezoid rule).  Default: the dataset protocol's.",
)
@click.option(
    "--eval", "setting", type=click.Choice(list(EVAL_SETTINGS)), default="default", show_default=True,
    help="Evaluation setting: default (our rule: queries without a match skipped) or official (the GLTR / MARS / "
    "DukeMTMC-VideoReID MATLAB scripts: L2-normalised features, Euclidean distance, market1501 AP, queries "
    "without a match count as failures).  official refuses a different --metric or --ap.",
)
@click.option("--json-out", type=click.Path(path_type=Path), default=None, help="Also write the results as JSON.")
def evaluate_cmd(dataset: Path, features: Path, metric: str | None, rerank: bool, trials: tuple[int, ...], ap: str | None, setting: str,
                 json_out: Path | None) -> None:
    """CMC and mAP of FEATURES under DATASET's protocol (junk ids, trials, max rank, AP definition)."""
    _check_json_out(json_out)
    ds = read_dataset(dataset, frames=False)
    chosen = _setting(setting, ds.protocol, metric, ap)
    feats = load_features(features, ds.tracklets["tracklet_id"].to_numpy())
    try:
        results = evaluate_dataset(ds, feats, metric=metric, rerank=rerank, trials=trials or None, ap=ap, setting=setting)
    except InputError as e:
        raise InputError(f"{features}: {e}") from None
    variant = chosen.ap
    _echo_setting(chosen, ap)
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
        atomic_write_text(
            json_out,
            json.dumps({"dataset": str(dataset), "ap": variant, "eval": setting, "summary": s, "trials": [dict(trial=r.trial, **r.result.to_dict()) for r in results]}, indent=2),
        )
