"""The truth tables of a footage set besides its MOT files: identities.csv, visits.csv,
footage.json.

MOT ground truth per video is read and written by :mod:`lsvid.mot`, the
curation side's module (its docstring describes the layout); it is
re-exported here for scripts that import it from this module.  Every table is
written with fixed number formats, so the same seed gives the same bytes.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from lsvid.mot import MOT_COLUMNS, MOT_DOC, mot_frame, read_mot, write_mot
from lsvid_core.paths import atomic_write_text

from .identity import identity_row
from .network import Plan


def write_csv(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """A table as CSV with a header, atomically, floats in a fixed format."""
    return atomic_write_text(path, df.to_csv(index=False, lineterminator="\n", float_format="%.4f"))


def identities_table(plan: Plan) -> pd.DataFrame:
    """identities.csv: one row per person, attributes and where they are seen.

    ``cameras`` lists the cameras a person is seen in, space-separated in the
    order of their trip; ``distractor`` is true for people seen by exactly one
    camera; ``twin_of`` is the look-alike's id (-1: none); ``companion`` the
    person walking beside them (-1: none).
    """
    rows = []
    for p in plan.identities:
        cams = plan.cameras_of(p.person_id)
        row = identity_row(p)
        row.update(
            slot=plan.slot_of[p.person_id],
            num_cameras=len(cams),
            cameras=" ".join(str(c) for c in cams),
            distractor=len(cams) == 1,
            num_visits=sum(1 for v in plan.visits if v.person_id == p.person_id),
            companion=plan.companion_of.get(p.person_id, -1),
            planned_cameras=" ".join(str(c) for c in plan.planned_cameras.get(p.person_id, ())),
        )
        rows.append(row)
    df = pd.DataFrame(rows)
    first = ["person_id", "twin_of", "slot", "num_cameras", "cameras", "distractor", "num_visits", "companion"]
    return df[first + [c for c in df.columns if c not in first]]


def visits_table(plan: Plan) -> pd.DataFrame:
    """visits.csv: one row per pass of a person through a camera's view (a ground-truth
    tracklet), with its frames (1-based, inclusive), path sides, stop and companion."""
    rows = []
    for v, fr in zip(plan.visits, plan.frames):
        rows.append({
            "person_id": v.person_id, "camera": v.camera_id, "slot": v.slot, "order": v.order,
            "first_frame": fr.first + 1, "last_frame": fr.last + 1, "num_frames": fr.count,
            "enter": v.enter, "exit": v.exit, "paused": v.pause_at >= 0, "pause_s": v.pause_s,
            "pair_with": v.pair_with, "step_hz": v.step_hz, "step_length_m": v.step_length_m,
            "speed_mps": round(v.speed_mps, 4),
        })
    return pd.DataFrame(rows, columns=["person_id", "camera", "slot", "order", "first_frame", "last_frame", "num_frames",
                                       "enter", "exit", "paused", "pause_s", "pair_with", "step_hz", "step_length_m", "speed_mps"])


def write_json(data: dict[str, Any], path: str | os.PathLike) -> Path:
    """``data`` as indented JSON with sorted keys, atomically."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


__all__ = ["MOT_COLUMNS", "MOT_DOC", "identities_table", "mot_frame", "read_mot", "visits_table", "write_csv", "write_json",
           "write_mot"]
