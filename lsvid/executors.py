"""Run per-video tasks: in this process, in a local process pool, or on a Ray cluster.

Every task writes its own shard atomically, so any executor can retry or
resume a task on any node.  ``plugins`` (``lsvid curate --plugin``) are
imported in every worker before its first task, so that detectors and
embedders they register exist there too.  ``--on-error skip`` reports a bad video by name
and goes on; ``fail`` stops the run at the first one (other finished shards
stay and are reused by the next run).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

from lsvid_core.errors import ConfigError, MissingDependencyError

EXECUTORS = ("local", "ray")


@dataclass
class TaskResult:
    key: str
    ok: bool
    value: Any = None
    error: str = ""


def _guarded(fn: Callable[..., Any], key: str, args: tuple, plugins: Sequence[str] = ()) -> TaskResult:
    from .footage import FootageError

    if plugins:  # in a worker process: register what the plugins add (a no-op where already imported)
        from .plugins import import_plugins

        import_plugins(plugins)
    try:
        return TaskResult(key, True, fn(*args))
    except FootageError as e:
        return TaskResult(key, False, error=str(e))


def run_tasks(
    fn: Callable[..., Any],
    tasks: Sequence[tuple[str, tuple]],
    *,
    workers: int = 1,
    executor: str = "local",
    on_error: str = "fail",
    progress: bool = True,
    desc: str = "videos",
    plugins: Sequence[str] = (),
) -> list[TaskResult]:
    """Run ``fn(*args)`` for every ``(key, args)``; results in task order.  ``plugins``: modules (or
    ``.py`` files, see :mod:`lsvid.plugins`) every worker imports first.

    A video that cannot be read raises :class:`lsvid.footage.FootageError`;
    with ``on_error='skip'`` it becomes a failed :class:`TaskResult`.
    """
    from tqdm import tqdm

    from .footage import FootageError

    if executor not in EXECUTORS:
        raise ConfigError(f"executor must be one of {EXECUTORS}, got {executor!r}")
    if on_error not in ("skip", "fail"):
        raise ConfigError(f"on_error must be 'skip' or 'fail', got {on_error!r}")
    results: dict[str, TaskResult] = {}
    bar = tqdm(total=len(tasks), desc=desc, disable=not progress, unit="video")

    def record(r: TaskResult) -> None:
        results[r.key] = r
        bar.update(1)
        if not r.ok and on_error == "fail":
            bar.close()
            raise FootageError(r.error)

    try:
        if executor == "ray":
            _run_ray(fn, tasks, record, tuple(plugins))
        elif workers <= 1:
            for key, args in tasks:
                record(_guarded(fn, key, args, tuple(plugins)))
        else:
            # spawn, not fork: OpenCV's threads do not survive a fork reliably
            with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
                futs = {pool.submit(_guarded, fn, key, args, tuple(plugins)): key for key, args in tasks}
                for fut in as_completed(futs):
                    record(fut.result())
    finally:
        bar.close()
    return [results[k] for k, _ in tasks]


def _run_ray(fn: Callable[..., Any], tasks: Sequence[tuple[str, tuple]], record: Callable[[TaskResult], None],
             plugins: tuple[str, ...] = ()) -> None:
    try:
        import ray
    except ImportError as e:
        raise MissingDependencyError("--executor ray needs Ray: pip install 'lsvid[ray]' (or pip install ray)") from e
    if not ray.is_initialized():
        # RAY_ADDRESS points at a cluster; without it Ray starts a local one
        ray.init(address=os.environ.get("RAY_ADDRESS") or None, ignore_reinit_error=True, log_to_driver=False, include_dashboard=False)
    remote = ray.remote(_guarded)
    refs = {remote.remote(fn, key, args, plugins): key for key, args in tasks}
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        record(ray.get(done[0]))
