"""A whole footage set on disk: every camera's video per time slot, with its truth.

Layout::

    FOOTAGE/
      footage.json            cameras, slots, fps, size, seed, generator version, MOT columns, counts
      identities.csv          one row per person (attributes, cameras, twins, companions)
      visits.csv              one row per pass through a camera (ground-truth tracklets)
      cam01/slot01.mp4        (.avi where OpenCV here cannot write MPEG-4)
      cam01/slot01.gt.txt     MOT ground truth of that video

The folder is built under a temporary name beside ``FOOTAGE`` and renamed into
place when complete, so an interrupted run leaves nothing half-written.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import pandas as pd
from tqdm.auto import tqdm

from lsvid import __version__ as lsvid_version
from lsvid.mot import MOT_COLUMNS, MOT_DOC, mot_frame, read_mot, write_mot
from lsvid_core.errors import MissingInputError
from lsvid_core.paths import check_output, staged_folder

from .camera import sample_lighting
from .config import GENERATOR_VERSION, SynthConfig
from .network import Plan, plan_footage
from .render import open_video
from .truth import identities_table, visits_table, write_csv, write_json
from .writer import VideoWriter, video_codec

MANIFEST = "footage.json"
IDENTITIES = "identities.csv"
VISITS = "visits.csv"


def video_stem(camera: int, slot: int) -> str:
    """``cam01/slot01``: where camera ``camera``'s video of slot ``slot`` lives (no extension)."""
    return f"cam{camera:02d}/slot{slot:02d}"


def write_video(config: SynthConfig, plan: Plan, camera: int, slot: int, folder: Path,
                on_frame: Callable[[], None] | None = None) -> dict[str, Any]:
    """Render and write one video and its MOT truth into ``folder``; returns its manifest entry
    (with ``render_s``/``write_s``, the seconds spent drawing and encoding)."""
    renderer = open_video(config, camera, slot, plan=plan)
    stem = folder / video_stem(camera, slot)
    stem.parent.mkdir(parents=True, exist_ok=True)
    rows: list[tuple] = []
    t_render = t_write = 0.0
    with VideoWriter(stem, config.fps, config.size) as writer:
        for f in range(renderer.num_frames):
            t0 = time.perf_counter()
            fr = renderer.render(f)
            t1 = time.perf_counter()
            writer.write(fr.image)
            t_write += time.perf_counter() - t1
            t_render += t1 - t0
            rows.extend(fr.truth)
            if on_frame is not None:
                on_frame()
    truth = mot_frame(rows)
    truth_path = write_mot(truth, stem.with_name(stem.name + ".gt.txt"))
    light = renderer.view.lighting
    return {
        "camera": camera,
        "slot": slot,
        "video": writer.path.relative_to(folder).as_posix(),
        "truth": truth_path.relative_to(folder).as_posix(),
        "frames": renderer.num_frames,
        "fourcc": writer.fourcc,
        "boxes": int(len(truth)),
        "people": int(truth["id"].nunique()),
        "lighting": asdict(light),
        "render_s": t_render,
        "write_s": t_write,
    }


def _worker_init() -> None:
    cv2.setNumThreads(1)  # one video per process; OpenCV's own threads would only contend


def _camera_entry(plan: Plan, camera_id: int) -> dict[str, Any]:
    spec = plan.camera(camera_id)
    return {
        "id": spec.camera_id,
        "name": spec.name,
        "kind": spec.kind,
        "height_m": spec.height_m,
        "focal_px": spec.focal_px,
        "horizon_y": spec.horizon_y,
        "person_px_near": round(float(spec.person_px(spec.z_near, 1.7)), 1),
        "person_px_far": round(float(spec.person_px(spec.z_far, 1.7)), 1),
        "noise_sigma": spec.noise_sigma,
        "blur_sigma": spec.blur_sigma,
        "resolution": spec.resolution,
        "jpeg_quality": spec.jpeg_quality,
        "map_xy": list(spec.map_xy),
        "occluders": [{k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(o).items()} for o in spec.occluders],
    }


