"""``lsvid synth``: generate synthetic multi-camera footage with its ground truth."""
from __future__ import annotations

from pathlib import Path

import click

from lsvid_core.errors import ConfigError, UnsafeOutputError
from lsvid_core.paths import check_location

from .config import SynthConfig, parse_size


def _size(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int]:  # noqa: ARG001 - a click callback
    try:
        return parse_size(value)
    except ConfigError as e:
        raise click.BadParameter(str(e)) from e


@click.command("synth")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="Footage folder to write.")
@click.option("--cameras", type=int, default=SynthConfig.cameras, show_default=True)
@click.option("--slots", type=int, default=SynthConfig.slots, show_default=True, help="Time slots (one video per camera each).")
@click.option("--identities", type=int, default=SynthConfig.identities, show_default=True)
@click.option("--seconds", type=float, default=SynthConfig.seconds, show_default=True, help="Length of every video.")
@click.option("--fps", type=int, default=SynthConfig.fps, show_default=True)
@click.option("--size", default="x".join(map(str, SynthConfig.size)), show_default=True, callback=_size, help="WIDTHxHEIGHT.")
@click.option("--twins", type=float, default=SynthConfig.twins, show_default=True,
              help="Share of people in look-alike pairs that differ only in gait.")
@click.option("--distractors", type=float, default=SynthConfig.distractors, show_default=True,
              help="Share of (non-twin) people seen by one camera only.")
@click.option("--pairs", type=float, default=SynthConfig.pairs, show_default=True, help="Share of people walking with a companion.")
@click.option("--seed", type=int, default=SynthConfig.seed, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Processes rendering videos in parallel.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it is footage this tool wrote (only once the new footage is complete).")
@click.option("--preview", "preview", is_flag=False, flag_value="", default=None, metavar="[PNG]",
              help="Also write a contact sheet of frames with truth boxes (default OUT/preview.png).")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
def synth_cmd(out: Path, cameras: int, slots: int, identities: int, seconds: float, fps: int, size: tuple[int, int],
              twins: float, distractors: float, pairs: float, seed: int, workers: int, overwrite: bool,
              preview: str | None, progress: bool) -> None:
    """Generate synthetic surveillance footage of walking people with its ground truth.

    Writes OUT/<camera>/<slot>.mp4 (or .avi) with MOT truth beside each video,
    identities.csv, visits.csv and footage.json.  The same seed gives the same
    truth files byte for byte.
    """
    from .footage import generate_footage
    from .preview import contact_sheet

    if preview:
        check_location(Path(preview), "--preview", folder=False)
        if not Path(preview).absolute().parent.is_dir():
            raise UnsafeOutputError(f"--preview {preview}: its folder does not exist")
    config = SynthConfig(cameras=cameras, slots=slots, identities=identities, seconds=seconds, fps=fps, size=size,
                         twins=twins, distractors=distractors, pairs=pairs, seed=seed)
    manifest = generate_footage(out, config, overwrite=overwrite, workers=workers, progress=progress)
    c, t = manifest["counts"], manifest["timing"]
    frames = len(manifest["videos"]) * manifest["num_frames"]
    n = len(manifest["videos"])
    click.echo(f"wrote {out}: {n} video{'s' if n != 1 else ''} x {manifest['num_frames']} frames "
               f"({manifest['videos'][0]['fourcc']}), {c['boxes']:,} boxes")
    click.echo(f"people: {c['seen']} seen of {c['identities']}, {c['multi_camera']} in 2+ cameras, {c['distractors']} "
               f"distractors, {c['twin_pairs']} twin pairs, {c['companion_pairs']} companion pairs, {c['visits']} visits")
    click.echo(f"time: {t['total_s']:.1f} s (render {frames / max(t['render_s'], 1e-9):.0f} frames/s, "
               f"encode {frames / max(t['write_s'], 1e-9):.0f} frames/s)")
    if preview is not None:
        path = contact_sheet(out, preview or None)
        click.echo(f"preview: {path}")
