"""The runner: fill one leaderboard cell per (dataset, method, trial).

For each dataset and trial (10 for PRID-2011 and iLIDS-VID, 1 otherwise):
stage (a) trains the frame CNN on that trial's train identities (or takes
given weights) and the feature cache embeds every frame once.  Then every
method is trained on the cached features (stage (b)) and scored under the
dataset's protocol; the stage (b) runs of one method across trials, seeds
and datasets are trained together in one stacked step
(:mod:`benchmark.fused_training`), each keeping its own folder and result.  With ``training = "end_to_end"`` (``--recipe released``) each
method is instead trained together with its own backbone on clips
(:mod:`benchmark.stage_video`, folder ``<method>`` prefixed ``video-``), and the
feature cache embeds the test frames with that backbone.  Everything lands
under ``run_dir`` and is resumable: a finished cell is skipped, a partial
stage continues from its last checkpoint.

Each stage's folder is named by a hash of the settings its result depends on
(``<dataset>/trial<k>/frame-<key>``, ``<dataset>/trial<k>/<method>-<key>``,
the settings in each folder's ``run.json``), so runs of another seed, config
or initial weights never pick up each other's models, and can share one
``run_dir``.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lsvid_core.errors import ConfigError
from lsvid_core.paths import check_location, safe_component
from protocols import read_dataset
from protocols.evaluation import evaluate_dataset, ranked_gallery, resolve_setting

from .config import AGG_EXECUTION_FIELDS, BenchConfig, without_execution_fields
from .feature_cache import extract_features
from .fingerprint import dataset_fingerprint, weights_id
from .fused_embedding import embed_runs
from .fused_training import AggregatorRun, train_aggregators
from .recipes import method_options
from .registry import REGISTRY, create_aggregator, import_plugin
from .results import append_row, config_hash, has_cell, read_leaderboard, topk_name
from .runtime import code_version, device_name, environment, resolve_device, run_key, seed_everything
from .stage_aggregator import SequenceIndex, aggregator_run_spec, embed_sequences
from .stage_frame import frame_run_spec, init_distributed, train_frame_model
from .stage_video import train_video_model, video_run_spec

TOPK = 10


@dataclass
class BenchRequest:
    dataset: Path
    methods: Sequence[str]
    run_dir: Path
    config: BenchConfig = field(default_factory=BenchConfig)
    device: str = "auto"
    backbone_weights: Path | None = None
    finetune: bool = True  # with backbone_weights: train stage (a) from them (True) or use them as they are
    trials: Sequence[int] | None = None
    plugins: Sequence[str] = ()
    method_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    leaderboard: Path | None = None
    progress: bool = True


def run_bench(req: BenchRequest, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Run every requested cell; returns the rows written (skipped cells excluded).  One request
    of :func:`run_benches`."""
    return run_benches([req], log)


