"""The one command line: ``lsvid <subcommand>``.

Subcommands live in their own modules and are imported only when invoked, so
``lsvid --help`` stays instant (no torch import).  To add one, add a line to
``COMMANDS``: name -> "module:attribute" of a ``click.Command``.
"""
from __future__ import annotations

import importlib
import sys

import click

from lsvid_core.errors import LsvidError, describe_os_error

COMMANDS: dict[str, str] = {
    "convert": "lsvid.commands.datasets:convert_cmd",
    "validate": "lsvid.commands.datasets:validate_cmd",
    "evaluate": "lsvid.commands.evaluate:evaluate_cmd",
    "demo": "lsvid.commands.demo:demo_cmd",
    "synth": "lsvid.synth.cli:synth_cmd",
    "bench": "lsvid.commands.bench:bench_cmd",
    "leaderboard": "lsvid.commands.bench:leaderboard_cmd",
    "train-detector": "lsvid.commands.train_detector:train_detector_cmd",
    "curate": "lsvid.commands.curate:curate_cmd",
    "review": "lsvid.commands.curate:review_cmd",
    "stats": "lsvid.commands.curate:stats_cmd",
}

HELP: dict[str, str] = {
    "convert": "Convert a native dataset (LS-VID, MARS, DukeV, PRID, iLIDS) to the Parquet schema.",
    "validate": "Check a dataset folder against the schema and print its counts.",
    "evaluate": "Score query/gallery features of a dataset with CMC and mAP.",
    "demo": "Run the main job end to end on embedded data (no downloads).",
    "synth": "Generate synthetic multi-camera footage of walking people with ground truth.",
    "bench": "Train and score aggregators (GLTR, baselines, plugins) on a dataset; fill the leaderboard.",
    "leaderboard": "Render the leaderboard as Markdown/HTML with CMC curves and retrieval strips.",
    "train-detector": "Train YOLO person-detector weights offline on footage with MOT truth (for --detector yolo).",
    "curate": "Footage to dataset: detect, track, filter, identities across cameras, splits.",
    "review": "Contact sheets per proposed identity, and a CSV to fix them.",
    "stats": "Table 1 row and Fig. 4 histograms of a dataset.",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use.

    It is also the one place user-facing errors become messages: every
    :class:`~lsvid_core.errors.LsvidError` is printed as one line and exits 1,
    as is an ``OSError`` (permissions, a full disk, a file where a folder
    belongs), reworded to name its path.  Any other exception is a bug and
    keeps its traceback.
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except LsvidError as e:
            raise click.ClickException(str(e)) from None
        except OSError as e:
            raise click.ClickException(describe_os_error(e)) from None

    def list_commands(self, ctx: click.Context) -> list[str]:  # noqa: ARG002 - click's signature
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:  # noqa: ARG002 - click's signature
        target = COMMANDS.get(name)
        if target is None:
            return None
        mod, attr = target.split(":")
        return getattr(importlib.import_module(mod), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, HELP.get(n, "")) for n in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lsvid")
def main() -> None:
    """Video person re-identification: build datasets from footage, convert the public
    ones, evaluate under one protocol, and rank methods on a leaderboard."""


def run() -> None:  # pragma: no cover - console entry convenience
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    main()
