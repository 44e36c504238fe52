"""``lsvid demo``: the whole mission on embedded data, no downloads, minutes on a laptop.

1. ``lsvid synth``: multi-camera footage of walking people with exact truth
   (twins included: look-alikes that differ only in gait);
2. ``lsvid curate``: detect (background subtraction), track by appearance,
   filter, identities across cameras, LS-VID's 1:3 split — scored against the
   truth;
3. ``lsvid bench``: a small frame CNN trained on CPU, the feature cache, and
   avgpool, DTP, TSA and GLTR (plus any --methods) trained and scored;
4. ``lsvid leaderboard``: Markdown/HTML with CMC curves and retrieval strips;
5. the five public datasets' native layouts (toy copies) read and scored with
   a weight-free descriptor, so every reader runs too.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import click
import cv2
import numpy as np
from tqdm import tqdm

from lsvid_core.errors import InputError
from lsvid_core.paths import check_location, check_output, is_ours, staged_folder, write_marker
from protocols import Dataset, read_dataset
from protocols.datasets import convert
from protocols.evaluation import evaluate_dataset, summarize

from ..appearance import colour_histogram
from ..toy_native import write_native

NATIVE = ("lsvid", "mars", "dukev", "prid", "ilids")


def read_image(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise InputError(f"{path}: {'missing image' if not path.exists() else 'not a readable image'}")
    return img


def tracklet_features(ds: Dataset) -> np.ndarray:
    """Mean colour histogram of each tracklet's frames, in tracklets.parquet order."""
    paths = ds.frame_paths()
    chunks = [colour_histogram([read_image(p) for p in paths[i : i + 512]]) for i in range(0, len(paths), 512)]
    feats = np.concatenate(chunks)
    row = ds.tracklets.reset_index().set_index("tracklet_id").loc[ds.frames["tracklet_id"], "index"].to_numpy()
    out = np.zeros((len(ds.tracklets), feats.shape[1]), np.float64)
    np.add.at(out, row, feats)
    out /= np.bincount(row, minlength=len(ds.tracklets))[:, None]
    return out.astype(np.float32)


def native_check(out: Path, seed: int, progress: bool = True) -> list[dict]:
    rows = []
    for name in tqdm(NATIVE, desc="public dataset layouts", leave=False, disable=not progress):
        native = out / "native" / name
        if native.is_dir() and not native.is_symlink() and not is_ours(native) and (out / "native_results.json").is_file():
            write_marker(native, "toy-native", "lsvid demo")  # an older demo's tree, written before outputs carried a marker
        check_output(native, overwrite=True, kind="toy native tree")
        with staged_folder(native, kind="toy-native", tool="lsvid demo") as tmp:
            write_native(name, tmp, seed=seed)
        ds = read_dataset(convert(name, native, out / "native_datasets" / name, overwrite=True))
        s = summarize(evaluate_dataset(ds, tracklet_features(ds)))
        rows.append({"dataset": name, "protocol": ds.protocol.name, **s})
    return rows


@click.command("demo")
@click.option("--out", type=click.Path(path_type=Path), default=Path("demo_out"), show_default=True, help="Working folder (reused: a re-run resumes).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--methods", default="avgpool,dtp,tsa,gltr", show_default=True, help="Aggregators to rank.")
@click.option("--identities", type=click.IntRange(min=4), default=80, show_default=True, help="People in the synthetic footage.")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), default=90.0, show_default=True, help="Length of each synthetic video.")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Videos curated in parallel.")
@click.option("--device", default="auto", show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def demo_cmd(out: Path, seed: int, methods: str, identities: int, seconds: float, workers: int, device: str, quiet: bool) -> None:
    """Synthetic footage -> curated dataset -> GLTR and baselines trained and ranked ->
    leaderboard, plus the five public datasets' native layouts; no data or weights needed."""
    from benchmark.config import BenchConfig
    from benchmark.report import render
    from benchmark.runner import BenchRequest, run_bench

    from ..curate import CurateConfig, CurateRequest, curate, format_report
    from ..quality import format_quality
    from ..stats import format_table1, table1_row
    from ..synth import SynthConfig, generate_footage

    t0 = time.perf_counter()
    check_location(out, "--out")
    out.mkdir(parents=True, exist_ok=True)
    progress = not quiet
    footage = out / "footage"
    scfg = SynthConfig(cameras=4, identities=identities, seconds=seconds, size=(640, 360), twins=0.3, seed=seed)
    if not (footage / "footage.json").exists():
        click.echo(f"[1/5] synthetic footage: 4 cameras, {identities} people, {seconds:.0f} s each")
        generate_footage(footage, scfg, workers=workers, progress=progress)
    dataset = out / "dataset"
    # LS-VID's 842:200:2,730 proportions would leave ~20 training identities in footage this
    # small; the demo trains on half of them so the CPU-trained network has something to learn from
    click.echo("[2/5] curation: bundled synthetic detector, appearance tracking, filters, identities from truth, train:val:test = 50:5:45")
    req = CurateRequest(footage=footage, out=dataset, config=CurateConfig(), identities="truth",
                        seed=seed, workers=workers, evaluate=True, overwrite=True, progress=progress, name="synthetic-demo",
                        train_fraction=0.5, val_fraction=0.05)
    path, report = curate(req, log=click.echo)
    click.echo(format_report(report))
    if report.quality is not None:  # always, with evaluate=True
        click.echo(format_quality(report.quality))
    ds = read_dataset(path, frames=False)
    click.echo(format_table1(table1_row(ds)))
    click.echo("[3/5] benchmark: ResNet-18 frame CNN (CPU-sized), feature cache, " + methods)
    cfg = BenchConfig.from_dict({
        "frame": {"backbone": "resnet18", "epochs": 6, "height": 128, "width": 64, "batch_size": 64, "frames_per_tracklet": 8, "workers": 0, "lr": 0.05, "lr_step": 4},
        "agg": {"epochs": 60, "lr_step": 40, "checkpoint_every": 20, "batch_size": 10},
        "feature_batch": 256,
        "seed": seed,
    })
    runs = out / "runs"
    run_bench(BenchRequest(dataset=path, methods=[m for m in methods.split(",") if m], run_dir=runs, config=cfg, device=device, progress=progress), log=click.echo)
    click.echo("[4/5] leaderboard")
    rep = render(runs / "leaderboard.parquet", runs / "report", run_dir=runs)
    click.echo(Path(rep["markdown"]).read_text().split("## All methods")[0].strip())
    click.echo("[5/5] the five public datasets' native layouts (toy copies), colour-histogram baseline")
    rows = native_check(out, seed, progress=progress)
    click.echo(f"{'dataset':<7} {'trials':>6} {'mAP':>7} {'R1':>7}")
    for r in rows:
        click.echo(f"{r['dataset']:<7} {r['trials']:>6} {r['mAP']:>7.1%} {r['rank1']:>7.1%}")
    (out / "native_results.json").write_text(json.dumps(rows, indent=2))
    click.echo(f"\nHTML report: {rep['html']}\ndataset: {path}  (lsvid stats / lsvid review work on it)\ntotal {time.perf_counter() - t0:.0f} s")
