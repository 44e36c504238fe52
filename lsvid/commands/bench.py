"""``lsvid bench`` and ``lsvid leaderboard``."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click


def _method_options(options: tuple[str, ...]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for o in options:
        try:
            key, value = o.split("=", 1)
            m, k = key.split(".", 1)
            out.setdefault(m, {})[k] = json.loads(value)
        except ValueError as e:
            raise click.UsageError(f"--option {o!r}: expected METHOD.KEY=JSON_VALUE") from e
    return out


def bench_config(config_file: Path | None, backbone: str | None, frame_epochs: int | None, agg_epochs: int | None, jobs: int | None, rerank: bool,
                 ap: str | None = None, setting: str | None = None, recipe: str | None = None, video_epochs: int | None = None,
                 fuse: bool | None = None):
    """The recipe's settings, the config file on top, then the options the user gave."""
    from benchmark.recipes import recipe_config
    from gltr import list_backbones
    from lsvid_core.config import override, read_json
    from lsvid_core.errors import ConfigError

    if backbone is not None and backbone not in list_backbones():
        raise click.BadParameter(f"{backbone!r} is not one of {', '.join(list_backbones())}", param_hint="--backbone")
    data = read_json(config_file) if config_file else {}
    if not isinstance(data, dict):
        raise ConfigError(f"{config_file}: expected a JSON object of BenchConfig fields, got {type(data).__name__}")
    try:
        cfg = recipe_config(recipe, data)
    except ConfigError as e:
        raise ConfigError(f"{config_file}: {e}" if config_file else str(e)) from None
    given = {"frame.backbone": backbone, "frame.epochs": frame_epochs, "agg.epochs": agg_epochs, "video.epochs": video_epochs, "agg.jobs": jobs,
             "agg.fuse": fuse, "rerank": True if rerank else None, "ap": ap, "eval": setting}
    return override(cfg, given, "options")


@click.command("bench")
@click.option("--dataset", "datasets", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True, multiple=True,
              help="Dataset folder in the schema; repeat it (--dataset A --dataset B ...) to fill several datasets' cells in one command.")
@click.option("--methods", default="gltr,avgpool", show_default=True, help="Comma-separated registered aggregators (see --list).")
@click.option("--backbone", default=None, help="Frame CNN: resnet50 (paper), resnet18/34/101, inception_v3, alexnet.")
@click.option("--backbone-weights", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="Local weights to start stage (a) from (torchvision state dict or our checkpoint).")
@click.option("--no-finetune", is_flag=True, help="Use --backbone-weights as they are; skip stage (a).")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when present), cpu, cuda, cuda:1 ...")
@click.option("--rerank", is_flag=True, help="Score with k-reciprocal re-ranking.")
@click.option("--ap", type=click.Choice(["torchreid", "market1501"]), default=None, help="AP definition of mAP (default: the dataset protocol's; market1501 is the official MATLAB trapezoid rule).")
@click.option("--recipe", type=click.Choice(["paper", "released"]), default=None,
              help="Settings to start from (default: the config's, else paper): paper = the paper's text, two stages; released = the "
                   "authors' released code, end-to-end on 16-frame clips (benchmark.recipes). Recorded in every row.")
@click.option("--eval", "setting", type=click.Choice(["default", "official"]), default=None,
              help="Evaluation setting (default: the config's, else default): official scores as the GLTR / MARS / DukeMTMC-VideoReID "
              "MATLAB scripts do (L2-normalised features, Euclidean, market1501 AP, queries without a match count as failures).")
@click.option("--seed", "seeds", type=click.IntRange(min=0), multiple=True,
              help="Seed of sampling and training (default 0); repeat it (--seed 0 --seed 1 ...) for one run per seed, averaged on the leaderboard.")
