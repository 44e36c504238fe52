"""``lsvid train-detector``: YOLO weights for ``--detector yolo``, trained offline on footage with MOT truth."""
from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("train-detector")
@click.argument("footage", type=click.Path(path_type=Path, exists=True), required=False)
@click.option("--recipe", type=click.Choice(["synthetic"]), default=None,
              help="Rebuild a bundled model instead: synthetic renders its lsvid-synth scenes and trains "
                   "with its fixed settings (lsvid.detect.synthetic.RECIPE); give no FOOTAGE then.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True, help="Weights file to write (.pt).")
@click.option("--model", default="yolov8n.yaml", show_default=True, help="Ultralytics model yaml (trained from scratch) or a local .pt to fine-tune.")
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--imgsz", type=click.IntRange(min=32), default=640, show_default=True, help="Training image size, pixels.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when present), cpu, cuda:0 ...")
@click.option("--frames-per-video", type=click.IntRange(min=1), default=50, show_default=True, help="Frames sampled evenly from each video with truth.")
@click.option("--batch", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True, help="Data-loading processes (0: in the main process).")
@click.option("--min-visibility", type=click.FloatRange(0, 1), default=0.3, show_default=True, help="Truth boxes less visible than this are not labelled.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
def train_detector_cmd(footage: Path | None, recipe: str | None, out: Path, model: str, epochs: int, imgsz: int, device: str, frames_per_video: int,
                       batch: int, workers: int, min_visibility: float, seed: int, overwrite: bool) -> None:
    """Train a one-class (person) YOLO on FOOTAGE (ROOT/<camera>/<slot>.<video> with
    <slot>.gt.txt MOT truth, as `lsvid synth` writes; or a manifest CSV) and write the
    best weights to OUT, for `lsvid curate --detector yolo --detector-weights OUT`.
    Fully offline: the model starts from its yaml (random weights) unless --model is a local .pt.
    With --recipe synthetic it rebuilds the bundled `synthetic` detector (and OUT.json, its card)."""
    from lsvid.detect.train import train_detector

    if recipe is not None:
        _check_recipe_use(footage, recipe)
        from lsvid.detect.synthetic import train_recipe

        click.echo(json.dumps(train_recipe(out, device=device, workers=workers, overwrite=overwrite, log=click.echo), indent=2))
        return
    if footage is None:
        raise click.UsageError("give FOOTAGE (a footage folder or manifest with MOT truth), or --recipe synthetic")
    summary = train_detector(footage, out, model=model, epochs=epochs, imgsz=imgsz, device=device,
                             frames_per_video=frames_per_video, batch=batch, workers=workers,
                             min_visibility=min_visibility, seed=seed, overwrite=overwrite, log=click.echo)
    click.echo(json.dumps(summary, indent=2))


_RECIPE_FIXED = ("model", "epochs", "imgsz", "frames_per_video", "batch", "min_visibility", "seed")


def _check_recipe_use(footage: Path | None, recipe: str) -> None:
    """A recipe brings its own footage and training settings: giving them too is a mistake, named."""
    if footage is not None:
        raise click.UsageError(f"--recipe {recipe} renders its own footage; drop FOOTAGE ({footage})")
    ctx = click.get_current_context()
    given = [n for n in _RECIPE_FIXED if ctx.get_parameter_source(n) == click.core.ParameterSource.COMMANDLINE]
    if given:
        names = ", ".join("--" + n.replace("_", "-") for n in given)
        raise click.UsageError(f"--recipe {recipe} fixes {names}; drop them (the recipe is lsvid.detect.synthetic.RECIPE)")
