"""``lsvid curate``, ``lsvid review`` and ``lsvid stats``."""
from __future__ import annotations

import json
from pathlib import Path

import click


def _kv(items: tuple[str, ...], what: str) -> dict:
    """``KEY=VALUE`` options as a dict, each value JSON where it parses (``3``, ``[256, 128]``, ``true``), else the text."""
    from lsvid_core.errors import ConfigError

    out = {}
    for it in items:
        k, sep, v = it.partition("=")
        if not sep or not k.strip():
            # a config error (one line, exit 1) like every other bad option value, not click's usage text
            raise ConfigError(f"{what} {it!r}: expected KEY=VALUE (the value JSON, or plain text)")
        k = k.strip()
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def _given(ctx: click.Context, name: str) -> bool:
    """Whether the user gave option ``name`` (a default never overrides the config file)."""
    from click.core import ParameterSource

    return ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP, None)


# option -> CurateConfig field (dotted) it sets
_CONFIG_OPTIONS = {
    "detector": "detector", "embedder": "embedder", "min_length": "filters.min_length", "min_height": "filters.min_height",
    "min_sharpness": "filters.min_sharpness", "cut_ratio": "filters.cut_ratio", "frame_step": "frame_step", "blur_faces": "blur_faces",
}


def curate_config(ctx: click.Context, config_file: Path | None, p: dict):
    """The config file (or the defaults) with exactly the options the user gave applied on top."""
    from lsvid.curate import CurateConfig
    from lsvid.track import TrackerConfig
    from lsvid_core.config import from_dict, from_file, to_dict

    cfg = from_file(CurateConfig, config_file) if config_file else CurateConfig()
    data = to_dict(cfg)
    for opt, dotted in _CONFIG_OPTIONS.items():
        if _given(ctx, opt):
            *parents, leaf = dotted.split(".")
            (data[parents[0]] if parents else data)[leaf] = p[opt]
    data["detector_options"].update(_kv(p["detector_options"], "--detector-option"))
    if p["detector_weights"] is not None:
        data["detector_options"]["weights"] = str(p["detector_weights"])
    data["embedder_options"].update(_kv(p["embedder_options"], "--embedder-option"))
    if p["embedder_checkpoint"] is not None:
        data["embedder_options"]["checkpoint"] = str(p["embedder_checkpoint"])
    tracker = _kv(p["tracker_options"], "--tracker-option")
    if tracker:
        data["tracker"] = to_dict(from_dict(TrackerConfig, {**data["tracker"], **tracker}, "--tracker-option"))
    return from_dict(CurateConfig, data, "settings")


@click.command("curate")
@click.argument("footage", type=click.Path(path_type=Path, exists=True))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Dataset folder to write.")
@click.option("--detector", default="synthetic", show_default=True,
              help="synthetic (the bundled YOLO trained on lsvid synth footage only), yolo (ultralytics, local weights), openvino (an OpenVINO IR person detector such as Intel's "
                   "person-detection-retail-0013), hog, motion (static cameras, no weights), file (the boxes of each video's MOT "
                   "detection file, else of its truth; truth is its former name), or a name a --plugin or an installed "
                   "lsvid.detectors entry point registers.")
@click.option("--detector-weights", type=click.Path(path_type=Path, exists=True), default=None,
              help="Local weights (nothing is downloaded): for yolo any format ultralytics loads (.pt, .onnx, a "
                   "*_openvino_model/ folder, .engine, .torchscript, ...); for openvino the IR's .xml (its .bin beside it).")
@click.option("--detector-option", "detector_options", multiple=True, metavar="KEY=VALUE",
              help="Option of the detector (JSON value), e.g. conf=0.1, imgsz=960, device=cpu. Repeatable.")
@click.option("--embedder", default="colour_texture", show_default=True,
              help="Appearance for tracking: colour_texture (no weights), backbone (a checkpoint of `lsvid bench`), "
                   "onnx (a ReID network in ONNX, by ONNX Runtime) or openvino (an OpenVINO IR such as Intel's "
                   "person-reidentification-retail-0288); onnx and openvino take checkpoint= and preset=torchreid|omz.")
@click.option("--embedder-checkpoint", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="The embedder's weights file: the .pth of `lsvid bench` (backbone), the .onnx (onnx) or the .xml (openvino); "
                   "the same as --embedder-option checkpoint=PATH.")
@click.option("--embedder-option", "embedder_options", multiple=True, metavar="KEY=VALUE",
              help="Option of the embedder (JSON value), e.g. checkpoint=osnet.onnx, preset=omz, device=cuda, "
                   "size=[256,128], batch_size=32. Repeatable.")
@click.option("--tracker-option", "tracker_options", multiple=True, metavar="KEY=VALUE", help="Field of TrackerConfig (JSON value). Repeatable.")
@click.option("--identities", default="truth", show_default=True, help="truth (MOT truth beside the videos), cluster, or a CSV (tracklet, person_id) such as `lsvid review` writes.")
@click.option("--truth-ids", type=click.Choice(["auto", "global", "per-video"]), default="auto", show_default=True,
              help="Whether truth ids of different videos name the same people. per-video: each video numbers its own "
                   "(MOTChallenge sequences); global: one numbering across cameras (lsvid synth, or your own annotation); "
                   "auto: global for lsvid synth footage, by a manifest's truth_scope column, else per-video.")