def run_benches(reqs: Sequence[BenchRequest], log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Every cell of several requests (e.g. one per dataset and seed) in one go; returns the rows written.

    Stage (a) and the feature cache run per dataset and trial first; then the
    stage (b) runs of all requests are trained together, those sharing an
    architecture (method, options, feature width, ``agg`` settings) fused in
    one stacked step (:mod:`benchmark.fused_training`; ``agg.fuse``).
    Everything that can be refused is refused before any work, for every
    request: methods and their options, the device, the run folder and
    leaderboard, each dataset (its name becomes a folder name) and its trials."""
    runs = [_start(req, log) for req in reqs]
    rows: list[dict[str, Any]] = []
    jobs: list[tuple[_Run, _MethodJob]] = []
    for run in runs:
        for trial in run.trials:
            rows += run.trial(trial, jobs)
    if jobs:
        groups = _job_groups([job for _, job in jobs])
        processes = jobs[0][1].config.agg.jobs
        batches = [[jobs[i][1] for i in g] for g in groups]
        if processes > 1 and len(groups) > 1:
            done = _score_in_processes(batches, processes, log)
        else:
            datasets = {run.job_dataset: run.ds for run in runs}
            done = (row for b in batches for row in _score_group(b, datasets, runs[0].device, log))
        owner = {(job.dataset, job.cfg_json, job.trial, job.method): run for run, job in jobs}
        for row in done:
            rows.append(owner[(row["dataset_path"], row["config"], row["trial"], row["method"])].record(row))
    return rows


def _start(req: BenchRequest, log: Callable[[str], None]) -> _Run:
    """Check one request and read its dataset: the :class:`_Run` that does its cells."""
    _check_methods(req)
    req = replace(req, method_options={m: method_options(req.config.recipe, m, req.method_options.get(m)) for m in req.methods})
    cfg = req.config
    device = resolve_device(req.device)
    check_location(req.run_dir, "--out")
    board = req.leaderboard or (req.run_dir / "leaderboard.parquet")
    check_location(board, "--leaderboard", folder=False)
    read_leaderboard(board)  # a damaged leaderboard is refused now, not after hours of training
    rank, world = init_distributed(device)
    if world > 1 and device.type == "cuda":
        device = torch.device("cuda", torch.cuda.current_device())
    ds = read_dataset(req.dataset)
    safe_component(ds.name, f"{Path(req.dataset) / 'dataset.json'}: name")  # it names the run folder
    trials = list(range(ds.num_trials)) if req.trials is None else list(req.trials)
    missing = [t for t in trials if not 0 <= t < ds.num_trials]
    if missing:
        raise ConfigError(f"--trial {missing[0]}: {ds.name} has trials 0..{ds.num_trials - 1}")
    scored_ap = resolve_setting(cfg.eval, ds.protocol, ap=cfg.ap).ap  # "official" scores market1501 whatever the protocol says
    return _Run(req, ds, dataset_fingerprint(ds), board, device, rank, _cell_config(req), scored_ap, log, trials)


def _check_methods(req: BenchRequest) -> None:
    for p in req.plugins:
        import_plugin(p)
    if not req.methods:
        raise ConfigError("--methods: no method named; see `lsvid bench --list`")
    for m in req.methods:
        # the recipe's options too: fail before any training if a name or option is unknown
        REGISTRY.check(m, method_options(req.config.recipe, m, req.method_options.get(m)))
    unused = sorted(set(req.method_options) - set(req.methods))
    if unused:
        raise ConfigError(f"--option names method(s) {unused} that --methods does not run ({', '.join(req.methods)})")
    if req.config.training == "end_to_end" and req.backbone_weights is not None and not req.finetune:
        raise ConfigError("--no-finetune: end-to-end training (training end_to_end, e.g. --recipe released) always trains the backbone; "
                          "--backbone-weights gives its initial weights")
    if req.backbone_weights is None or req.finetune:
        # stage (a) will make frame features of this width: build each method once now, so that an
        # option of a wrong value fails before hours of training rather than after
        for m in req.methods:
            create_aggregator(m, req.config.frame.embed_dim, **method_options(req.config.recipe, m, req.method_options.get(m)))


def _cell_config(req: BenchRequest) -> str:
    """The config as a leaderboard cell records it (and hashes it): with the initial weights, if given,
    since they decide the results as much as the config does."""
    cfg_json = req.config.to_json()
    if req.backbone_weights is None:
        return cfg_json
    init = {"backbone_weights": weights_id(req.backbone_weights), "finetune": bool(req.finetune)}
    return json.dumps({**json.loads(cfg_json), "init": init}, sort_keys=True)


@dataclass
class _Run:
    """One ``run_bench`` call once everything is checked: what each trial needs."""

    req: BenchRequest
    ds: Any
    ds_sha: str
    board: Path
    device: torch.device
    rank: int
    cfg_json: str
    ap: str  # the AP definition scored: a cell scored under another one is not this cell
    log: Callable[[str], None]
    trials: list[int]

    @property
    def job_dataset(self) -> str:
        """The dataset as its jobs (and leaderboard rows) name it."""
        return str(Path(self.req.dataset).resolve())

    def todo(self, trial: int) -> list[str]:
        cfg, opts = self.req.config, self.req.method_options
        return [
            m for m in self.req.methods
            if not has_cell(self.board, dataset_sha256=self.ds_sha, method=m, trial=trial, config_hash=config_hash(self.cfg_json, m, opts.get(m, {})),
                            rerank=cfg.rerank, ap=self.ap)
        ]

    def backbone(self, dt, trial: int) -> Path:
        """Stage (a) for ``trial`` (or the given weights, used as they are)."""
        req, cfg = self.req, self.req.config
        if req.backbone_weights is not None and not req.finetune:
            return Path(req.backbone_weights)
        spec = frame_run_spec(dt, cfg.frame, seed=cfg.seed + trial, init_weights=req.backbone_weights, dataset_sha=self.ds_sha)
        return train_frame_model(
            dt, cfg.frame, out_dir=req.run_dir / self.ds.name / f"trial{trial}" / f"frame-{run_key(spec)}", device=self.device, seed=cfg.seed + trial,
            init_weights=req.backbone_weights, log=self.log, progress=req.progress, dataset_sha=self.ds_sha,
        )

    def trial(self, trial: int, jobs: list[tuple[_Run, _MethodJob]]) -> list[dict[str, Any]]:
        """Stage (a) and the feature cache of ``trial``, adding its stage (b) cells to ``jobs``; with
        end-to-end training the cells are done here: their rows (recorded)."""
        req, cfg, ds = self.req, self.req.config, self.ds
        todo = self.todo(trial)
        if not todo:
            self.log(f"{ds.name} trial {trial}: all {len(req.methods)} cells already on the leaderboard")
            return []
        seed_everything(cfg.seed + trial)
        dt = ds.for_trial(trial)
        if cfg.training == "end_to_end":
            return [self.record(row) for row in self.end_to_end(dt, trial, todo)]
        ckpt = self.backbone(dt, trial)
        if self.rank != 0:
            return []  # under torchrun only stage (a) is distributed; rank 0 does the rest
        cache = extract_features(
            dt, ckpt, req.run_dir / "cache", device=self.device, batch_size=cfg.feature_batch,
            workers=cfg.frame.workers, decoder=cfg.frame.decoder, log=self.log, progress=req.progress,
        )
        jobs += [(self, self.job(trial, m, str(cache.folder), cache.manifest["checkpoint_sha256"])) for m in todo]
        return []

    def record(self, row: dict[str, Any]) -> dict[str, Any]:
        append_row(self.board, row)
        self.log(f"{row['dataset']} trial {row['trial']} {row['method']}: mAP {row['mAP']:.1%}  R1 {row['rank1']:.1%}  ({row['wall_time_s']:.1f} s)")
        return row

    def end_to_end(self, dt, trial: int, todo: list[str]) -> Iterator[dict[str, Any]]:
        """Each method trained together with its own backbone on clips (:mod:`benchmark.stage_video`), then
        every test frame embedded by that backbone (the feature cache) and scored as in stage (b)."""
        req, cfg = self.req, self.req.config
        for m in todo:
            t0 = time.perf_counter()
            opts = req.method_options.get(m, {})
            spec = video_run_spec(m, opts, dt, cfg, seed=cfg.seed + trial, init_weights=req.backbone_weights, dataset_sha=self.ds_sha)
            mdir = req.run_dir / self.ds.name / f"trial{trial}" / f"video-{m}-{run_key(spec)}"
            ckpt, agg = train_video_model(
                m, opts, dt, cfg, out_dir=mdir, device=self.device, seed=cfg.seed + trial, init_weights=req.backbone_weights,
                log=self.log, progress=req.progress, dataset_sha=self.ds_sha,
            )
            if self.rank != 0:
                continue  # under torchrun only the training is distributed; rank 0 does the rest
            cache = extract_features(
                dt, ckpt, req.run_dir / "cache", device=self.device, batch_size=cfg.feature_batch,
                workers=cfg.frame.workers, decoder=cfg.frame.decoder, log=self.log, progress=req.progress,
            )
            job = self.job(trial, m, str(cache.folder), cache.manifest["checkpoint_sha256"])
            feats = torch.from_numpy(np.array(cache.features)).to(self.device)
            video = embed_sequences(agg, feats, SequenceIndex.of(dt), np.arange(len(dt.tracklets)), device=self.device,
                                    max_frames=cfg.agg.eval_batch_frames)
            yield _scored_row(job, self.ds, video, self.device, mdir, t0)

    def job(self, trial: int, method: str, cache_folder: str, ckpt_sha: str) -> _MethodJob:
        req = self.req
        return _MethodJob(
            dataset=self.job_dataset, trial=trial, method=method, options=req.method_options.get(method, {}), config=req.config,
            cfg_json=self.cfg_json, cache_folder=cache_folder, ckpt_sha=ckpt_sha, ds_sha=self.ds_sha, run_dir=str(req.run_dir),
            device=str(self.device), plugins=tuple(req.plugins), progress=req.progress,
        )


@dataclass(frozen=True)
class _MethodJob:
    """One stage (b) cell: everything a fresh process needs to train, embed and score it."""

    dataset: str
    trial: int
    method: str
    options: dict[str, Any]
    config: BenchConfig
    cfg_json: str
    cache_folder: str
    ckpt_sha: str
    ds_sha: str
    run_dir: str
    device: str
    plugins: tuple[str, ...]
    progress: bool


def _job_groups(jobs: list[_MethodJob]) -> list[list[int]]:
    """Indices of ``jobs`` by what fused training needs alike: the method and its options and the
    stage (b) settings (trials, seeds and datasets differ within a group)."""
    groups: dict[tuple, list[int]] = {}
    for i, job in enumerate(jobs):
        agg = without_execution_fields(asdict(job.config.agg), AGG_EXECUTION_FIELDS)
        key = (job.method, json.dumps(job.options, sort_keys=True), json.dumps(agg, sort_keys=True), job.config.agg.fuse)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def _score_group(group: list[_MethodJob], datasets: dict[str, Any], device: torch.device, log: Callable[[str], None]) -> Iterator[dict[str, Any]]:
    """Train the stage (b) runs of ``group`` together (:func:`~benchmark.fused_training.train_aggregators`),
    then embed every sequence with each (the runs on one dataset's sequences together,
    :func:`~benchmark.fused_embedding.embed_runs`) and score it: their leaderboard rows.  A row's
    wall time is its share of the group's training and of its embedding, plus its own scoring."""
    t0 = time.perf_counter()
    feats: dict[str, torch.Tensor] = {}
    runs, cells = [], []
    for job in group:
        ds = datasets[job.dataset]
        dt = ds.for_trial(job.trial)
        if job.cache_folder not in feats:  # the runs of one trial share its features on the device
            feats[job.cache_folder] = torch.from_numpy(np.load(Path(job.cache_folder) / "features.npy")).to(device)
        x, index, features_id = feats[job.cache_folder], SequenceIndex.of(dt), Path(job.cache_folder).name
        seed = job.config.seed + job.trial
        spec = aggregator_run_spec(job.method, job.options, dt, x, job.config.agg, seed=seed, features_id=features_id)
        mdir = Path(job.run_dir) / ds.name / f"trial{job.trial}" / f"{job.method}-{run_key(spec)}"
        runs.append(AggregatorRun(job.method, job.options, dt, x, index, seed, mdir, features_id))
        cells.append(_Cell(job, ds, x, index, mdir))
    cfg = group[0].config.agg
    models = train_aggregators(runs, cfg, device=device, log=log, progress=group[0].progress, fuse=cfg.fuse)
    share = (time.perf_counter() - t0) / len(group)
    for members in _same_sequences(cells):  # the trials and seeds of one dataset embed together
        t1 = time.perf_counter()
        index = cells[members[0]].index
        batches = [members] if cfg.fuse else [[i] for i in members]
        videos = [v for b in batches for v in embed_runs([models[i] for i in b], [cells[i].feats for i in b], index, np.arange(len(index.start)),
                                                        device=device, max_frames=cfg.eval_batch_frames, log=log)]
        embed_share = (time.perf_counter() - t1) / len(members)
        for i, video in zip(members, videos):
            c = cells[i]
            yield _scored_row(c.job, c.ds, video, device, c.mdir, time.perf_counter() - share - embed_share)


@dataclass(frozen=True)
class _Cell:
    """A stage (b) cell of a group being scored: its job, dataset, features on the device, sequences and run folder."""

    job: _MethodJob
    ds: Any
    feats: torch.Tensor
    index: SequenceIndex
    mdir: Path


def _same_sequences(cells: list[_Cell]) -> list[list[int]]:
    """Positions in ``cells`` grouped by the sequences they embed (a dataset's trials share its tracklets)."""
    groups: dict[tuple, list[int]] = {}
    for i, c in enumerate(cells):
        groups.setdefault((c.job.dataset, c.index.start.tobytes(), c.index.length.tobytes()), []).append(i)
    return list(groups.values())


def _scored_row(job: _MethodJob, ds, video: np.ndarray, device: torch.device, mdir: Path, t0: float) -> dict[str, Any]:
    """Score the video features of every sequence of ``job``'s trial under the protocol: the run's leaderboard row."""
    cfg, trial, method, opts = job.config, job.trial, job.method, job.options
    run_dir = Path(job.run_dir)
    res = evaluate_dataset(ds, video, metric=cfg.metric, rerank=cfg.rerank, trials=[trial], ap=cfg.ap, setting=cfg.eval)[0].result
    wall = time.perf_counter() - t0
    _save_topk(mdir, ds, video, cfg, trial)
    return {
        "dataset": ds.name,
        "method": method,
        "backbone": cfg.frame.backbone,
        "trial": int(trial),
        **{k: float(v) for k, v in res.to_dict().items() if k.startswith(("mAP", "rank"))},
        "cmc": [float(x) for x in res.cmc],
        "num_valid_queries": int(res.num_valid_queries),
        "num_queries": int(res.num_queries),
        "rerank": bool(cfg.rerank),
        "metric": cfg.metric,
        "ap": res.ap_variant,  # the AP definition mAP follows: the eval setting's, else the config's, else the dataset protocol's
        "eval": res.setting,  # the evaluation setting scored under (protocols.evaluation.EVAL_SETTINGS)
        "recipe": cfg.recipe,
        "training": cfg.training,
        "options": json.dumps(opts, sort_keys=True),
        "config": job.cfg_json,
        "config_hash": config_hash(job.cfg_json, method, opts),
        "seed": int(cfg.seed),
        "code_version": code_version(),
        "environment": environment(),
        "device": device_name(device),
        "wall_time_s": round(wall, 3),
        "dataset_path": job.dataset,
        "dataset_sha256": job.ds_sha,
        "checkpoint_sha256": job.ckpt_sha,
        "run_folder": mdir.relative_to(run_dir).as_posix(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _group_worker(group: list[_MethodJob], threads: int) -> tuple[list[dict[str, Any]], list[str]]:
    """:func:`_score_group` in a fresh process: it reads the datasets and the cached features itself."""
    torch.set_num_threads(threads)
    for p in group[0].plugins:
        import_plugin(p)
    datasets = {job.dataset: read_dataset(job.dataset) for job in group}
    lines: list[str] = []
    group = [replace(job, progress=False) for job in group]
    rows = list(_score_group(group, datasets, torch.device(group[0].device), lines.append))
    return rows, lines


def _score_in_processes(groups: list[list[_MethodJob]], processes: int, log: Callable[[str], None]) -> Iterator[dict[str, Any]]:
    """Train several groups of runs at once (different methods, say), one process each.  Stage (b)
    steps are small, so one group rarely keeps a GPU or a multi-core CPU busy; side by side, their
    steps fill each other's gaps.  Rows come back as groups finish; the first failure stops the rest."""
    import multiprocessing
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

    processes = min(processes, len(groups))
    threads = max(1, (os.cpu_count() or 1) // processes)
    log(f"stage (b): {len(groups)} groups of runs in {processes} processes")
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending = {pool.submit(_group_worker, group, threads) for group in groups}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for f in finished:
                    rows, lines = f.result()
                    for line in lines:
                        log(line)
                    yield from rows
        finally:
            for f in pending:
                f.cancel()


def _save_topk(folder: Path, ds, video: np.ndarray, cfg: BenchConfig, trial: int) -> None:
    """The top-ranked gallery tracklets of every counted query, for the retrieval strips (paper Fig. 7).

    The ranking is the protocol's own (:func:`protocols.evaluation.ranked_gallery`):
    the strips show what was scored, junk and same-camera items left out.
    """
    top = ranked_gallery(ds, video, TOPK, metric=cfg.metric, trial=trial, rerank=cfg.rerank, setting=cfg.eval)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(
        folder / topk_name(cfg.eval), query=top.query_tracklet_id, gallery=top.gallery_tracklet_id,
        query_pid=top.query_pid, gallery_pid=top.gallery_pid, distance=top.distance,
    )
