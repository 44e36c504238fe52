"""Curation does not depend on the synthetic generator: importing it, or curating (with the
truth detector and --evaluate, which read MOT files), never loads lsvid.synth."""
from __future__ import annotations

import pkgutil
import subprocess
import sys

import lsvid.detect

CURATION = [
    "lsvid.curate", "lsvid.shard", "lsvid.assemble", "lsvid.quality", "lsvid.footage", "lsvid.mot",
    "lsvid.identities", "lsvid.review", "lsvid.stats", "lsvid.commands.curate",
]
# hog_train is the offline recipe that trained the bundled HOG SVM on rendered footage
OFFLINE_FROM_SYNTH = {"lsvid.detect.hog_train"}

CHECK = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
{run}
loaded = sorted(m for m in sys.modules if m == "lsvid.synth" or m.startswith("lsvid.synth."))
print("LOADED", loaded)
"""


def detect_modules() -> list[str]:
    names = [f"lsvid.detect.{m.name}" for m in pkgutil.iter_modules(lsvid.detect.__path__)]
    return ["lsvid.detect", *sorted(n for n in names if n not in OFFLINE_FROM_SYNTH)]


def loaded_synth(modules: list[str], run: str = "") -> str:
    """What of lsvid.synth a fresh interpreter holds after importing ``modules`` and running ``run``."""
    p = subprocess.run([sys.executable, "-c", CHECK.format(run=run), *modules], capture_output=True, text=True, timeout=600, check=False)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p.stdout.strip().splitlines()[-1]


def test_importing_curation_never_loads_the_generator():
    modules = CURATION + detect_modules()
    assert "lsvid.detect.train" in modules and "lsvid.detect.truth" in modules
    assert loaded_synth(modules) == "LOADED []"


def test_curating_footage_never_loads_the_generator(small_footage, tmp_path):
    out, work = tmp_path / "ds", tmp_path / "ds.work"
    run = (
        "from lsvid.cli import main\n"
        f"main(['curate', {str(small_footage)!r}, '--out', {str(out)!r}, '--work', {str(work)!r}, '--detector', 'truth',"
        " '--identities', 'cluster', '--evaluate', '--quiet'], standalone_mode=False)\n"
    )
    assert loaded_synth(["lsvid.cli"], run) == "LOADED []"
    assert (out / "dataset.json").exists()