@click.option("--cluster-threshold", type=click.FloatRange(min=0, min_open=True), default=0.4, show_default=True,
              help="Cosine distance (of mean-centred tracklet embeddings) at which --identities cluster stops merging.")
@click.option("--min-length", type=click.IntRange(min=1), default=16, show_default=True, help="Boxes a tracklet needs after the box filters.")
@click.option("--min-height", type=click.FloatRange(min=0), default=40.0, show_default=True, help="Minimum box height in pixels.")
@click.option("--min-sharpness", type=click.FloatRange(min=0), default=0.0, show_default=True, help="Minimum variance of the Laplacian of a crop (0: off).")
@click.option("--cut-ratio", type=click.FloatRange(min=0), default=1.5, show_default=True,
              help="Cut a tracklet where its look changes by this many times its jitter (and by filters.cut_share of the "
                   "distance between people): two people in turn become two tracklets. 0: off.")
@click.option("--frame-step", type=click.IntRange(min=1), default=1, show_default=True, help="Use every N-th frame.")
@click.option("--blur-faces", is_flag=True, help="Blur faces in the saved crops (OpenCV's bundled face cascade).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the identity split and the query choice.")
@click.option("--train-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=842 / 3772, show_default="LS-VID's 842/3772", help="Share of identities for training.")
@click.option("--val-fraction", type=click.FloatRange(0, 1, max_open=True), default=200 / 3772, show_default="LS-VID's 200/3772", help="Share of identities for validation; the rest is test.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Videos processed in parallel (process pool).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True, help="ray: the same tasks on a Ray cluster (RAY_ADDRESS, or a local one).")
@click.option("--on-error", type=click.Choice(["skip", "fail"]), default="fail", show_default=True, help="A corrupt, truncated or empty video: skip it (reported) or stop.")
@click.option("--evaluate", is_flag=True, help="Score detection, tracking and identities against MOT truth beside the videos.")
@click.option("--work", type=click.Path(path_type=Path), default=None, help="Shard folder (default OUT.work); reused on re-runs.")
@click.option("--config", "config_file", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="JSON of CurateConfig fields; the options above override it only where given.")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE",
              help="Import this module (a dotted name, or a .py file) first, here and in every worker; the detectors and "
                   "embedders it registers (@register_detector, @register_embedder) become available. Repeatable.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it is a dataset this tool wrote (never an input, nor a folder holding one).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def curate_cmd(ctx: click.Context, footage: Path, out: Path, **p) -> None:
    """Turn multi-camera FOOTAGE (ROOT/<camera>/<slot>.<video>, MOTChallenge sequence folders, or a
    manifest CSV with path, camera, slot[, fps, detections, truth, start_time, truth_scope]) into a
    video ReID dataset: detect, track by appearance, filter, assign identities across cameras,
    split 1:3 (+ validation), write."""
    from lsvid.curate import CurateRequest, curate, format_report
    from lsvid.quality import format_quality
    from lsvid.stats import format_query_check, format_table1, table1_row
    from protocols import read_dataset

    cfg = curate_config(ctx, p["config_file"], p)
    req = CurateRequest(footage=footage, out=out, config=cfg, identities=p["identities"], truth_ids=p["truth_ids"],
                        cluster_threshold=p["cluster_threshold"],
                        seed=p["seed"], train_fraction=p["train_fraction"], val_fraction=p["val_fraction"], workers=p["workers"],
                        executor=p["executor"], on_error=p["on_error"], evaluate=p["evaluate"], overwrite=p["overwrite"],
                        work=p["work"], progress=not p["quiet"], config_file=p["config_file"], plugins=tuple(p["plugins"]))
    path, report = curate(req, log=click.echo)
    click.echo(format_report(report))
    if report.quality is not None:
        click.echo(format_quality(report.quality))
    click.echo(format_table1(table1_row(read_dataset(path, frames=False))))
    c = json.loads((path / "dataset.json").read_text())["counts"]
    click.echo("splits: " + ", ".join(f"{k} {v['tracklets']} tracklets / {v['identities']} ids" for k, v in c.items() if k not in ("total", "protocol_check")))
    if "protocol_check" in c:
        click.echo("queries: " + format_query_check(c["protocol_check"]))
    click.echo(f"wrote {path}")


@click.command("review")
@click.argument("dataset", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Review folder (default DATASET/review).")
def review_cmd(dataset: Path, out: Path | None) -> None:
    """Contact sheets (HTML) and an editable identities.csv, one section per proposed identity."""
    from lsvid.review import write_review
    from protocols import read_dataset

    paths = write_review(read_dataset(dataset), out or dataset / "review")
    click.echo(f"review page: {paths['html']}\nedit and feed back: {paths['csv']}  (lsvid curate FOOTAGE --identities {paths['csv']} ...)")


@click.command("stats")
@click.argument("dataset", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Where to draw the histograms (default DATASET/stats).")
def stats_cmd(dataset: Path, out: Path | None) -> None:
    """The paper's Table 1 row (#identity, #sequence, #boxes, frames per sequence, #camera)
    and its Fig. 4 histograms as PNGs."""
    from lsvid.stats import format_table1, histograms, queries_summary, table1_row
    from protocols import read_dataset

    ds = read_dataset(dataset, frames=False)
    written = histograms(ds, out or dataset / "stats")
    click.echo(format_table1(table1_row(ds)))
    click.echo(queries_summary(ds))
    for p in written:
        click.echo(f"wrote {p}")
