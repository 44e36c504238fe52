"""YOLO weights for the ``yolo`` detector, trained offline on footage with MOT truth.

Sampled frames of every video that has truth become a YOLO-format dataset in
a temporary folder (one class, ``person``), ultralytics trains a model built
from its yaml (randomly initialised; or fine-tunes a local ``.pt``), and the
best checkpoint is copied to ``out`` atomically.  Nothing is downloaded (see
:mod:`lsvid.detect.offline`).

Which truth boxes become labels: the rows that count
(:func:`lsvid.mot.considered`, as for the ``file``/``truth`` detector and
``--evaluate``: consider flag not 0 and class pedestrian; MOT16/17/20's
vehicles, static people, reflections and the rows the devkit ignores never
become positives), and of those the ones at least ``min_visibility`` visible,
since a detector cannot learn what it cannot see.  :func:`considered` itself
ignores visibility; the threshold is applied here, on the truth's
``visibility`` column: MOT16/17/20 and ``lsvid synth`` record it, MOT15's
10-column files have none and read as fully visible, so there every
considered box is a label.  Boxes left out are not masked in the image: what
they cover counts as background, as in the usual MOT17-to-YOLO conversions.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lsvid.footage import VideoSource, find_videos, probe, read_frames
from lsvid.mot import considered, read_truth
from lsvid_core.errors import FileSystemError, OutputExistsError, UnsafeOutputError
from lsvid_core.paths import atomic_write, check_location

from .base import DetectorError
from .offline import offline_training
from .yolo import find_person_class, resolve_device

CLASS_NAME = "person"


@dataclass(frozen=True)
class ExportSummary:
    data_yaml: Path
    train_images: int
    val_images: int
    boxes: int
    videos: int


def export_yolo_dataset(footage: str | os.PathLike, out_dir: str | os.PathLike, *, frames_per_video: int = 50,
                        min_visibility: float = 0.3, val_every: int = 5) -> ExportSummary:
    """Write ``frames_per_video`` frames per video (evenly spread) with YOLO labels under ``out_dir``
    (``images/{train,val}``, ``labels/{train,val}``, ``data.yaml``); every ``val_every``-th frame
    goes to validation.  Videos without MOT truth are skipped; none with truth is an error, and so
    is a truncated video (:class:`lsvid.footage.FootageError`, naming it)."""
    out = Path(out_dir)
    videos = [v for v in find_videos(footage) if v.truth is not None]
    if not videos:
        raise DetectorError(f"{footage}: no video has MOT truth (<slot>.gt.txt beside it, or a 'truth' manifest column); "
                            "train-detector learns from truth boxes")
    counts = {"train": 0, "val": 0}
    boxes = 0
    for split in counts:
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    for v in videos:
        for split, stem, img, lines in _labelled_frames(v, frames_per_video, min_visibility, val_every):
            if not cv2.imwrite(str(out / "images" / split / f"{stem}.jpg"), img):
                raise FileSystemError(f"{out / 'images' / split / stem}.jpg: could not write the frame")
            (out / "labels" / split / f"{stem}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
            counts[split] += 1
            boxes += len(lines)
    val = "images/val" if counts["val"] else "images/train"  # too few frames to hold some out: validate on train
    data_yaml = out / "data.yaml"
    data_yaml.write_text(f"path: {out.resolve().as_posix()}\ntrain: images/train\nval: {val}\nnames:\n  0: {CLASS_NAME}\n")
    return ExportSummary(data_yaml, counts["train"], counts["val"], boxes, len(videos))


def _labelled_frames(video: VideoSource, frames_per_video: int, min_visibility: float,
                     val_every: int) -> Iterator[tuple[str, str, np.ndarray, list[str]]]:
    """``(split, file stem, image, YOLO label lines)`` of the frames sampled from ``video``."""
    info = probe(video)
    gt = read_truth(video.truth)  # a detection file given as truth is refused, naming it
    gt = gt[considered(gt) & (gt["visibility"].to_numpy(np.float64) >= min_visibility)]
    by_frame = {int(f) - 1: g for f, g in gt.groupby("frame")}
    picks = np.unique(np.linspace(0, info.frames - 1, num=max(1, frames_per_video)).round().astype(int)).tolist()
    for k, (i, img) in enumerate(read_frames(video, indices=picks)):
        split = "val" if val_every > 0 and k % val_every == val_every - 1 else "train"
        h, w = img.shape[:2]
        g = by_frame.get(i)
        lines = []
        if g is not None:
            x, y, bw, bh = (g[c].to_numpy(np.float64) for c in ("bb_left", "bb_top", "bb_width", "bb_height"))
            for cx, cy, nw, nh in zip((x + bw / 2) / w, (y + bh / 2) / h, bw / w, bh / h):
                lines.append(f"0 {cx:.6f} {cy:.6f} {nw:.6f} {nh:.6f}")
        yield split, f"{video.camera}_{video.slot}_{i:06d}", img, lines


def _check_model(model: str) -> str:
    path = Path(model)
    if path.suffix == ".pt" and not path.is_file():
        raise DetectorError(f"--model {model}: no such local weights file (nothing is downloaded); give a bundled model "
                            "yaml such as yolov8n.yaml to train from scratch, or the path of a .pt to fine-tune")
    if path.suffix not in (".pt", ".yaml", ".yml"):
        raise DetectorError(f"--model {model}: expected an ultralytics model yaml (yolov8n.yaml) or a local .pt")
    return model


def check_weights_out(out: str | os.PathLike, overwrite: bool, model: str | None = None) -> Path:
    """``out`` as a place for new weights: a ``.pt`` name, not a folder, not existing unless
    ``overwrite``, and never the ``model`` being fine-tuned."""
    out = Path(out)
    if out.suffix != ".pt":
        raise DetectorError(f"--out {out}: the weights are a PyTorch checkpoint; name the file *.pt")
    check_location(out, "--out", folder=False)
    if out.is_dir():
        raise UnsafeOutputError(f"--out {out}: is a folder; expected a .pt file name")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"--out {out}: already exists (pass --overwrite to replace it)")
    if out.exists() and model is not None and Path(model).exists() and out.resolve() == Path(model).resolve():
        raise UnsafeOutputError(f"--out {out}: is the --model being fine-tuned; write the new weights elsewhere")
    return out


def train_detector(footage: str | os.PathLike, out: str | os.PathLike, *, model: str = "yolov8n.yaml", epochs: int = 30,
                   imgsz: int = 640, device: str = "auto", frames_per_video: int = 50, batch: int = 16, workers: int = 0,
                   min_visibility: float = 0.3, seed: int = 0, overwrite: bool = False,
                   log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train YOLO on ``footage``'s truth and write the best weights to ``out``; returns a summary.

    An existing ``out`` is replaced only with ``overwrite``, and never when it is the ``model``
    being fine-tuned."""
    out = check_weights_out(out, overwrite, model)
    model = _check_model(model)
    dev = resolve_device(device)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lsvid-yolo-") as tmp:
        data = export_yolo_dataset(footage, Path(tmp) / "data", frames_per_video=frames_per_video, min_visibility=min_visibility)
        log(f"exported {data.train_images} train + {data.val_images} val frames, {data.boxes} boxes, from {data.videos} videos")
        with offline_training():
            from ultralytics import YOLO

            yolo = YOLO(model, task="detect")
            yolo.train(data=str(data.data_yaml), epochs=int(epochs), imgsz=int(imgsz), device=dev, batch=int(batch),
                       workers=int(workers), seed=int(seed), deterministic=True,
                       project=str(Path(tmp) / "runs"), name="train", exist_ok=True,
                       plots=False, amp=False)  # amp's self-check downloads a model
            trainer = yolo.trainer
            best = Path(trainer.best) if Path(trainer.best).is_file() else Path(trainer.last)
            metrics = {k: float(v) for k, v in (getattr(trainer, "metrics", None) or {}).items() if np.isscalar(v)}
            if not best.is_file():
                raise DetectorError(f"ultralytics finished without a checkpoint in {best.parent}")
            names = YOLO(str(best)).names
        find_person_class(dict(names), str(best))  # the detector will find its person class
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, lambda t: shutil.copyfile(best, t))
    return {"out": str(out), "model": model, "epochs": int(epochs), "imgsz": int(imgsz), "device": dev,
            "train_images": data.train_images, "val_images": data.val_images, "boxes": data.boxes, "videos": data.videos,
            "metrics": metrics, "seconds": round(time.perf_counter() - t0, 1)}
