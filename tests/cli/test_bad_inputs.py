"""Every command against bad inputs and faults, as a careless user (or a bad day) would give them.

Each case runs the real command line and asserts four things: the exit code,
that the message names the file or option at fault, that no traceback was
printed (the error was a message, not a crash), and that no file outside the
output folder changed (for most cases: that nothing changed at all, since a
refused command must write nothing).  The ``--overwrite`` cases check their
inputs byte for byte.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from lsvid.cli import main
from lsvid.toy_native import write_native
from lsvid_core.paths import MARKER


def snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple]:
    """Every entry under ``root`` (not following links): files by content, links by target."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        d = Path(dirpath)
        if skip is not None and (d == skip or skip in d.parents):
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            p = d / name
            if skip is not None and (p == skip or skip in p.parents):
                continue
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_file():
                out[rel] = ("file", hashlib.sha1(p.read_bytes()).hexdigest())
            else:
                out[rel] = ("dir",)
    return out


def run(args: list[str], *, root: Path, code: int = 1, names: tuple[str, ...] = (), out: Path | None = None, unchanged: bool = True) -> str:
    """Run ``lsvid ARGS``; assert the exit code, that the message names ``names``, that there is
    no traceback, and that nothing under ``root`` changed (outside ``out`` when ``unchanged`` is False)."""
    before = snapshot(root, None if unchanged else out)
    r = CliRunner().invoke(main, [str(a) for a in args])
    text = r.output
    assert r.exit_code == code, f"exit {r.exit_code}, expected {code}\n{text}\n{r.exception!r}"
    assert r.exception is None or isinstance(r.exception, SystemExit), f"crashed: {r.exception!r}\n{text}"
    assert "Traceback" not in text, text
    for n in names:
        assert str(n) in text, f"message does not name {n!r}:\n{text}"
    after = snapshot(root, None if unchanged else out)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not changed, f"files changed: {changed[:10]}\n{text}"
    return text


@pytest.fixture
def native(tmp_path: Path) -> Path:
    write_native("dukev", tmp_path / "native", seed=0)
    return tmp_path / "native"


@pytest.fixture
def dataset(tmp_path: Path, native: Path) -> Path:
    r = CliRunner().invoke(main, ["convert", "--dataset", "dukev", "--root", str(native), "--out", str(tmp_path / "ds")])
    assert r.exit_code == 0, r.output
    return tmp_path / "ds"


def edit_json(path: Path, **changes) -> None:
    d = json.loads(path.read_text())
    d.update(changes)
    path.write_text(json.dumps(d))


def set_frame_path(ds: Path, row: int, value: str) -> None:
    fr = pd.read_parquet(ds / "frames.parquet")
    fr.loc[row, "path"] = value
    fr.to_parquet(ds / "frames.parquet", index=False)


# ---------------------------------------------------------------------------------------------
# convert: --overwrite never destroys an input or a folder that is not ours


def test_convert_onto_its_own_root_is_refused(tmp_path, native):
    run(["convert", "--dataset", "dukev", "--root", native, "--out", native, "--overwrite"], root=tmp_path, names=(native, "--root"))


def test_convert_onto_a_folder_holding_the_root_is_refused(tmp_path, native):
    run(["convert", "--dataset", "dukev", "--root", native, "--out", tmp_path, "--overwrite"], root=tmp_path, names=("contains", "--root"))


def test_convert_into_a_folder_inside_the_root_is_refused(tmp_path, native):
    inner = next(p for p in native.rglob("*") if p.is_dir())
    run(["convert", "--dataset", "dukev", "--root", native, "--out", inner, "--overwrite"], root=tmp_path, names=("lies inside", "--root"))


def test_convert_overwrite_of_a_folder_this_tool_did_not_write_is_refused(tmp_path, native):
    other = tmp_path / "thesis"
    other.mkdir()
    (other / "chapter1.tex").write_text("a week of work")
    run(["convert", "--dataset", "dukev", "--root", native, "--out", other, "--overwrite"], root=tmp_path, names=(other, MARKER))


def test_convert_overwrite_of_a_file_is_refused(tmp_path, native):
    f = tmp_path / "notes.txt"
    f.write_text("keep me")
    run(["convert", "--dataset", "dukev", "--root", native, "--out", f, "--overwrite"], root=tmp_path, names=(f, "is a file"))


