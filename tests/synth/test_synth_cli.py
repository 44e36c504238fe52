"""``lsvid synth``: footage, truth and a contact sheet from the command line."""
from __future__ import annotations

import json

import cv2
from click.testing import CliRunner

from lsvid.cli import main

ARGS = ["--cameras", "2", "--identities", "5", "--seconds", "3", "--fps", "10", "--size", "160x96", "--no-progress"]


def test_synth_writes_footage_truth_and_preview(tmp_path):
    out = tmp_path / "foot"
    res = CliRunner().invoke(main, ["synth", "--out", str(out), *ARGS, "--preview"])
    assert res.exit_code == 0, res.output
    meta = json.loads((out / "footage.json").read_text())
    assert meta["seed"] == 0 and meta["fps"] == 10 and meta["size"] == [160, 96] and meta["generator"]["version"]
    assert meta["mot"]["columns"][:2] == ["frame", "id"]
    for v in meta["videos"]:
        assert (out / v["video"]).exists() and (out / v["truth"]).exists()
    sheet = cv2.imread(str(out / "preview.png"))
    assert sheet is not None and sheet.shape[:2] == (2 * (240 + 4), 4 * (400 + 4))  # a row per video, 4 frames
    assert "preview:" in res.output and "distractors" in res.output


def test_synth_refuses_to_overwrite_unless_asked(tmp_path):
    out = tmp_path / "foot"
    runner = CliRunner()
    assert runner.invoke(main, ["synth", "--out", str(out), *ARGS]).exit_code == 0
    res = runner.invoke(main, ["synth", "--out", str(out), *ARGS, "--seed", "1"])
    assert res.exit_code != 0 and "--overwrite" in res.output
    assert json.loads((out / "footage.json").read_text())["seed"] == 0
    assert runner.invoke(main, ["synth", "--out", str(out), *ARGS, "--seed", "1", "--overwrite"]).exit_code == 0
    assert json.loads((out / "footage.json").read_text())["seed"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["foot"]  # no temporary folders left behind


def test_synth_is_listed_and_rejects_a_bad_size():
    runner = CliRunner()
    assert "synth" in runner.invoke(main, ["--help"]).output
    res = runner.invoke(main, ["synth", "--out", "x", "--size", "640"])
    assert res.exit_code != 0 and "WIDTHxHEIGHT" in res.output
