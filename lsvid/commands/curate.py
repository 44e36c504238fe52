"""``lsvid curate``, ``lsvid review`` and ``lsvid stats``."""
from __future__ import annotations

import json
from pathlib import Path

import click


def _kv(items: tuple[str, ...], what: str) -> dict:
    out = {}
    for it in items:
        if "=" not in it:
            raise click.UsageError(f"{what} {it!r}: expected KEY=VALUE")
        k, v = it.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


@click.command("curate")
@click.argument("footage", type=click.Path(path_type=Path, exists=True))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Dataset folder to write.")
@click.option("--detector", default="motion", show_default=True, help="yolo, hog, motion or truth (see lsvid.detect).")
@click.option("--detector-weights", type=click.Path(path_type=Path), default=None, help="Local weights for --detector yolo (.pt/.onnx).")
@click.option("--detector-option", "detector_options", multiple=True, help="KEY=VALUE option of the detector (JSON value).")
@click.option("--embedder", default="colour_texture", show_default=True, help="Appearance for tracking: colour_texture (no weights) or backbone.")
@click.option("--embedder-checkpoint", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None, help="Backbone checkpoint from `lsvid bench` for --embedder backbone.")
@click.option("--tracker-option", "tracker_options", multiple=True, help="KEY=VALUE field of TrackerConfig.")
@click.option("--identities", default="truth", show_default=True, help="truth (MOT truth beside the videos), cluster, or a CSV (tracklet, person_id) such as `lsvid review` writes.")
@click.option("--cluster-threshold", type=float, default=0.4, show_default=True, help="Cosine distance (of mean-centred tracklet embeddings) at which --identities cluster stops merging.")
@click.option("--min-length", type=int, default=16, show_default=True, help="Boxes a tracklet needs after the box filters.")
@click.option("--min-height", type=float, default=40.0, show_default=True, help="Minimum box height in pixels.")
@click.option("--min-sharpness", type=float, default=0.0, show_default=True, help="Minimum variance of the Laplacian of a crop (0: off).")
@click.option("--frame-step", type=int, default=1, show_default=True, help="Use every N-th frame.")
@click.option("--blur-faces", is_flag=True, help="Blur faces in the saved crops (OpenCV's bundled face cascade).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the identity split and the query choice.")
@click.option("--train-fraction", type=float, default=842 / 3772, show_default="LS-VID's 842/3772", help="Share of identities for training.")
@click.option("--val-fraction", type=float, default=200 / 3772, show_default="LS-VID's 200/3772", help="Share of identities for validation; the rest is test.")
@click.option("--workers", type=int, default=1, show_default=True, help="Videos processed in parallel (process pool).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True, help="ray: the same tasks on a Ray cluster (RAY_ADDRESS, or a local one).")
@click.option("--on-error", type=click.Choice(["skip", "fail"]), default="fail", show_default=True, help="A corrupt, truncated or empty video: skip it (reported) or stop.")
@click.option("--evaluate", is_flag=True, help="Score detection, tracking and identities against MOT truth beside the videos.")
@click.option("--work", type=click.Path(path_type=Path), default=None, help="Shard folder (default OUT.work); reused on re-runs.")
@click.option("--config", "config_file", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None, help="JSON of CurateConfig fields (options above override it).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def curate_cmd(footage, out, detector, detector_weights, detector_options, embedder, embedder_checkpoint, tracker_options, identities, cluster_threshold,
               min_length, min_height, min_sharpness, frame_step, blur_faces, seed, train_fraction, val_fraction, workers, executor, on_error, evaluate, work, config_file, overwrite, quiet) -> None:
    """Turn multi-camera FOOTAGE (ROOT/<camera>/<slot>.<video>, or a manifest CSV with
    path, camera, slot[, start_time, truth]) into a video ReID dataset: detect, track by
    appearance, filter, assign identities across cameras, split 1:3 (+ validation), write."""
    from lsvid.curate import CurateConfig, CurateRequest, curate, format_report
    from lsvid.footage import FootageError
    from lsvid.quality import format_quality
    from protocols import SchemaError

    cfg = CurateConfig.from_dict(json.loads(Path(config_file).read_text())) if config_file else CurateConfig()
    cfg.detector = detector
    cfg.detector_options = {**cfg.detector_options, **_kv(detector_options, "--detector-option")}
    if detector_weights is not None:
        cfg.detector_options["weights"] = str(detector_weights)
    cfg.embedder = embedder
    if embedder_checkpoint is not None:
        cfg.embedder_options["checkpoint"] = str(embedder_checkpoint)
    cfg.tracker = {**cfg.tracker, **_kv(tracker_options, "--tracker-option")}
    cfg.filters.min_length, cfg.filters.min_height, cfg.filters.min_sharpness = min_length, min_height, min_sharpness
    cfg.frame_step, cfg.blur_faces = frame_step, blur_faces
    req = CurateRequest(footage=footage, out=out, config=cfg, identities=identities, cluster_threshold=cluster_threshold, seed=seed,
                        train_fraction=train_fraction, val_fraction=val_fraction,
                        workers=workers, executor=executor, on_error=on_error, evaluate=evaluate, overwrite=overwrite, work=work, progress=not quiet)
    try:
        path, report = curate(req, log=click.echo)
    except (FootageError, SchemaError, FileExistsError, FileNotFoundError, ValueError, KeyError, RuntimeError) as e:
        raise click.ClickException(str(e)) from e
    from protocols import read_dataset

    from lsvid.stats import format_table1, table1_row

    click.echo(format_report(report))
    if report["quality"] is not None:
        click.echo(format_quality(report["quality"]))
    click.echo(format_table1(table1_row(read_dataset(path, frames=False))))
    c = json.loads((path / "dataset.json").read_text())["counts"]
    click.echo("splits: " + ", ".join(f"{k} {v['tracklets']} tracklets / {v['identities']} ids" for k, v in c.items() if k != "total"))
    click.echo(f"wrote {path}")


@click.command("review")
@click.argument("dataset", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Review folder (default DATASET/review).")
def review_cmd(dataset: Path, out: Path | None) -> None:
    """Contact sheets (HTML) and an editable identities.csv, one section per proposed identity."""
    from lsvid.review import write_review
    from protocols import SchemaError, read_dataset

    try:
        paths = write_review(read_dataset(dataset), out or dataset / "review")
    except (SchemaError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"review page: {paths['html']}\nedit and feed back: {paths['csv']}  (lsvid curate FOOTAGE --identities {paths['csv']} ...)")


@click.command("stats")
@click.argument("dataset", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Where to draw the histograms (default DATASET/stats).")
def stats_cmd(dataset: Path, out: Path | None) -> None:
    """The paper's Table 1 row (#identity, #sequence, #boxes, frames per sequence, #camera)
    and its Fig. 4 histograms as PNGs."""
    from lsvid.stats import format_table1, histograms, table1_row
    from protocols import SchemaError, read_dataset

    try:
        ds = read_dataset(dataset, frames=False)
    except (SchemaError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from e
    click.echo(format_table1(table1_row(ds)))
    for p in histograms(ds, out or dataset / "stats"):
        click.echo(f"wrote {p}")
