"""``lsvid convert`` and ``lsvid validate``."""
from __future__ import annotations

import json
from pathlib import Path

import click

from protocols import read_dataset
from protocols.datasets import convert, list_datasets

NATIVE = ("lsvid", "mars", "dukev", "prid", "ilids")


def format_counts(meta: dict) -> str:
    """The per-split counts of a dataset beside the official ones, as a small table."""
    counts = meta.get("counts", {})
    official = meta.get("official_counts", {})
    lines = [f"{'split':<8} {'tracklets':>10} {'identities':>10} {'frames':>11}   official"]
    for split in ("train", "val", "query", "gallery", "total"):
        c = counts.get(split)
        if not c:
            continue
        off = official.get(split, {})
        off_s = ", ".join(f"{k} {v:,}" for k, v in off.items()) if isinstance(off, dict) else ""
        lines.append(f"{split:<8} {c['tracklets']:>10,} {c['identities']:>10,} {c['frames']:>11,}   {off_s}")
    extra = {k: v for k, v in official.items() if not isinstance(v, dict)}
    if extra:
        lines.append("official: " + ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in extra.items()))
    return "\n".join(lines)


@click.command("convert")
@click.option("--dataset", "name", type=click.Choice(NATIVE), required=True, help="Which native dataset ROOT holds.")
@click.option("--root", type=click.Path(path_type=Path), required=True, help="The dataset as downloaded and unpacked.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Dataset folder to write (must not exist).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists (only once the new one is complete).")
@click.option("--seed", type=int, default=None, help="PRID-2011 only: seed of its 10 random trials (default 0), used where no split file is found.")
@click.option("--min-frames", type=click.IntRange(min=1), default=None, help="PRID-2011 only: frames a person needs in each camera (default 21).")
@click.option(
    "--split-file", type=click.Path(path_type=Path), default=None,
    help="PRID-2011 only: the official train_test_splits_prid.mat (default: looked for under 'train-test people splits/' "
    "in ROOT's PRID folder and its parent; without one, seeded trials).",
)
def convert_cmd(name: str, root: Path, out: Path, overwrite: bool, seed: int | None, min_frames: int | None, split_file: Path | None) -> None:
    """Read a native dataset in its official layout and write it in the Parquet schema.

    Frame paths stay relative to ROOT (recorded in dataset.json); no image is
    copied.  A missing file, a malformed .mat or list, or an image name that
    does not parse stops the conversion with a message naming it, and nothing
    is written.
    """
    opts: dict = {}
    if name == "prid":
        if seed is not None and split_file is not None:
            raise click.UsageError("--seed draws trials where there is no split file; it cannot be combined with --split-file")
        if seed is not None:
            opts["seed"] = seed
        if min_frames is not None:
            opts["min_frames"] = min_frames
        if split_file is not None:
            opts["split_file"] = str(split_file)  # recorded in dataset.json
    elif seed is not None or min_frames is not None or split_file is not None:
        raise click.UsageError("--seed, --min-frames and --split-file apply to --dataset prid only")
    path = convert(name, root, out, overwrite=overwrite, **opts)
    meta = json.loads((path / "dataset.json").read_text())
    click.echo(f"wrote {path} ({name}; protocol {meta['protocol']['name']}, {meta.get('num_trials', 1)} trial(s))")
    info = meta.get("reader", {}).get("info", {})
    if "split_source" in info:
        click.echo(f"trials: {'split file ' + info['split_file'] if info['split_source'] == 'file' else 'seed ' + str(info.get('seed'))}")
    click.echo(format_counts(meta))


@click.command("validate")
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option("--frames/--no-frames", default=True, help="Also check frames.parquet (slower on large sets).")
@click.option("--check-files", is_flag=True, help="Also check that every frame file exists under the image root.")
def validate_cmd(dataset: Path, frames: bool, check_files: bool) -> None:
    """Check DATASET against the schema; print its counts and how many queries the protocol
    can answer (a same-id gallery tracklet from another camera), or the first violation."""
    from lsvid.stats import queries_summary

    ds = read_dataset(dataset, frames=frames or check_files)
    if check_files:
        n, first = ds.missing_frames()
        if n:
            listing = "\n  ".join(str(p) for p in first)
            raise click.ClickException(f"{n} frame files listed in {dataset / 'frames.parquet'} do not exist under {ds.image_root}, e.g.\n  {listing}")
    click.echo(f"{dataset}: valid ({ds.name}, protocol {ds.protocol.name}, {ds.num_trials} trial(s))")
    click.echo(format_counts({**ds.meta, "counts": ds.counts()}))
    click.echo(queries_summary(ds))


__all__ = ["convert_cmd", "validate_cmd", "list_datasets"]
