"""``lsvid review``: one contact sheet per proposed identity, for a person to confirm or fix.

Writes ``review/index.html`` (a row of thumbnails per tracklet, grouped by
proposed identity) and ``review/identities.csv`` with columns ``tracklet``
(the stable key ``<camera>/<slot>/<local_id>``), ``person_id`` (the proposal),
camera, time, frames.  Edit ``person_id`` in the CSV (merge by giving the same
id, split by giving new ones, -1 to discard) and feed it back with
``lsvid curate ... --identities review/identities.csv``.
"""
from __future__ import annotations

import hashlib
import html
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from lsvid_core.errors import UnsafeOutputError
from lsvid_core.paths import check_output, staged_folder
from protocols import Dataset


def write_review(ds: Dataset, out_dir: str | Path, *, thumbs: int = 6, height: int = 96) -> dict[str, Path]:
    """Write the review folder ``out_dir`` (replacing an earlier review, never anything else)."""
    out = Path(out_dir)
    check_output(out, overwrite=True, hosts=[("DATASET", ds.root), ("image root", ds.image_root)], kind="review folder")
    _refuse_edited_csv(out)
    with staged_folder(out, kind="review", tool="lsvid review") as tmp:
        _write_review(ds, tmp, thumbs=thumbs, height=height)
        digest = hashlib.sha256((tmp / "identities.csv").read_bytes()).hexdigest()
        (tmp / CSV_DIGEST).write_text(digest + "\n")
    return {"html": out / "index.html", "csv": out / "identities.csv"}


CSV_DIGEST = ".identities.csv.sha256"


def _refuse_edited_csv(out: Path) -> None:
    """An identities.csv edited since ``lsvid review`` wrote it is someone's work: never replace it."""
    csv, digest = out / "identities.csv", out / CSV_DIGEST
    if not csv.is_file():
        return
    if digest.is_file() and hashlib.sha256(csv.read_bytes()).hexdigest() == digest.read_text().strip():
        return
    raise UnsafeOutputError(
        f"{csv}: edited since `lsvid review` wrote it; feed it to `lsvid curate --identities` or move it away "
        "before writing a new review here (or pass --out elsewhere)"
    )


def _write_review(ds: Dataset, out: Path, *, thumbs: int, height: int) -> None:
    (out / "thumbs").mkdir(parents=True, exist_ok=True)
    tr = ds.tracklets
    key = tr["local_key"] if "local_key" in tr.columns else tr["tracklet_id"].astype(str)
    csv = pd.DataFrame({
        "tracklet": key.astype(str), "person_id": tr["person_id"], "camera": tr.get("camera", tr["camera_id"]),
        "slot": tr.get("time_slot", ""), "start_frame": tr.get("start_frame", -1), "end_frame": tr.get("end_frame", -1),
        "frames": tr["num_frames"], "split": tr["split"],
    }).sort_values(["person_id", "camera", "start_frame"], kind="stable")
    csv.to_csv(out / "identities.csv", index=False)
    frames_by = ds.frames.groupby("tracklet_id")["path"].apply(list)
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>identity review</title>",
             "<style>body{font-family:sans-serif}img{margin:1px;border:1px solid #999}h2{margin:18px 0 4px}.t{margin:2px 0}</style></head><body>",
             f"<h1>{html.escape(ds.name)}: {tr['person_id'].nunique()} proposed identities</h1>",
             "<p>Each row is one tracklet (camera, frames). Fix identities in identities.csv and re-run curation with --identities identities.csv.</p>"]
    for pid, g in tr.groupby("person_id", sort=True):
        parts.append(f"<h2>person {int(pid)}{' (no identity)' if pid < 0 else ''} — {len(g)} tracklets, {g['camera_id'].nunique()} cameras</h2>")
        for _, t in g.iterrows():
            paths = frames_by[t.tracklet_id]
            pick = np.linspace(0, len(paths) - 1, min(thumbs, len(paths))).round().astype(int)
            tiles = []
            for j in pick:
                img = cv2.imread(str(ds.image_root / paths[j]))
                if img is None:
                    continue
                w = max(1, int(round(img.shape[1] * height / img.shape[0])))
                tiles.append(cv2.resize(img, (w, height)))
            name = f"thumbs/{int(t.tracklet_id)}.jpg"
            if tiles:
                cv2.imwrite(str(out / name), np.hstack(tiles))
            k = t.local_key if "local_key" in tr.columns else t.tracklet_id
            parts.append(f"<div class='t'><img src='{name}'> {html.escape(str(k))} · camera {int(t.camera_id)} · {int(t.num_frames)} frames</div>")
    parts.append("</body></html>")
    (out / "index.html").write_text("\n".join(parts))
