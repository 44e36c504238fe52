"""``lsvid curate --plugin``: a module registering a detector and an embedder, imported here and in the
workers of ``--workers 2`` (a spawn pool), and recorded in dataset.json."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from lsvid.cli import main
from lsvid.curate import CurateRequest, check_request
from lsvid.plugins import import_plugin
from protocols import read_dataset
from protocols.registry import RegistryError

PLUGIN = '''
"""A curation plugin: a detector and an embedder under new names; notes each process that imports it."""
import os

from lsvid.detect import Detector, create_detector, register_detector
from lsvid.embed import ColourTextureEmbedder, register_embedder

with open(os.environ["PLUGIN_LOG"], "a") as f:
    f.write(f"{os.getpid()}\\n")


@register_detector("{name}_boxes")
class PluginBoxes(Detector):
    """The video's truth boxes, through the built-in detector, with a score of its own."""

    def __init__(self, *, score: float = 0.5):
        self.inner = create_detector("truth")
        self.batch_size = self.inner.batch_size
        self.score = float(score)

    def start_video(self, video):
        self.inner.start_video(video)

    def detect(self, frames, indices):
        out = self.inner.detect(frames, indices)
        for b in out:
            b[:, 4] = self.score
        return out


@register_embedder("{name}_colour")
def plugin_colour(*, texture_weight: float = 0.1):
    emb = ColourTextureEmbedder(texture_weight=texture_weight)
    emb.name = "{name}_colour"
    return emb
'''


def write_plugin(folder: Path, stem: str, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.py"
    path.write_text(textwrap.dedent(PLUGIN).replace("{name}", name))
    return path


def curate(args):
    return CliRunner().invoke(main, ["curate", *map(str, args), "--quiet"])


def test_a_plugin_module_is_used_by_curate_with_two_workers(small_footage, tmp_path, monkeypatch):
    log = tmp_path / "imports.log"
    monkeypatch.setenv("PLUGIN_LOG", str(log))
    write_plugin(tmp_path / "plugins", "lsvid_test_plugin", "by_module")
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))  # spawn workers start with this process's sys.path
    out = tmp_path / "ds"
    r = curate([small_footage, "--out", out, "--plugin", "lsvid_test_plugin", "--detector", "by_module_boxes",
                "--detector-option", "score=0.75", "--embedder", "by_module_colour", "--workers", "2"])
    assert r.exit_code == 0, r.output
    ds = read_dataset(out)
    build = ds.meta["build"]
    assert build["plugins"] == ["lsvid_test_plugin"]
    assert build["config"]["detector"] == "by_module_boxes" and build["config"]["detector_options"] == {"score": 0.75}
    assert build["config"]["embedder"] == "by_module_colour"
    assert len(ds.tracklets) > 0 and (ds.frames["score"] == 0.75).all()
    pids = set(log.read_text().split())
    assert len(pids) >= 2, pids  # this process and at least one worker imported it


def test_a_plugin_file_is_imported_by_path_and_protected_as_an_input(small_footage, tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGIN_LOG", str(tmp_path / "imports.log"))
    plugin = write_plugin(tmp_path, "my plugin", "by_file")  # a file name that is not a module name
    out = tmp_path / "ds"
    r = curate([small_footage, "--out", out, "--plugin", plugin, "--detector", "by_file_boxes", "--embedder", "by_file_colour"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "dataset.json").read_text())["build"]["plugins"] == [str(plugin.resolve())]
    # a second import (a worker, a re-run) finds the module already loaded: no "registered twice"
    assert import_plugin(str(plugin)) is import_plugin(str(plugin))
    # --overwrite of a folder holding the plugin is refused, like any input
    inside = write_plugin(out, "plugin", "inside")
    r = curate([small_footage, "--out", out, "--overwrite", "--plugin", inside, "--detector", "inside_boxes"])
    assert r.exit_code == 1 and "--plugin" in r.output and inside.is_file(), r.output


def test_a_missing_plugin_is_one_line_before_any_video(small_footage, tmp_path):
    r = curate([small_footage, "--out", tmp_path / "ds", "--plugin", "no_such_lsvid_plugin"])
    assert r.exit_code == 1 and "--plugin no_such_lsvid_plugin: module not found" in r.output and "Traceback" not in r.output
    r = curate([small_footage, "--out", tmp_path / "ds", "--plugin", tmp_path / "missing.py"])
    assert r.exit_code == 1 and "missing.py: no such file" in r.output
    r = curate([small_footage, "--out", tmp_path / "ds", "--plugin", "not a module"])
    assert r.exit_code == 1 and "not a module name" in r.output
    assert not (tmp_path / "ds").exists() and not (tmp_path / "ds.work").exists()


def test_plugins_are_imported_before_the_names_are_checked(small_footage, tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGIN_LOG", str(tmp_path / "imports.log"))
    plugin = write_plugin(tmp_path, "checked_plugin", "checked")
    from lsvid.shard import CurateConfig

    cfg = CurateConfig(detector="checked_boxes", detector_options={"scroe": 1})
    with pytest.raises(Exception, match="has no option 'scroe'; its options: score"):
        check_request(CurateRequest(footage=small_footage, out=tmp_path / "ds", config=cfg, plugins=(str(plugin),)))
    with pytest.raises(RegistryError, match="no such file"):
        CurateRequest(footage=small_footage, out=tmp_path / "ds", plugins=(str(tmp_path / "gone.py"),))


def test_ray_workers_import_the_plugin_too(small_footage, tmp_path):
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'lsvid[ray]'")
    log = tmp_path / "imports.log"
    plugin = write_plugin(tmp_path, "ray_plugin", "by_ray")
    env = {**os.environ, "RAY_ADDRESS": "", "PLUGIN_LOG": str(log)}
    p = subprocess.run([sys.executable, "-m", "lsvid.cli", "curate", str(small_footage), "--out", str(tmp_path / "ds"), "--quiet",
                        "--executor", "ray", "--plugin", str(plugin), "--detector", "by_ray_boxes", "--embedder", "by_ray_colour"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert json.loads((tmp_path / "ds" / "dataset.json").read_text())["build"]["plugins"] == [str(plugin.resolve())]
    assert len(set(log.read_text().split())) >= 2  # the driver and a Ray worker