def test_convert_overwrite_replaces_its_own_dataset(tmp_path, dataset, native):
    (dataset / "junk.txt").write_text("x")  # ours, so it may go
    before = snapshot(native)
    r = CliRunner().invoke(main, ["convert", "--dataset", "dukev", "--root", str(native), "--out", str(dataset), "--overwrite"])
    assert r.exit_code == 0, r.output
    assert not (dataset / "junk.txt").exists() and (dataset / MARKER).is_file()
    assert snapshot(native) == before


def test_convert_without_overwrite_keeps_the_existing_output(tmp_path, dataset, native):
    run(["convert", "--dataset", "dukev", "--root", native, "--out", dataset], root=tmp_path, names=(dataset, "--overwrite"))


def test_convert_to_a_dangling_symlink_is_refused(tmp_path, native):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    run(["convert", "--dataset", "dukev", "--root", native, "--out", link], root=tmp_path, names=(link, "symbolic link"))


def test_convert_under_a_regular_file_is_refused(tmp_path, native):
    f = tmp_path / "afile"
    f.write_text("x")
    run(["convert", "--dataset", "dukev", "--root", native, "--out", f / "ds"], root=tmp_path, names=(f, "is a file"))


def test_convert_into_an_unwritable_place_names_it(tmp_path, native):
    run(["convert", "--dataset", "dukev", "--root", native, "--out", "/proc/lsvid-test/ds"], root=tmp_path, names=("/proc/lsvid-test",))


def test_convert_of_a_missing_root_names_it(tmp_path):
    run(["convert", "--dataset", "mars", "--root", tmp_path / "nope", "--out", tmp_path / "ds"], root=tmp_path, names=(tmp_path / "nope",))


def test_convert_min_frames_must_be_positive(tmp_path, native):
    run(["convert", "--dataset", "prid", "--root", native, "--out", tmp_path / "ds", "--min-frames", "0"], root=tmp_path, code=2, names=("--min-frames",))


