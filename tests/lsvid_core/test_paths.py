"""Safe names, outputs that never replace what is not ours, and staged folders that clean up after kills."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from lsvid_core.errors import OutputExistsError, UnsafeOutputError, UnsafePathError
from lsvid_core.paths import MARKER, check_output, is_ours, relative_inside, remove_stale, safe_component, staged_folder


@pytest.mark.parametrize("name", ["cam1", "slot 01", "ümlaut", "a.b", "-x"])
def test_ordinary_names_pass(name):
    assert safe_component(name, "camera") == name


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "/abs", "a\\b", "x\0y", "tab\there", "x" * 256])
def test_names_that_are_paths_are_refused(name):
    with pytest.raises(UnsafePathError, match="camera"):
        safe_component(name, "camera")


@pytest.mark.parametrize("path", ["../x", "a/../../b", "/etc/passwd", "\\\\server\\share", "a/.."])
def test_relative_paths_may_not_climb_out(path):
    with pytest.raises(UnsafePathError):
        relative_inside(path, "frame path")


def test_relative_paths_inside_pass():
    assert relative_inside("images/cam1/0/0.jpg", "frame path") == "images/cam1/0/0.jpg"
    assert relative_inside("a/..b/c", "frame path") == "a/..b/c"  # a name that merely starts with dots


def test_replace_only_what_is_ours(tmp_path):
    out = tmp_path / "out"
    assert check_output(out, overwrite=False) == out  # absent: fine
    out.mkdir()
    assert check_output(out, overwrite=False) == out  # empty: nothing to lose
    (out / "a.txt").write_text("x")
    with pytest.raises(OutputExistsError):
        check_output(out, overwrite=False)
    with pytest.raises(UnsafeOutputError, match=MARKER):
        check_output(out, overwrite=True)
    (out / MARKER).write_text("{}")
    assert check_output(out, overwrite=True) == out


def test_older_outputs_are_recognised_as_ours(tmp_path):
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "dataset.json").write_text(json.dumps({"build": {"tool": "lsvid convert"}}))
    (tmp_path / "native").mkdir()
    (tmp_path / "native" / "dataset.json").write_text(json.dumps({"build": {"tool": "someone else"}}))
    (tmp_path / "foot").mkdir()
    (tmp_path / "foot" / "footage.json").write_text(json.dumps({"generator": {"name": "lsvid.synth"}}))
    assert is_ours(tmp_path / "ds") and is_ours(tmp_path / "foot") and not is_ours(tmp_path / "native")


@pytest.mark.parametrize(("out", "inp", "relation"), [("d", "d", "is"), ("d", "d/in", "contains"), ("d/in", "d", "lies inside")])
def test_an_input_is_never_replaced(tmp_path, out, inp, relation):
    (tmp_path / "d" / "in").mkdir(parents=True)
    (tmp_path / out / MARKER).write_text("{}")
    (tmp_path / out / "x").write_text("x")
    with pytest.raises(UnsafeOutputError, match=f"{relation} the input --root"):
        check_output(tmp_path / out, overwrite=True, inputs=[("--root", tmp_path / inp)])


def test_a_host_input_may_hold_the_output_but_not_be_it(tmp_path):
    ds = tmp_path / "ds"
    (ds / "review").mkdir(parents=True)
    (ds / "review" / MARKER).write_text("{}")
    (ds / MARKER).write_text("{}")
    check_output(ds / "review", overwrite=True, hosts=[("DATASET", ds)])
    with pytest.raises(UnsafeOutputError, match="is the input DATASET"):
        check_output(ds, overwrite=True, hosts=[("DATASET", ds)])


def test_symlinks_as_outputs_are_refused(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(UnsafeOutputError, match="symbolic link"):
        check_output(tmp_path / "link", overwrite=True)
    (tmp_path / "dangling").symlink_to(tmp_path / "none")
    with pytest.raises(UnsafeOutputError, match="dangling"):
        check_output(tmp_path / "dangling", overwrite=False)


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_staged_folder_appears_only_when_complete(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), staged_folder(out, kind="test", tool="t") as tmp:
        (tmp / "half").write_text("x")
        raise RuntimeError("killed")
    assert not out.exists() and not list(tmp_path.iterdir())
    with staged_folder(out, kind="test", tool="t") as tmp:
        (tmp / "whole").write_text("x")
    assert (out / "whole").exists() and json.loads((out / MARKER).read_text())["kind"] == "test"


def test_leftovers_of_dead_runs_are_removed_and_live_ones_kept(tmp_path):
    host = socket.gethostname().split(".")[0]
    out = tmp_path / "ds"
    dead = tmp_path / f".ds.tmp-{host}-{_dead_pid()}-aaaa0000"
    legacy = tmp_path / ".ds.tmp-1234abcd"
    live = tmp_path / f".ds.tmp-{host}-{os.getpid()}-bbbb0000"
    other_host = tmp_path / ".ds.tmp-someotherhost-1-cccc0000"
    for d in (dead, legacy, live, other_host):
        d.mkdir()
    removed = remove_stale(out)
    assert sorted(removed) == sorted([dead, legacy])
    assert live.exists() and other_host.exists()


def test_a_kill_between_the_two_renames_keeps_the_old_output(tmp_path):
    """replace_folder moves the old output aside before moving the new one in: a kill in between
    leaves no output but a complete '.old' folder, which the next run puts back."""
    host = socket.gethostname().split(".")[0]
    old = tmp_path / f".ds.old-{host}-{_dead_pid()}-dddd0000"
    old.mkdir()
    (old / "dataset.json").write_text("{}")
    remove_stale(tmp_path / "ds")
    assert (tmp_path / "ds" / "dataset.json").exists() and not old.exists()


def test_paths_module_imports_nothing_of_the_toolkit():
    code = "import sys, lsvid_core.paths, lsvid_core.config, lsvid_core.errors; print(sorted(m for m in sys.modules if m.split('.')[0] in ('protocols', 'gltr', 'benchmark', 'lsvid', 'torch')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