def build_manifest(plan: Plan, videos: list[dict[str, Any]], identities: pd.DataFrame) -> dict[str, Any]:
    """The content of footage.json (no timings: the file is part of the deterministic truth)."""
    config = plan.config
    seen = identities[identities["num_cameras"] > 0]
    return {
        "generator": {"name": "lsvid.synth", "version": GENERATOR_VERSION, "lsvid": lsvid_version},
        "config": config.to_dict(),
        "seed": config.seed,
        "fps": config.fps,
        "size": list(config.size),
        "seconds": config.seconds,
        "num_frames": config.num_frames,
        "cameras": [_camera_entry(plan, c.camera_id) for c in plan.cameras],
        "slots": [{"id": s, "time_of_day": sample_lighting(config, plan.cameras[0], s).time_of_day}
                  for s in range(1, config.slots + 1)],
        "videos": [{k: v for k, v in e.items() if k not in ("render_s", "write_s")} for e in videos],
        "mot": {"file": "<camera>/<slot>.gt.txt", "columns": list(MOT_COLUMNS), "doc": MOT_DOC,
                "frames": "1-based",
                "boxes": "0-based whole pixels (bb_left is the column index of the leftmost pixel), clipped to the "
                         "frame; tools that take MOTChallenge boxes as 1-based (motmetrics.io.loadtxt) shift them by one"},
        "files": {"identities": IDENTITIES, "visits": VISITS},
        "counts": {
            "identities": int(len(identities)),
            "seen": int(len(seen)),
            "multi_camera": int((seen["num_cameras"] >= 2).sum()),
            "distractors": int(seen["distractor"].sum()),
            "twin_pairs": int((identities["twin_of"] > identities["person_id"]).sum()),
            "companion_pairs": int((identities["companion"] > identities["person_id"]).sum()),
            "visits": int(len(plan.visits)),
            "boxes": int(sum(v["boxes"] for v in videos)),
        },
    }


def generate_footage(out_dir: str | os.PathLike, config: SynthConfig | None = None, *, overwrite: bool = False,
                     workers: int = 1, progress: bool = True) -> dict[str, Any]:
    """Generate the footage ``config`` describes into ``out_dir`` (see the module docstring).

    Returns footage.json's content plus ``root`` (the folder) and ``timing``
    (seconds spent planning, rendering and encoding, summed over videos).
    ``workers`` > 1 renders videos in that many processes.
    """
    config = config or SynthConfig()
    out = check_output(out_dir, overwrite=overwrite, kind="footage folder")
    video_codec()  # fail early, before any rendering, if nothing can be written
    t0 = time.perf_counter()
    plan = plan_footage(config)
    t_plan = time.perf_counter() - t0
    tasks = [(c.camera_id, s) for c in plan.cameras for s in range(1, config.slots + 1)]
    with staged_folder(out, kind="footage", tool="lsvid synth") as tmp:
        bar = tqdm(total=len(tasks) * config.num_frames, unit="frame", desc="synth", disable=not progress)
        with bar:
            if workers <= 1:
                videos = [write_video(config, plan, c, s, tmp, on_frame=lambda: bar.update(1)) for c, s in tasks]
            else:
                # Spawned, not forked: a child forked from a process whose OpenCV thread pool is
                # running can deadlock in its first OpenCV call.
                ctx = multiprocessing.get_context("spawn")
                with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init) as pool:
                    futures = {pool.submit(write_video, config, plan, c, s, tmp): (c, s) for c, s in tasks}
                    done = {}
                    for fut in as_completed(futures):
                        done[futures[fut]] = fut.result()
                        bar.update(config.num_frames)
                videos = [done[t] for t in tasks]
        identities = identities_table(plan)
        write_csv(identities, tmp / IDENTITIES)
        write_csv(visits_table(plan), tmp / VISITS)
        manifest = build_manifest(plan, videos, identities)
        write_json(manifest, tmp / MANIFEST)
    timing = {"plan_s": t_plan, "render_s": sum(v["render_s"] for v in videos), "write_s": sum(v["write_s"] for v in videos),
              "total_s": time.perf_counter() - t0}
    return {**manifest, "root": str(out), "timing": timing}


def read_manifest(footage_dir: str | os.PathLike) -> dict[str, Any]:
    """footage.json of a footage folder."""
    path = Path(footage_dir) / MANIFEST
    if not path.exists():
        raise MissingInputError(f"{path}: not a synthetic footage folder (no {MANIFEST})")
    return json.loads(path.read_text())


def read_truth(footage_dir: str | os.PathLike) -> pd.DataFrame:
    """All MOT truth of a footage folder in one frame, with ``camera`` and ``slot`` columns first."""
    root = Path(footage_dir)
    parts = []
    for v in read_manifest(root)["videos"]:
        df = read_mot(root / v["truth"])
        df.insert(0, "slot", v["slot"])
        df.insert(0, "camera", v["camera"])
        parts.append(df)
    if not parts:
        return pd.DataFrame(columns=["camera", "slot", *MOT_COLUMNS])
    return pd.concat(parts, ignore_index=True)