@click.option("--out", "run_dir", type=click.Path(path_type=Path), default=Path("runs"), show_default=True, help="Run folder: checkpoints, feature cache, leaderboard.parquet.")
@click.option("--leaderboard", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Leaderboard file (default OUT/leaderboard.parquet).")
@click.option("--config", "config_file", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="JSON file of BenchConfig fields (frame, agg, seed, ...); the options here override it only where given.")
@click.option("--frame-epochs", type=click.IntRange(min=0), default=None, help="Override stage (a) epochs (paper: 20).")
@click.option("--agg-epochs", type=click.IntRange(min=0), default=None, help="Override stage (b) epochs (paper: 400).")
@click.option("--video-epochs", type=click.IntRange(min=0), default=None, help="Override end-to-end training epochs (released code: 501).")
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Stage (b): train this many groups of runs (methods) at once, one process each (agg.jobs; default 1).")
@click.option("--no-fuse", is_flag=True, help="Stage (b): train every run alone instead of fusing the runs that share an architecture (agg.fuse).")
@click.option("--trial", "trials", type=click.IntRange(min=0), multiple=True, help="Only these trials (PRID/iLIDS); default all.")
@click.option("--plugin", "plugins", multiple=True, help="Import this module first; its @register_aggregator methods become available.")
@click.option("--option", "options", multiple=True, help="METHOD.KEY=VALUE option for an aggregator factory (JSON value).")
@click.option("--list", "list_only", is_flag=True, help="List registered aggregators and exit.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def bench_cmd(datasets, methods, backbone, backbone_weights, no_finetune, device, rerank, recipe, ap, setting, seeds, run_dir, leaderboard, config_file,
              frame_epochs, agg_epochs, video_epochs, jobs, no_fuse, trials, plugins, options, list_only, quiet) -> None:
    """Train and score METHODS on each DATASET under its protocol; one leaderboard row per
    (dataset, method, trial, seed).  Stage (b) runs sharing an architecture (the trials,
    seeds and datasets of one method) are trained together in one stacked step.
    Re-running resumes: finished cells are skipped and interrupted training continues
    from its last checkpoint."""
    from benchmark.registry import get_aggregator, import_plugin, list_aggregators
    from benchmark.runner import BenchRequest, run_benches

    for p in plugins:
        import_plugin(p)
    if list_only:
        for name in list_aggregators():
            doc = get_aggregator(name).doc.splitlines()
            click.echo(f"{name:<20} {doc[0] if doc else ''}")
        return
    if no_finetune and backbone_weights is None:
        raise click.UsageError("--no-finetune needs --backbone-weights")
    cfg = bench_config(config_file, backbone, frame_epochs, agg_epochs, jobs, rerank, ap, setting, recipe, video_epochs, fuse=False if no_fuse else None)
    method_options = _method_options(options)
    configs = [dataclasses.replace(cfg, seed=s) for s in dict.fromkeys(seeds or [cfg.seed])]
    reqs = [BenchRequest(
        dataset=dataset,
        methods=[m.strip() for m in methods.split(",") if m.strip()],
        run_dir=run_dir,
        config=c,
        device=device,
        backbone_weights=backbone_weights,
        finetune=not no_finetune,
        trials=list(trials) or None,
        plugins=plugins,
        method_options=method_options,
        leaderboard=leaderboard,
        progress=not quiet,
    ) for dataset in dict.fromkeys(datasets) for c in configs]
    rows = run_benches(reqs, log=click.echo)
    click.echo(f"{len(rows)} new leaderboard rows in {leaderboard or run_dir / 'leaderboard.parquet'}")


@click.command("leaderboard")
@click.option("--runs", "run_dir", type=click.Path(path_type=Path), default=Path("runs"), show_default=True, help="Run folder of `lsvid bench`.")
@click.option("--leaderboard", type=click.Path(path_type=Path), default=None, help="Leaderboard file (default RUNS/leaderboard.parquet).")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Report folder (default RUNS/report).")
@click.option("--strips-method", default=None, help="Method whose top-5 retrieval strips to draw (default gltr).")
def leaderboard_cmd(run_dir: Path, leaderboard: Path | None, out: Path | None, strips_method: str | None) -> None:
    """Render the leaderboard as Markdown, LaTeX and a static HTML page (Tables 2 and 4
    of the paper), with CMC curves and top-5 retrieval strips as PNGs."""
    from benchmark.report import render
    from lsvid_core.errors import MissingInputError

    board = leaderboard or run_dir / "leaderboard.parquet"
    if not board.is_file():
        raise MissingInputError(f"{board}: no leaderboard yet; run `lsvid bench` first")
    paths = render(board, out or run_dir / "report", run_dir=run_dir, strips_method=strips_method)
    click.echo(Path(paths["markdown"]).read_text())
    click.echo(f"HTML report: {paths['html']}\nLaTeX tables: {paths['latex']}")
