"""Footage to dataset, the way LS-VID was built: per-camera detection, tracking by feature
matching, filters, identities across cameras, a 1:3 train:test split with validation.

``curate`` runs one task per video (locally, in a process pool, or on Ray),
each writing its shard atomically into a work folder beside the output; then
assembles the dataset.  Re-running with the same settings reuses finished
shards, so a killed run resumes to the dataset an uninterrupted run writes.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lsvid_core.config import at_least, check, fraction, positive
from lsvid_core.errors import InputError, MissingInputError, UnsafeOutputError
from lsvid_core.paths import check_not_inside_inputs, check_output

from . import __version__
from .assemble import assign_splits, load_shards, order_tracklets, write_curated
from .executors import TaskResult, run_tasks
from .footage import VideoInfo, VideoSource, find_videos
from .identities import TRUTH_IDS, TruthIds, cannot_link, cluster, from_csv, from_truth, read_identity_csv, rendered_by_synth, resolve_truth_ids
from .plugins import import_plugins, is_file_plugin, resolve_plugin
from .quality import CurationQuality, curation_quality
from .shard import CurateConfig, ShardSummary, process_video, shard_name


@dataclass
class CurateRequest:
    footage: Path
    out: Path
    config: CurateConfig = field(default_factory=CurateConfig)
    identities: str = "truth"  # truth | cluster | path to a CSV
    truth_ids: str = "auto"  # auto | global | per-video: do truth ids of different videos name the same people? (lsvid.identities)
    cluster_threshold: float = 0.4
    min_purity: float = 0.5
    seed: int = 0
    train_fraction: float = 842 / 3772
    val_fraction: float = 200 / 3772
    workers: int = 1
    executor: str = "local"
    on_error: str = "fail"
    evaluate: bool = False
    overwrite: bool = False
    work: Path | None = None
    name: str | None = None
    progress: bool = True
    config_file: Path | None = None  # where config came from, if a file: an input --overwrite must spare
    plugins: tuple[str, ...] = ()  # --plugin: modules or .py files imported first, here and in every worker (lsvid.plugins)

    def __post_init__(self) -> None:
        self.plugins = tuple(resolve_plugin(str(p)) for p in self.plugins)  # a file: its resolved path, for every worker
        at_least(self, ("workers",), 1)
        at_least(self, ("seed",), 0)
        check(self.truth_ids in TRUTH_IDS, "truth_ids", f"expected one of {', '.join(TRUTH_IDS)}, got {self.truth_ids!r}")
        positive(self, ("cluster_threshold",))
        fraction(self, ("min_purity", "val_fraction"))
        fraction(self, ("train_fraction",), open_low=True)
        check(self.train_fraction + self.val_fraction < 1, "train_fraction + val_fraction",
              f"must leave identities for the test set, got {self.train_fraction:.3f} + {self.val_fraction:.3f}")


def work_dir(req: CurateRequest) -> Path:
    return req.work or req.out.with_name(req.out.name + ".work")


def _inputs(req: CurateRequest) -> list[tuple[str, Path | None]]:
    """What a curation run reads, which its output may never replace or hold."""
    opts = req.config.detector_options
    csv = None if req.identities in ("truth", "cluster") else Path(req.identities)
    return [
        ("FOOTAGE", Path(req.footage)),
        ("--identities", csv),
        ("--config", req.config_file),
        ("--detector-weights", Path(opts["weights"]) if isinstance(opts.get("weights"), str) else None),
        ("--embedder-checkpoint", Path(ckpt) if isinstance(ckpt := req.config.embedder_options.get("checkpoint"), str) else None),
        ("--work", work_dir(req)),
        *(("--plugin", Path(p)) for p in req.plugins if is_file_plugin(p)),
    ]


def check_request(req: CurateRequest) -> None:
    """Everything that can be refused before a single frame is decoded: the output (it must not
    replace or hold an input), the work folder, the detector, embedder and identity source."""
    from .detect import REGISTRY as DETECTORS
    from .embed import REGISTRY as EMBEDDERS

    inputs = _inputs(req)
    check_output(req.out, overwrite=req.overwrite, inputs=inputs, kind="dataset folder")
    work = work_dir(req)
    check_not_inside_inputs(work, [("FOOTAGE", Path(req.footage)), ("--out", req.out)], option="--work")
    if work.is_symlink() and not work.exists():
        raise UnsafeOutputError(f"--work {work}: is a dangling symbolic link")
    import_plugins(req.plugins)  # what they register, before the detector and embedder are looked up
    DETECTORS.check(req.config.detector, req.config.detector_options)
    if req.config.detector == "yolo":  # the file and its runtime, before any video task loads it
        from .detect.yolo import check_weights

        check_weights(req.config.detector_options.get("weights"))
    if req.config.detector == "synthetic":
        from .detect.synthetic import check_bundled

        check_bundled(**{k: v for k, v in req.config.detector_options.items() if k in ("conf", "iou", "imgsz", "batch_size")})
    EMBEDDERS.check(req.config.embedder, req.config.embedder_options)
    _check_checkpoint(req.config)
    csv = inputs[1][1]
    if csv is not None and not csv.is_file():
        raise MissingInputError(f"--identities {csv}: no such CSV file; expected truth, cluster or a CSV that `lsvid review` writes")
    if csv is not None:
        read_identity_csv(csv)  # its columns and ids, before hours of detection


def _check_checkpoint(cfg: CurateConfig) -> None:
    """An embedder checkpoint (``--embedder-option checkpoint=PATH``, or a config file's) must be a file
    here: refused now rather than in the first video task, which a typo would otherwise reach."""
    ckpt = cfg.embedder_options.get("checkpoint")
    if ckpt is None:
        return
    if not isinstance(ckpt, str) or not ckpt.strip():
        raise InputError(f"--embedder-option checkpoint={ckpt!r} (embedder '{cfg.embedder}'): expected the path of a local weights file")
    if not Path(ckpt).is_file():
        raise MissingInputError(f"--embedder-option checkpoint={ckpt} (embedder '{cfg.embedder}'): no such file "
                                "(nothing is downloaded; an OpenVINO IR is its .xml, with the .bin beside it)")


@dataclass(frozen=True)
class BuildRecord:
    """How a dataset was built: the settings of the run, as ``dataset.json``'s ``build`` keeps them."""

    config: CurateConfig
    identities: str  # truth | cluster | the resolved path of the CSV
    cluster_threshold: float
    min_purity: float
    seed: int
    train_fraction: float
    val_fraction: float
    tool: str = "lsvid curate"
    version: str = __version__
    plugins: tuple[str, ...] = ()  # --plugin modules (or resolved .py paths) the run imported
    truth_ids: TruthIds | None = None  # how truth ids were numbered across videos (None: a dataset of an older version)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool, "version": self.version, "config": self.config.to_dict(), "identities": self.identities,
            "cluster_threshold": self.cluster_threshold, "min_purity": self.min_purity, "seed": self.seed,
            "train_fraction": self.train_fraction, "val_fraction": self.val_fraction, "plugins": list(self.plugins),
            **({"truth_ids": self.truth_ids.to_dict()} if self.truth_ids is not None else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BuildRecord:
        return cls(config=CurateConfig.from_dict(d["config"], "build.config"), identities=str(d["identities"]),
                   cluster_threshold=float(d["cluster_threshold"]), min_purity=float(d["min_purity"]), seed=int(d["seed"]),
                   train_fraction=float(d["train_fraction"]), val_fraction=float(d["val_fraction"]),
                   tool=str(d["tool"]), version=str(d["version"]), plugins=tuple(str(p) for p in d.get("plugins", ())),
                   truth_ids=TruthIds.from_dict(d["truth_ids"]) if d.get("truth_ids") else None)


@dataclass(frozen=True)
class FailedVideo:
    """A video skipped with ``--on-error skip``, and why."""

    video: str  # its video_id, <camera>/<slot>
    error: str


@dataclass(frozen=True)
class CurateReport:
    """What :func:`curate` did.  :meth:`dataset_meta` is what ``dataset.json`` records of it;
    :meth:`to_dict` adds the run's wall time and the per-video quality scores."""

    name: str
    footage_root: str  # resolved
    videos: tuple[VideoSource, ...]  # those processed
    build: BuildRecord
    filter_drops: dict[str, int]  # summed over videos
    failed_videos: tuple[FailedVideo, ...]
    timing_s: dict[str, float]  # per stage, summed over video tasks
    frames_decoded: int
    quality: CurationQuality | None = None  # with --evaluate
    seconds: float = 0.0  # wall time of the whole run
    video_info: tuple[VideoInfo, ...] = ()  # each processed video's frames, frame rate (and where it came from) and size

    def dataset_meta(self) -> dict[str, Any]:
        videos = [v.to_dict() for v in self.videos]
        for d, info in zip(videos, self.video_info):
            d["info"] = asdict(info)
        meta: dict[str, Any] = {
            "name": self.name,
            "source": {"kind": "footage", "root": self.footage_root, "videos": videos},
            "build": self.build.to_dict(),
            "filter_drops": dict(self.filter_drops),
            "failed_videos": [{"video": f.video, "error": f.error} for f in self.failed_videos],
            "timing_s": dict(self.timing_s),
            "frames_decoded": self.frames_decoded,
        }
        if self.quality is not None:
            meta["quality"] = self.quality.to_dict(per_video=False)
        return meta

    def to_dict(self) -> dict[str, Any]:
        quality = self.quality.to_dict() if self.quality is not None else None
        return {**self.dataset_meta(), "seconds": self.seconds, "quality": quality}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CurateReport:
        """Read :meth:`to_dict` back, or the same fields of a curated ``dataset.json``."""
        src, q = d["source"], d.get("quality")
        return cls(
            name=str(d["name"]), footage_root=str(src["root"]), videos=tuple(VideoSource.from_dict(v) for v in src["videos"]),
            build=BuildRecord.from_dict(d["build"]), filter_drops={str(k): int(v) for k, v in d["filter_drops"].items()},
            failed_videos=tuple(FailedVideo(str(f["video"]), str(f["error"])) for f in d["failed_videos"]),
            timing_s={str(k): float(v) for k, v in d["timing_s"].items()}, frames_decoded=int(d["frames_decoded"]),
            quality=None if q is None else CurationQuality.from_dict(q), seconds=float(d.get("seconds", 0.0)),
            video_info=tuple(_video_info(v["info"]) for v in src["videos"] if "info" in v),
        )


def _video_info(i: dict[str, Any]) -> VideoInfo:
    return VideoInfo(int(i["frames"]), float(i["fps"]), int(i["width"]), int(i["height"]), str(i.get("fps_source", "container")))


_STAGES = ("decode", "detect", "embed", "track", "write", "total")


def curate(req: CurateRequest, log: Callable[[str], None] = print) -> tuple[Path, CurateReport]:
    """Run the whole pipeline; returns the dataset folder and a report (drops, failures, quality)."""
    t0 = time.perf_counter()
    check_request(req)
    work = work_dir(req)
    videos = find_videos(req.footage)
    # resolved over every video found (not only those that succeed), so a skipped video moves no one's id
    truth_ids = resolve_truth_ids(req.truth_ids, req.footage, videos)
    if any(v.truth is not None for v in videos):
        log(truth_ids.describe())
    ok, failed = _process_videos(req, videos, work, log)
    names = [shard_name(v) for v in ok]
    tracklets, frames, emb, summaries = _load_ordered(work, names)
    video_of = {shard_name(v): v.video_id for v in ok}
    tracklets, frames = truth_ids.shift(tracklets, video_of), truth_ids.shift(frames, video_of)
    for s in summaries:
        if s.info.fps_source == "default":
            log(f"{s.video.video_id}: no frame rate declared (no manifest fps, seqinfo.ini frameRate or container rate); assumed {s.info.fps:g} fps")
    pids = _identities(req, tracklets, emb)
    split = assign_splits(pids, tracklets, seed=req.seed, train_fraction=req.train_fraction, val_fraction=req.val_fraction)
    mode = req.identities if req.identities in ("truth", "cluster") else "csv"
    quality = curation_quality(work, names, [v.truth for v in ok], tracklets, pids, mode) if req.evaluate else None
    report = _report(req, ok, failed, summaries, quality, truth_ids)
    path = write_curated(req.out, work, tracklets, frames, pids, split, report.dataset_meta(), overwrite=req.overwrite, inputs=_inputs(req))
    return path, replace(report, seconds=round(time.perf_counter() - t0, 2))


def _process_videos(req: CurateRequest, videos: list[VideoSource], work: Path,
                    log: Callable[[str], None]) -> tuple[list[VideoSource], list[TaskResult]]:
    """One shard per video (reusing finished ones); the videos that made theirs, and the failed tasks."""
    _log_box_sources(req, videos, log)
    work.mkdir(parents=True, exist_ok=True)
    tasks = [(v.video_id, (v, req.config, work)) for v in videos]
    results = run_tasks(process_video, tasks, workers=req.workers, executor=req.executor, on_error=req.on_error, progress=req.progress,
                        plugins=req.plugins)
    failed = [r for r in results if not r.ok]
    for r in failed:
        log(f"skipped {r.key}: {r.error}")
    ok = [v for v, r in zip(videos, results) if r.ok]
    if not ok:
        raise InputError(f"{req.footage}: no video could be processed")
    return ok, failed


def _log_box_sources(req: CurateRequest, videos: list[VideoSource], log: Callable[[str], None]) -> None:
    """Where the boxes come from, when it may surprise: the bundled ``synthetic`` detector on footage
    ``lsvid synth`` did not render; with ``--detector file``/``truth`` (source auto), the videos that
    take their boxes from their truth, having no detection file."""
    cfg = req.config
    if cfg.detector == "synthetic" and not rendered_by_synth(req.footage):
        log(f"--detector synthetic: the bundled detector learned from rendered people only and {req.footage} is not "
            "lsvid synth footage; for real footage use --detector yolo --detector-weights FILE or --detector openvino")
    if cfg.detector not in ("file", "truth") or cfg.detector_options.get("source", "auto") != "auto":
        return
    fallback = [v.video_id for v in videos if v.detections is None and v.truth is not None]
    if fallback:
        more = f" and {len(fallback) - 3} more" if len(fallback) > 3 else ""
        log(f"--detector {cfg.detector}: no detection file (<slot>.det.txt, det/det.txt, manifest 'detections') for "
            f"{len(fallback)} of {len(videos)} video(s) ({', '.join(fallback[:3])}{more}); their boxes come from their truth files")


def _load_ordered(work: Path, names: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, list[ShardSummary]]:
    """The shards' tables, tracklets (and their embeddings) in the dataset's order."""
    tracklets, frames, emb, summaries = load_shards(work, names)
    if len(tracklets) == 0:
        raise InputError("no tracklet survived detection, tracking and filtering; check the detector and the filters (--min-length, --min-height)")
    order = order_tracklets(tracklets)
    tracklets = tracklets.iloc[order].reset_index(drop=True)
    emb = emb[order] if len(emb) else emb
    return tracklets, frames, emb, summaries


def _report(req: CurateRequest, ok: list[VideoSource], failed: list[TaskResult], summaries: list[ShardSummary],
            quality: CurationQuality | None, truth_ids: TruthIds | None = None) -> CurateReport:
    """The run's report, but for its wall time (known once the dataset is written)."""
    drops: dict[str, int] = {}
    for s in summaries:
        for k, v in s.drops.items():
            drops[k] = drops.get(k, 0) + v
    build = BuildRecord(
        config=req.config,
        identities=req.identities if req.identities in ("truth", "cluster") else str(Path(req.identities).resolve()),
        cluster_threshold=req.cluster_threshold, min_purity=req.min_purity, seed=req.seed,
        train_fraction=req.train_fraction, val_fraction=req.val_fraction, plugins=req.plugins, truth_ids=truth_ids,
    )
    return CurateReport(
        name=req.name or req.out.name,
        footage_root=str(Path(req.footage).resolve()),
        videos=tuple(ok),
        build=build,
        filter_drops=drops,
        failed_videos=tuple(FailedVideo(r.key, r.error) for r in failed),
        timing_s={k: round(sum(s.seconds.get(k, 0.0) for s in summaries), 3) for k in _STAGES},
        frames_decoded=int(sum(s.frames_decoded for s in summaries)),
        quality=quality,
        video_info=tuple(s.info for s in summaries),
    )


def _identities(req: CurateRequest, tracklets, emb: np.ndarray) -> np.ndarray:
    mode = req.identities
    if mode == "truth":
        return from_truth(tracklets, req.min_purity)
    if mode == "cluster":
        forbid = cannot_link(tracklets["video"].astype(str).to_numpy(), tracklets["start_frame"].to_numpy(), tracklets["end_frame"].to_numpy())
        return cluster(emb, forbid, req.cluster_threshold, center=True)
    return from_csv(tracklets, mode)


def format_report(report: CurateReport) -> str:
    """Videos, filter drops and time per stage, as a few lines for the terminal."""
    d = report.filter_drops
    t = report.timing_s
    fr = max(report.frames_decoded, 1)
    lines = [
        f"videos: {len(report.videos)} processed, {len(report.failed_videos)} skipped",
        "filters dropped: " + ", ".join(f"{k} {v:,}" for k, v in sorted(d.items()) if k not in ("tracklets_kept", "tracklets_cut"))
        + f"; tracklets cut where the person changes {d.get('tracklets_cut', 0):,}; tracklets kept {d.get('tracklets_kept', 0):,}",
        "time per stage (s): " + ", ".join(f"{k} {v:.1f}" for k, v in t.items())
        + f"; {fr / max(t.get('total', 0.0), 1e-9):.0f} frames/s per video task",
    ]
    return "\n".join(lines)


__all__ = ["BuildRecord", "CurateConfig", "CurateReport", "CurateRequest", "FailedVideo", "curate", "format_report", "work_dir"]
