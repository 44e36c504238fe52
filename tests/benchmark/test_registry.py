"""The aggregator registry: register/create/list, duplicates, entry points, --plugin."""
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from click.testing import CliRunner

import benchmark.registry as registry
from benchmark.aggregators import BASELINES
from benchmark.registry import RegistryError, create_aggregator, list_aggregators, register_aggregator


def test_baselines_are_registered_with_references():
    names = list_aggregators()
    assert set(BASELINES) <= set(names)
    for n in BASELINES:
        doc = registry.get_aggregator(n).doc
        assert "(" in doc and any(ch.isdigit() for ch in doc), f"{n}: docstring should cite its paper"


def test_register_create_and_duplicate(monkeypatch):
    monkeypatch.setattr(registry.REGISTRY, "entries", dict(registry.REGISTRY.entries))

    class Half(torch.nn.Module):
        def __init__(self, d):
            super().__init__()
            self.out_dim = d // 2

        def forward(self, x, mask=None):
            return x.mean(1)[:, : self.out_dim]

    @register_aggregator("half_mean")
    def half_mean(in_dim):
        """Half of the mean (a test method)."""
        return Half(in_dim)

    m = create_aggregator("half_mean", 8)
    assert m(torch.ones(2, 5, 8)).shape == (2, 4) and "half_mean" in list_aggregators()

    with pytest.raises(RegistryError, match=r"'half_mean' is registered twice: by .*half_mean .* and by .*other"):
        @register_aggregator("half_mean")
        def other(in_dim):
            return Half(in_dim)

    with pytest.raises(RegistryError, match="unknown aggregator 'nope'"):
        create_aggregator("nope", 4)

    @register_aggregator("no_out_dim")
    def bad(in_dim):
        return torch.nn.Identity()

    with pytest.raises(RegistryError, match="without a positive integer out_dim"):
        create_aggregator("no_out_dim", 4)


PLUGIN = '''
import torch
from benchmark.registry import register_aggregator

class FirstFrame(torch.nn.Module):
    def __init__(self, d):
        super().__init__()
        self.out_dim = d
    def forward(self, x, mask=None):
        return x[:, 0]

@register_aggregator("first_frame")
def first_frame(in_dim):
    """Take the first frame (a third-party method)."""
    return FirstFrame(in_dim)

def last_frame(in_dim):
    """Take the last frame (registered through its entry point name)."""
    m = FirstFrame(in_dim)
    m.forward = lambda x, mask=None: x[:, -1]
    return m
'''


def make_installed_package(root):
    """A distribution as pip leaves it: the module plus its .dist-info with entry points."""
    (root / "toyplug").mkdir(parents=True)
    (root / "toyplug" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    info = root / "toyplug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toyplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[lsvid.aggregators]\ntoyplug = toyplug\nlast_frame = toyplug:last_frame\n")


def test_entry_point_plugin_is_loaded_lazily(tmp_path, monkeypatch):
    make_installed_package(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry.REGISTRY, "entries", dict(registry.REGISTRY.entries))
    monkeypatch.setattr(registry.REGISTRY, "entry_points_loaded", False)
    assert "toyplug" not in sys.modules
    names = list_aggregators()
    assert {"first_frame", "last_frame"} <= set(names)
    x = torch.arange(12.0).reshape(1, 3, 4)
    assert create_aggregator("last_frame", 4)(x).tolist() == [[8.0, 9.0, 10.0, 11.0]]
    # and from a fresh process through the command line
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ["PYTHONPATH"]])}
    out = subprocess.run([sys.executable, "-m", "lsvid.cli", "bench", "--dataset", str(tmp_path), "--list"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "first_frame" in out.stdout and "last_frame" in out.stdout and "gltr" in out.stdout


def test_plugin_flag_imports_a_module(tmp_path, monkeypatch):
    (tmp_path / "myaggs.py").write_text(textwrap.dedent(PLUGIN).replace("first_frame", "flag_first"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry.REGISTRY, "entries", dict(registry.REGISTRY.entries))
    from lsvid.cli import main

    r = CliRunner().invoke(main, ["bench", "--dataset", str(tmp_path), "--plugin", "myaggs", "--list"])
    assert r.exit_code == 0 and "flag_first" in r.output
    r = CliRunner().invoke(main, ["bench", "--dataset", str(tmp_path), "--plugin", "not_a_module_xyz", "--list"])
    assert r.exit_code != 0 and "--plugin not_a_module_xyz: module not found" in r.output
