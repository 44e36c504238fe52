"""``synthetic``: the bundled person detector for the footage ``lsvid synth`` renders.

A one-class YOLO (``models/synthetic_person.yaml``: YOLOv8's layout at an
eighth of the nano width, about 0.35 M parameters) trained from random
weights on rendered footage only, and shipped with the package
(``weights/synthetic_person.pt``, with ``synthetic_person.json`` saying how it
was made), so the default curation needs no download.  It has never seen a
real person: for real footage use ``yolo`` with real weights.

One command rebuilds it (:data:`RECIPE`: footage seeds, scene sizes and the
training settings: four runs of 30 epochs at 416 px, each fine-tuning the
last, 28-35 min each on 2 CPU cores)::

    lsvid train-detector --recipe synthetic --out synthetic_person.pt

The training seeds (201-208) are kept apart from every seed the tests,
benchmarks and the demo curate, so the quality they measure is on scenes the
detector never saw.
"""
from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from protocols.registry import option_defaults

from . import register_detector
from .base import DetectorError
from .yolo import YoloDetector, check_options

HERE = Path(__file__).parent
MODEL_YAML = HERE / "models" / "synthetic_person.yaml"
WEIGHTS = HERE / "weights" / "synthetic_person.pt"
CARD = WEIGHTS.with_suffix(".json")


@dataclass(frozen=True)
class Recipe:
    """How the bundled weights are made: the footage (one ``lsvid synth`` scene per seed) and the
    ``lsvid train-detector`` settings."""

    seeds: tuple[int, ...] = (201, 202, 203, 204, 205, 206, 207, 208)
    cameras: int = 4
    identities: int = 40
    seconds: float = 20.0
    size: tuple[int, int] = (640, 360)
    frames_per_video: int = 30
    #: one training run per entry, each fine-tuning the previous run's best weights (the first
    #: starts from the yaml's random weights): the schedule the bundled weights were trained on
    epochs: tuple[int, ...] = (30, 30, 30, 30)
    imgsz: int = 416
    batch: int = 16
    min_visibility: float = 0.3
    seed: int = 0


RECIPE = Recipe()


def write_recipe_footage(root: Path, recipe: Recipe = RECIPE, *, workers: int = 1,
                         log: Callable[[str], None] = print) -> Path:
    """Render the recipe's scenes under ``root`` and return a manifest CSV listing their videos
    (camera names prefixed by the scene, so cameras of different scenes stay apart)."""
    from lsvid.footage import find_videos
    from lsvid.synth import SynthConfig, generate_footage

    rows = []
    for s in recipe.seeds:
        scene = root / f"seed{s}"
        log(f"footage: seed {s}, {recipe.cameras} cameras, {recipe.identities} people, {recipe.seconds:g} s")
        generate_footage(scene, SynthConfig(cameras=recipe.cameras, identities=recipe.identities, seconds=recipe.seconds,
                                            size=recipe.size, seed=s), workers=workers, progress=False)
        rows += [{"path": str(v.path), "camera": f"seed{s}_{v.camera}", "slot": v.slot} for v in find_videos(scene)]
    manifest = root / "manifest.csv"
    with manifest.open("w", newline="") as f:
        w = csv.DictWriter(f, ["path", "camera", "slot"])
        w.writeheader()
        w.writerows(rows)
    return manifest


def train_recipe(out: str | os.PathLike, recipe: Recipe = RECIPE, *, device: str = "auto", workers: int = 0,
                 overwrite: bool = False, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Rebuild the bundled detector: render the recipe's footage in a temporary folder, train on it
    with :func:`lsvid.detect.train.train_detector`, and write ``out`` and its card ``out.json``
    (the recipe and the training summary).  Returns the summary."""
    from lsvid_core.paths import atomic_write_text

    from .train import check_weights_out, train_detector

    out = check_weights_out(out, overwrite)
    runs = []
    with tempfile.TemporaryDirectory(prefix="lsvid-synthetic-") as tmp:
        manifest = write_recipe_footage(Path(tmp), recipe, workers=max(1, workers), log=log)
        model = str(MODEL_YAML)
        for k, epochs in enumerate(recipe.epochs):
            last = k == len(recipe.epochs) - 1
            stage = out if last else Path(tmp) / f"stage{k + 1}.pt"
            log(f"training run {k + 1} of {len(recipe.epochs)}: {epochs} epochs from {Path(model).name}")
            runs.append(train_detector(manifest, stage, model=model, epochs=epochs, imgsz=recipe.imgsz, device=device,
                                       frames_per_video=recipe.frames_per_video, batch=recipe.batch, workers=workers,
                                       min_visibility=recipe.min_visibility, seed=recipe.seed, overwrite=overwrite and last,
                                       log=log))
            model = str(stage)
    from benchmark.runtime import code_version, environment

    summary = {"out": str(out), "model": MODEL_YAML.name, "recipe": asdict(recipe), "runs": runs,
               "seconds": round(sum(r["seconds"] for r in runs), 1), "code": code_version(),
               "environment": json.loads(environment())}
    card = out.with_suffix(".json")
    atomic_write_text(card, json.dumps(summary, indent=2) + "\n")
    return summary


def check_bundled(**options: object) -> None:
    """The bundled weights are installed (or an error saying how to rebuild them), and the numeric
    ``options`` are valid: checked before a curation starts any video."""
    defaults = {k: v for k, v in (option_defaults(synthetic) or {}).items() if k in ("conf", "iou", "imgsz", "batch_size")}
    check_options("synthetic", **{**defaults, **options})
    if not WEIGHTS.is_file():
        raise DetectorError(f"synthetic: the bundled weights {WEIGHTS} are missing from this installation; "
                            "rebuild them with: lsvid train-detector --recipe synthetic --out " + str(WEIGHTS))


@register_detector("synthetic")
def synthetic(*, device: str = "auto", conf: float = 0.5, iou: float = 0.5, imgsz: int | None = None,
              batch_size: int = 16) -> YoloDetector:
    """The bundled detector for ``lsvid synth`` footage (see the module docstring); its options are
    ``yolo``'s (``imgsz`` defaults to the training size).

    ``conf`` 0.5 and ``iou`` (NMS overlap) 0.5, not ``yolo``'s 0.1 and 0.7: this small network is
    less sure of itself than COCO weights, and its duplicate and loose boxes cost more than the
    tracker's second stage gains.  Measured with ``lsvid curate F --out DS --evaluate`` on
    held-out scenes (seeds 105-112, 2 cameras, 10 people, 10 s), means over the eight: conf 0.4
    finds recall 0.940 against 0.917 but precision 0.949 against 0.977 and mean tracklet purity
    0.955 against 0.967 (IDF1 0.901 and 0.895); NMS at 0.7 cost 3-7 points of precision and 2-5 of
    IDF1 (the weights of three runs, seeds 105-108).
    """
    check_bundled(conf=conf, iou=iou, imgsz=imgsz, batch_size=batch_size)
    return YoloDetector(weights=str(WEIGHTS), device=device, conf=conf, iou=iou, imgsz=imgsz, batch_size=batch_size)
