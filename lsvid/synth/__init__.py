"""Synthetic multi-camera footage of walking people, with ground truth.

Articulated figures with their own clothes, build, accessories and gait walk
through a network of cameras that differ in viewpoint, background, light and
sensor; static occluders and other people hide them for stretches; twins look
alike and differ only in how they walk.  Truth comes as MOTChallenge files per
video plus identities.csv, visits.csv and footage.json.

Public API:

- :class:`SynthConfig` -- every knob, with the CLI's defaults
- :func:`generate_footage` (``out_dir, config`` -> manifest) -- videos and truth on disk
- :func:`render_video` (``config, camera, slot`` -> frames, truth) -- one video in memory
- :func:`open_video` -- the same frame by frame (:class:`VideoRenderer`, ``render(i, labels=True)``)
- :func:`plan_footage` -- the schedule alone (who, where, when), no pixels; :func:`make_plan` -- a hand-built one
- :func:`read_mot`, :func:`write_mot`, :func:`read_truth`, :func:`read_manifest` -- truth files (the MOT
  functions live in :mod:`lsvid.mot`, re-exported here)
- :func:`contact_sheet` -- a PNG of frames with their truth boxes
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from lsvid.mot import MOT_COLUMNS, mot_frame, read_mot, write_mot

from .camera import CameraSpec, CameraView, Occluder, sample_camera
from .config import GENERATOR_VERSION, SynthConfig
from .footage import generate_footage, read_manifest, read_truth, video_stem
from .identity import Appearance, Gait, Identity, sample_identities
from .motion import Track, Visit, build_track
from .network import Plan, make_plan, plan_footage
from .preview import contact_sheet
from .render import RenderedFrame, VideoRenderer, open_video
from .truth import identities_table, visits_table
from .writer import VideoWriter, video_codec, video_info


def render_video(config: SynthConfig, camera: int = 1, slot: int = 1, *, plan: Plan | None = None,
                 progress: bool = False) -> tuple[np.ndarray, pd.DataFrame]:
    """All frames of camera ``camera`` in slot ``slot`` (1-based) as a ``(T, H, W, 3)`` BGR
    array, with its MOT truth (columns :data:`MOT_COLUMNS`); nothing is written.

    Meant for small configs: a minute of 640x360 video is about 1 GB in memory;
    use :func:`open_video` to go frame by frame.
    """
    from tqdm.auto import tqdm

    renderer = open_video(config, camera, slot, plan=plan)
    frames = np.empty((renderer.num_frames, config.height, config.width, 3), np.uint8)
    rows: list[tuple] = []
    for f in tqdm(range(renderer.num_frames), desc=f"cam{camera:02d} slot{slot:02d}", unit="frame", disable=not progress):
        fr = renderer.render(f)
        frames[f] = fr.image
        rows.extend(fr.truth)
    return frames, mot_frame(rows)


__all__ = [
    "GENERATOR_VERSION", "MOT_COLUMNS", "Appearance", "CameraSpec", "CameraView", "Gait", "Identity", "Occluder", "Plan",
    "RenderedFrame", "SynthConfig", "Track", "VideoRenderer", "VideoWriter", "Visit", "build_track", "contact_sheet",
    "generate_footage", "identities_table", "make_plan", "mot_frame", "open_video", "plan_footage", "read_manifest", "read_mot",
    "read_truth", "render_video", "sample_camera", "sample_identities", "video_codec", "video_info", "video_stem",
    "visits_table", "write_mot",
]