def test_convert_removes_what_a_killed_conversion_left(tmp_path, native):
    """A kill while the dataset is assembled leaves a hidden temporary folder; the next run removes it."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = __import__("socket").gethostname().split(".")[0]
    stale = [tmp_path / f".ds.tmp-{host}-{dead.pid}-0123abcd", tmp_path / ".ds.tmp-89abcdef"]  # the second as older versions named it
    for s in stale:
        (s / "images").mkdir(parents=True)
        (s / "images" / "crop.jpg").write_bytes(b"x" * 100)
    r = CliRunner().invoke(main, ["convert", "--dataset", "dukev", "--root", str(native), "--out", str(tmp_path / "ds")])
    assert r.exit_code == 0, r.output
    assert not any(s.exists() for s in stale)
    assert not list(tmp_path.glob(".ds.*"))


# ---------------------------------------------------------------------------------------------
# validate: frame paths stay inside the image root; names from files stay single components


@pytest.mark.parametrize("bad", ["../../etc/passwd", "/etc/passwd", "cam1/../../x.jpg"])
def test_validate_refuses_frame_paths_outside_the_root(tmp_path, dataset, bad):
    set_frame_path(dataset, 3, bad)
    run(["validate", dataset, "--check-files"], root=tmp_path, names=("frames.parquet", "'path'", "row 3", bad))


@pytest.mark.parametrize("name", ["../escape", "/tmp/escape", "a/b", ""])
def test_validate_refuses_a_dataset_name_that_is_a_path(tmp_path, dataset, name):
    edit_json(dataset / "dataset.json", name=name)
    run(["validate", dataset], root=tmp_path, names=("dataset.json", "name"))


def test_validate_names_invalid_json(tmp_path, dataset):
    (dataset / "dataset.json").write_text("{not json")
    run(["validate", dataset], root=tmp_path, names=("dataset.json", "not valid JSON"))


def test_validate_names_a_damaged_table(tmp_path, dataset):
    (dataset / "tracklets.parquet").write_bytes(b"PAR1 garbage")
    run(["validate", dataset], root=tmp_path, names=("tracklets.parquet", "Parquet"))


def test_validate_of_a_folder_that_is_no_dataset(tmp_path):
    (tmp_path / "empty").mkdir()
    run(["validate", tmp_path / "empty"], root=tmp_path, names=(tmp_path / "empty", "dataset.json"))


# ---------------------------------------------------------------------------------------------
# evaluate: features that are not what they should be


def _n(dataset: Path) -> int:
    return len(pd.read_parquet(dataset / "tracklets.parquet"))


def test_evaluate_empty_npy(tmp_path, dataset):
    (tmp_path / "f.npy").write_bytes(b"")
    run(["evaluate", "--dataset", dataset, "--features", tmp_path / "f.npy"], root=tmp_path, names=("f.npy", "empty"))


def test_evaluate_string_features(tmp_path, dataset):
    np.save(tmp_path / "f.npy", np.array([["a", "b"]] * _n(dataset)))
    run(["evaluate", "--dataset", dataset, "--features", tmp_path / "f.npy"], root=tmp_path, names=("f.npy", "dtype"))


def test_evaluate_one_dimensional_features(tmp_path, dataset):
    np.save(tmp_path / "f.npy", np.zeros(_n(dataset), np.float32))
    run(["evaluate", "--dataset", dataset, "--features", tmp_path / "f.npy"], root=tmp_path, names=("f.npy", "shape", "one row per tracklet"))


def test_evaluate_pickled_features_are_refused(tmp_path, dataset):
    np.save(tmp_path / "f.npy", np.array([{"a": 1}] * _n(dataset), dtype=object), allow_pickle=True)
    run(["evaluate", "--dataset", dataset, "--features", tmp_path / "f.npy"], root=tmp_path, names=("f.npy", "not a readable numpy file"))


def test_evaluate_npz_without_the_arrays(tmp_path, dataset):
    np.savez(tmp_path / "f.npz", x=np.zeros(3))
    run(["evaluate", "--dataset", dataset, "--features", tmp_path / "f.npz"], root=tmp_path, names=("f.npz", "tracklet_id"))


def test_evaluate_features_that_are_a_folder(tmp_path, dataset):
    (tmp_path / "f.npy").mkdir()
    run(["evaluate", "--dataset", dataset, "--features", tmp_path / "f.npy"], root=tmp_path, names=("f.npy", "folder"))


def test_evaluate_json_out_into_a_missing_folder_is_refused_before_scoring(tmp_path, dataset):
    np.save(tmp_path / "f.npy", np.random.default_rng(0).random((_n(dataset), 8), dtype=np.float32))
    run(["evaluate", "--dataset", dataset, "--features", tmp_path / "f.npy", "--json-out", tmp_path / "no" / "r.json"],
        root=tmp_path, names=("--json-out", tmp_path / "no"))


def test_evaluate_a_trial_that_does_not_exist(tmp_path, dataset):
    np.save(tmp_path / "f.npy", np.random.default_rng(0).random((_n(dataset), 8), dtype=np.float32))
    run(["evaluate", "--dataset", dataset, "--features", tmp_path / "f.npy", "--trial", "4"], root=tmp_path, names=("trial 4",))


# ---------------------------------------------------------------------------------------------
# bench: bad devices, configs and datasets are refused before any work, and nothing escapes --out


def bench(dataset: Path, out: Path, *extra) -> list:
    return ["bench", "--dataset", dataset, "--methods", "avgpool", "--out", out, "--quiet", *extra]


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_bench_cuda_on_a_machine_without_it(tmp_path, dataset):
    run(bench(dataset, tmp_path / "runs", "--device", "cuda"), root=tmp_path, names=("--device cuda", "no CUDA device"))


@pytest.mark.parametrize("device", ["nonsense", "cuda:99", "mps"])
def test_bench_unknown_device(tmp_path, dataset, device):
    run(bench(dataset, tmp_path / "runs", "--device", device), root=tmp_path, names=("--device",))


def test_bench_unknown_backbone(tmp_path, dataset):
    run(bench(dataset, tmp_path / "runs", "--backbone", "resnet5"), root=tmp_path, code=2, names=("--backbone", "resnet50"))


def test_bench_config_that_is_not_json(tmp_path, dataset):
    (tmp_path / "c.json").write_text('{"agg": {"epochs": 3,}}')
    run(bench(dataset, tmp_path / "runs", "--config", tmp_path / "c.json"), root=tmp_path, names=("c.json", "line 1", "not valid JSON"))


def test_bench_config_that_is_a_list(tmp_path, dataset):
    (tmp_path / "c.json").write_text("[1, 2]")
    run(bench(dataset, tmp_path / "runs", "--config", tmp_path / "c.json"), root=tmp_path, names=("c.json", "JSON object"))


def test_bench_config_misspelt_key_gets_a_suggestion(tmp_path, dataset):
    (tmp_path / "c.json").write_text('{"frame": {"epohcs": 3}}')
    run(bench(dataset, tmp_path / "runs", "--config", tmp_path / "c.json"), root=tmp_path, names=("c.json", "frame", "'epohcs'", "'epochs'"))


def test_bench_config_value_out_of_range(tmp_path, dataset):
    (tmp_path / "c.json").write_text('{"agg": {"batch_size": 1}}')
    run(bench(dataset, tmp_path / "runs", "--config", tmp_path / "c.json"), root=tmp_path, names=("c.json", "agg.batch_size", "at least 2"))


@pytest.mark.parametrize("name", ["../escape", "/tmp/lsvid-escape"])
def test_bench_refuses_a_dataset_name_that_would_write_outside_out(tmp_path, dataset, name):
    edit_json(dataset / "dataset.json", name=name)
    run(bench(dataset, tmp_path / "runs"), root=tmp_path, names=("dataset.json", "name"))
    assert not Path("/tmp/lsvid-escape").exists()


def test_bench_out_under_a_regular_file(tmp_path, dataset):
    (tmp_path / "f").write_text("x")
    run(bench(dataset, tmp_path / "f" / "runs"), root=tmp_path, names=("--out", "is a file"))


def test_bench_out_a_dangling_symlink(tmp_path, dataset):
    (tmp_path / "runs").symlink_to(tmp_path / "gone")
    run(bench(dataset, tmp_path / "runs"), root=tmp_path, names=("--out", "dangling"))


def test_bench_unknown_method(tmp_path, dataset):
    run(["bench", "--dataset", dataset, "--methods", "gltr,nope", "--out", tmp_path / "runs"], root=tmp_path, names=("nope", "gltr"))


def test_bench_unknown_method_option(tmp_path, dataset):
    run(bench(dataset, tmp_path / "runs", "--methods", "gltr", "--option", "gltr.bogus=1"), root=tmp_path, names=("bogus", "gltr"))


def test_bench_option_for_a_method_not_run(tmp_path, dataset):
    run(bench(dataset, tmp_path / "runs", "--option", "gltr.alpha=2"), root=tmp_path, names=("--option", "gltr"))


def test_bench_trial_that_does_not_exist(tmp_path, dataset):
    run(bench(dataset, tmp_path / "runs", "--trial", "3"), root=tmp_path, names=("--trial 3", "0..0"))


def test_bench_missing_plugin(tmp_path, dataset):
    run(bench(dataset, tmp_path / "runs", "--plugin", "no_such_plugin_module"), root=tmp_path, names=("--plugin", "no_such_plugin_module"))


def test_bench_jobs_must_be_positive(tmp_path, dataset):
    run(bench(dataset, tmp_path / "runs", "--jobs", "0"), root=tmp_path, code=2, names=("--jobs",))


def test_bench_weights_that_are_not_weights(tmp_path, dataset):
    (tmp_path / "w.pth").write_text("these are not weights")
    (tmp_path / "c.json").write_text(json.dumps({"frame": {"backbone": "resnet18", "epochs": 0, "height": 32, "width": 16, "workers": 0}}))
    run(bench(dataset, tmp_path / "runs", "--backbone-weights", tmp_path / "w.pth", "--config", tmp_path / "c.json"),
        root=tmp_path, names=("w.pth", "not a readable PyTorch weights file"), out=tmp_path / "runs", unchanged=False)


# ---------------------------------------------------------------------------------------------
# curate: footage, identity CSVs and configs are inputs; the config file is honoured


@pytest.fixture
def footage(tmp_path: Path) -> Path:
    from lsvid.synth import SynthConfig, generate_footage

    generate_footage(tmp_path / "footage", SynthConfig(cameras=2, identities=6, seconds=3, size=(160, 120), fps=10, seed=1), progress=False)
    return tmp_path / "footage"


def test_curate_onto_its_footage_is_refused(tmp_path, footage):
    run(["curate", footage, "--out", footage, "--overwrite", "--quiet"], root=tmp_path, names=(footage, "FOOTAGE"))


def test_curate_onto_a_folder_holding_the_footage_is_refused(tmp_path, footage):
    run(["curate", footage, "--out", tmp_path, "--overwrite", "--quiet"], root=tmp_path, names=("contains", "FOOTAGE"))


def test_curate_overwrite_of_a_dataset_holding_its_identity_csv_is_refused(tmp_path, footage, dataset):
    (dataset / "review").mkdir()
    (dataset / "review" / "identities.csv").write_text("tracklet,person_id\n")
    run(["curate", footage, "--out", dataset, "--overwrite", "--identities", dataset / "review" / "identities.csv", "--quiet"],
        root=tmp_path, names=("--identities", "contains"))


def test_curate_overwrite_of_someone_elses_folder_is_refused(tmp_path, footage):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "a.txt").write_text("x")
    run(["curate", footage, "--out", tmp_path / "mine", "--overwrite", "--quiet"], root=tmp_path, names=("mine", MARKER))


@pytest.mark.parametrize(("option", "value"), [("--workers", "0"), ("--workers", "-1"), ("--frame-step", "0"), ("--min-length", "0"), ("--seed", "-3")])
def test_curate_values_out_of_range(tmp_path, footage, option, value):
    run(["curate", footage, "--out", tmp_path / "ds", option, value], root=tmp_path, code=2, names=(option,))


def test_curate_unknown_tracker_option(tmp_path, footage):
    run(["curate", footage, "--out", tmp_path / "ds", "--tracker-option", "max_agee=3"], root=tmp_path, names=("--tracker-option", "max_agee", "max_age"))


def test_curate_unknown_detector_option(tmp_path, footage):
    run(["curate", footage, "--out", tmp_path / "ds", "--detector-option", "foo=1"], root=tmp_path, names=("foo", "synthetic", "conf"))


def test_curate_unknown_detector(tmp_path, footage):
    run(["curate", footage, "--out", tmp_path / "ds", "--detector", "yoloo"], root=tmp_path, names=("yoloo", "yolo"))


def test_curate_missing_identity_csv_is_refused_before_any_video(tmp_path, footage):
    run(["curate", footage, "--out", tmp_path / "ds", "--identities", tmp_path / "ids.csv"], root=tmp_path, names=("--identities", "ids.csv"))


def test_curate_config_with_an_unknown_key(tmp_path, footage):
    (tmp_path / "c.json").write_text('{"filters": {"min_lenght": 8}}')
    run(["curate", footage, "--out", tmp_path / "ds", "--config", tmp_path / "c.json"], root=tmp_path, names=("c.json", "min_lenght", "min_length"))


def test_curate_config_that_is_not_json(tmp_path, footage):
    (tmp_path / "c.json").write_text("frame_step: 2")
    run(["curate", footage, "--out", tmp_path / "ds", "--config", tmp_path / "c.json"], root=tmp_path, names=("c.json", "not valid JSON"))


def test_curate_config_with_a_wrong_type(tmp_path, footage):
    (tmp_path / "c.json").write_text('{"frame_step": "2"}')
    run(["curate", footage, "--out", tmp_path / "ds", "--config", tmp_path / "c.json"], root=tmp_path, names=("c.json", "frame_step", "int"))


def test_curate_work_folder_may_not_be_the_footage(tmp_path, footage):
    run(["curate", footage, "--out", tmp_path / "ds", "--work", footage], root=tmp_path, names=("--work", "FOOTAGE"))


def test_curate_manifest_camera_that_is_a_path(tmp_path, footage):
    video = next(footage.rglob("*.mp4"), None) or next(footage.rglob("*.avi"))
    (tmp_path / "m.csv").write_text(f"path,camera,slot\n{video},../up,s1\n")
    run(["curate", tmp_path / "m.csv", "--out", tmp_path / "ds", "--quiet"], root=tmp_path, names=("m.csv", "row 2", "'../up'"),
        out=tmp_path / "ds.work", unchanged=False)


def test_curate_out_a_dangling_symlink(tmp_path, footage):
    (tmp_path / "ds").symlink_to(tmp_path / "gone")
    run(["curate", footage, "--out", tmp_path / "ds"], root=tmp_path, names=("--out", "symbolic link"))


def curate_cfg(args: list[str]):
    """The CurateConfig `lsvid curate F --out D ARGS` would run with (parsed, not run)."""
    from lsvid.commands.curate import curate_cmd, curate_config

    ctx = curate_cmd.make_context("curate", ["F", "--out", "D", *args])
    return curate_config(ctx, ctx.params["config_file"], ctx.params)


def test_curate_options_override_the_config_file_only_where_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "F").mkdir()
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"frame_step": 3, "detector": "hog", "filters": {"min_length": 8}, "tracker": {"max_age": 7}}))
    c = curate_cfg(["--config", str(f)])
    assert (c.frame_step, c.detector, c.filters.min_length, c.tracker.max_age) == (3, "hog", 8, 7)
    assert c.filters.min_height == 40.0  # untouched by file and options: the default
    c = curate_cfg(["--config", str(f), "--frame-step", "1", "--min-length", "16", "--tracker-option", "min_hits=2"])
    assert (c.frame_step, c.detector, c.filters.min_length, c.tracker.max_age, c.tracker.min_hits) == (1, "hog", 16, 7, 2)
    assert c.filters.cut_ratio == 1.5 and curate_cfg(["--cut-ratio", "0"]).filters.cut_ratio == 0.0


def test_curate_config_with_a_negative_cut_share(tmp_path, footage):
    (tmp_path / "c.json").write_text('{"filters": {"cut_share": -0.1}}')
    run(["curate", footage, "--out", tmp_path / "ds", "--config", tmp_path / "c.json"], root=tmp_path, names=("c.json", "cut_share", "-0.1"))


@pytest.mark.parametrize("option", ["--embedder-option", "--detector-option", "--tracker-option"])
@pytest.mark.parametrize("value", ["checkpoint", "=x.onnx"])
def test_curate_key_value_option_without_a_key_or_value(tmp_path, footage, option, value):
    run(["curate", footage, "--out", tmp_path / "ds", option, value], root=tmp_path, names=(option, value, "KEY=VALUE"))


@pytest.mark.parametrize(("value", "names"), [("checkpoint=nope.onnx", ("checkpoint", "nope.onnx", "no such file")),
                                              ("checkpoint=3", ("checkpoint=3", "path")),
                                              ("chekpoint=osnet.onnx", ("chekpoint", "checkpoint"))])
def test_curate_bad_embedder_option_is_refused_before_any_video(tmp_path, footage, value, names):
    run(["curate", footage, "--out", tmp_path / "ds", "--embedder", "onnx", "--embedder-option", value], root=tmp_path, names=names)


def test_curate_embedder_checkpoint_of_the_wrong_kind(tmp_path, footage):
    (tmp_path / "m.onnx").write_bytes(b"not a model")
    run(["curate", footage, "--out", tmp_path / "ds", "--embedder", "openvino", "--embedder-option", f"checkpoint={tmp_path / 'm.onnx'}", "--quiet"],
        root=tmp_path, names=("m.onnx", ".xml", "--embedder onnx"), out=tmp_path / "ds.work", unchanged=False)


def test_curate_unknown_truth_ids(tmp_path, footage):
    run(["curate", footage, "--out", tmp_path / "ds", "--truth-ids", "both"], root=tmp_path, code=2, names=("--truth-ids", "both"))


def test_curate_embedder_options_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "F").mkdir()
    (tmp_path / "w.xml").write_text("<net/>")
    (tmp_path / "c.json").write_text(json.dumps({"embedder": "openvino", "embedder_options": {"device": "CPU", "batch_size": 8}}))
    c = curate_cfg(["--embedder", "onnx", "--embedder-option", "checkpoint=osnet.onnx", "--embedder-option", "size=[256, 128]"])
    assert (c.embedder, c.embedder_options) == ("onnx", {"checkpoint": "osnet.onnx", "size": [256, 128]})
    c = curate_cfg(["--config", "c.json", "--embedder-option", "preset=omz", "--embedder-option", "checkpoint=a.xml", "--embedder-checkpoint", "w.xml"])
    # the file's options stay unless given again; --embedder-checkpoint is checkpoint=, and wins
    assert (c.embedder, c.embedder_options) == ("openvino", {"device": "CPU", "batch_size": 8, "preset": "omz", "checkpoint": "w.xml"})


# ---------------------------------------------------------------------------------------------
# synth


def test_synth_overwrite_of_a_folder_that_is_not_footage_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "holiday.mp4").write_bytes(b"\x00" * 64)
    run(["synth", "--out", tmp_path / "out", "--overwrite", "--no-progress"], root=tmp_path, names=(tmp_path / "out", MARKER))


@pytest.mark.parametrize(("option", "value", "name"), [("--cameras", "0", "cameras"), ("--size", "63x48", "size"), ("--twins", "1.5", "twins"), ("--seconds", "0", "seconds")])
def test_synth_bad_values_name_the_setting(tmp_path, option, value, name):
    run(["synth", "--out", tmp_path / "out", option, value, "--no-progress"], root=tmp_path, names=(name,))


def test_synth_workers_must_be_positive(tmp_path):
    run(["synth", "--out", tmp_path / "out", "--workers", "0"], root=tmp_path, code=2, names=("--workers",))


def test_synth_preview_into_a_missing_folder_is_refused_before_rendering(tmp_path):
    run(["synth", "--out", tmp_path / "out", "--preview", tmp_path / "no" / "p.png", "--no-progress"], root=tmp_path, names=("--preview", "does not exist"))


def test_synth_overwrite_replaces_its_own_footage(tmp_path):
    args = ["synth", "--out", str(tmp_path / "f"), "--cameras", "1", "--identities", "2", "--seconds", "1", "--size", "64x48", "--no-progress"]
    assert CliRunner().invoke(main, args).exit_code == 0
    r = CliRunner().invoke(main, [*args, "--overwrite", "--seed", "1"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "f" / "footage.json").read_text())["seed"] == 1


# ---------------------------------------------------------------------------------------------
# review and stats never write through a symbolic link planted in a dataset


def test_review_refuses_a_review_folder_that_is_a_symlink(tmp_path, dataset):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "precious.txt").write_text("x")
    (dataset / "review").symlink_to(tmp_path / "elsewhere")
    run(["review", dataset], root=tmp_path, names=("review", "symbolic link"))


def test_review_replaces_its_own_folder_without_following_links_inside(tmp_path, dataset):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "precious.jpg").write_bytes(b"keep")
    assert CliRunner().invoke(main, ["review", str(dataset)]).exit_code == 0
    import shutil

    shutil.rmtree(dataset / "review" / "thumbs")
    (dataset / "review" / "thumbs").symlink_to(outside)
    before = snapshot(outside)
    r = CliRunner().invoke(main, ["review", str(dataset)])
    assert r.exit_code == 0, r.output
    assert snapshot(outside) == before
    assert not (dataset / "review" / "thumbs").is_symlink()


def test_review_into_the_dataset_itself_is_refused(tmp_path, dataset):
    run(["review", dataset, "--out", dataset], root=tmp_path, names=("is the input", "DATASET"))


def test_review_keeps_an_edited_identity_csv(tmp_path, dataset):
    assert CliRunner().invoke(main, ["review", str(dataset)]).exit_code == 0
    csv = dataset / "review" / "identities.csv"
    csv.write_text(csv.read_text().replace(",", ";", 1))  # a person's edit
    run(["review", dataset], root=tmp_path, names=("identities.csv", "edited"))


def test_stats_does_not_write_through_a_planted_symlink(tmp_path, dataset):
    target = tmp_path / "victim.png"
    target.write_bytes(b"precious")
    (dataset / "stats").mkdir()
    (dataset / "stats" / "sequence_length.png").symlink_to(target)
    (dataset / "stats" / MARKER).write_text("{}")  # looks like ours: its content is replaced, never written through
    r = CliRunner().invoke(main, ["stats", str(dataset)])
    assert r.exit_code == 0, r.output
    assert target.read_bytes() == b"precious"
    assert not (dataset / "stats" / "sequence_length.png").is_symlink()


def test_review_of_a_dataset_with_escaping_paths_is_refused(tmp_path, dataset):
    set_frame_path(dataset, 0, "../../../etc/passwd")
    run(["review", dataset], root=tmp_path, names=("frames.parquet", "leaves the image root"))


# ---------------------------------------------------------------------------------------------
# leaderboard, train-detector, demo


def test_leaderboard_without_runs(tmp_path):
    run(["leaderboard", "--runs", tmp_path / "runs"], root=tmp_path, names=("leaderboard.parquet", "lsvid bench"))


def test_train_detector_keeps_existing_weights(tmp_path, footage):
    (tmp_path / "yolo.pt").write_bytes(b"someone's weights")
    run(["train-detector", footage, "--out", tmp_path / "yolo.pt"], root=tmp_path, names=("yolo.pt", "--overwrite"))


def test_train_detector_does_not_replace_the_model_it_fine_tunes(tmp_path, footage):
    (tmp_path / "yolo.pt").write_bytes(b"someone's weights")
    run(["train-detector", footage, "--out", tmp_path / "yolo.pt", "--model", tmp_path / "yolo.pt", "--overwrite"], root=tmp_path, names=("--model",))


def test_train_detector_unknown_device(tmp_path, footage):
    run(["train-detector", footage, "--out", tmp_path / "y.pt", "--device", "gpu0"], root=tmp_path, names=("--device", "gpu0"))


def test_demo_out_under_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    run(["demo", "--out", tmp_path / "f" / "demo", "--quiet"], root=tmp_path, names=("--out", "is a file"))


def test_messages_reach_a_real_terminal_without_a_traceback(tmp_path):
    """The same as a user sees it: a real process, its stderr, its exit status."""
    (tmp_path / "f.npy").write_bytes(b"")
    p = subprocess.run([sys.executable, "-m", "lsvid.cli", "evaluate", "--dataset", str(tmp_path / "nope"), "--features", str(tmp_path / "f.npy")],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert str(tmp_path / "nope") in p.stderr and p.stderr.strip().count("\n") == 0


def test_curate_a_folder_named_like_a_video(tmp_path):
    (tmp_path / "f" / "cam1" / "slot1.mp4").mkdir(parents=True)
    run(["curate", tmp_path / "f", "--out", tmp_path / "ds", "--quiet"], root=tmp_path, names=("slot1.mp4", "is a folder"),
        out=tmp_path / "ds.work", unchanged=False)


def test_curate_an_empty_video_file(tmp_path):
    (tmp_path / "f" / "cam1").mkdir(parents=True)
    (tmp_path / "f" / "cam1" / "slot1.mp4").write_bytes(b"")
    run(["curate", tmp_path / "f", "--out", tmp_path / "ds", "--quiet"], root=tmp_path, names=("slot1.mp4", "empty file"),
        out=tmp_path / "ds.work", unchanged=False)


def test_an_unreadable_video_is_called_unreadable_not_corrupt(tmp_path, monkeypatch):
    import builtins

    from lsvid.footage import FootageError, probe

    video = tmp_path / "slot1.mp4"
    video.write_bytes(b"\x00" * 100)
    real_open = builtins.open

    def no_permission(file, *a, **k):  # what a file of another user gives (root reads everything, so this is simulated)
        if str(file) == str(video):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *a, **k)

    monkeypatch.setattr(builtins, "open", no_permission)
    with pytest.raises(FootageError, match=r"slot1\.mp4: cannot be read \(permission denied\)"):
        probe(video)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_video_on_disk(tmp_path):
    (tmp_path / "f" / "cam1").mkdir(parents=True)
    v = tmp_path / "f" / "cam1" / "slot1.mp4"
    v.write_bytes(b"\x00" * 100)
    v.chmod(0)
    run(["curate", tmp_path / "f", "--out", tmp_path / "ds", "--quiet"], root=tmp_path, names=("slot1.mp4", "permission denied"),
        out=tmp_path / "ds.work", unchanged=False)


def test_bench_option_of_a_wrong_value_fails_before_training(tmp_path, dataset):
    run(bench(dataset, tmp_path / "runs", "--methods", "gltr", "--option", 'gltr.alpha="x"'), root=tmp_path, names=("gltr", "alpha"))


@pytest.mark.parametrize(("text", "names"), [("tracklet,foo\n", ("person_id",)), ("tracklet,person_id\ncam1/s/0,1.5\n", ("row 2", "1.5"))])
def test_curate_identity_csv_is_checked_before_any_video(tmp_path, footage, text, names):
    (tmp_path / "ids.csv").write_text(text)
    run(["curate", footage, "--out", tmp_path / "ds", "--identities", tmp_path / "ids.csv", "--quiet"], root=tmp_path, names=("ids.csv", *names))


@pytest.mark.parametrize(("weights", "names"), [("dets.txt", ("dets.txt", "not a format ultralytics loads", ".pt")),
                                                (None, ("needs weights", "nothing is downloaded"))])
def test_curate_yolo_weights_are_refused_before_any_video(tmp_path, footage, weights, names):
    extra = []
    if weights:
        (tmp_path / weights).write_text("1,-1,10,10,20,40,0.9,-1,-1,-1\n")
        extra = ["--detector-weights", tmp_path / weights]
    run(["curate", footage, "--out", tmp_path / "ds", "--detector", "yolo", *extra], root=tmp_path, names=names)
    assert not (tmp_path / "ds.work").exists()  # refused up front: no video task ever started
