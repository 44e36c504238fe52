"""``synthetic``, the bundled detector, and ``lsvid train-detector --recipe synthetic``, which rebuilds it."""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict

import numpy as np
from click.testing import CliRunner
from detect_helpers import assert_well_formed

from lsvid.boxes import iou_matrix
from lsvid.cli import main
from lsvid.detect import create_detector
from lsvid.detect.synthetic import CARD, RECIPE, WEIGHTS, Recipe, train_recipe
from lsvid.footage import find_videos, read_frames
from lsvid.mot import read_truth


def _jsonable(x):
    return json.loads(json.dumps(x))


def test_the_bundled_weights_were_made_by_the_recipe_in_the_code():
    card = json.loads(CARD.read_text())
    assert card["recipe"] == _jsonable(asdict(RECIPE))
    assert len(card["runs"]) == len(RECIPE.epochs)
    assert [r["epochs"] for r in card["runs"]] == list(RECIPE.epochs)
    assert all(r["videos"] == len(RECIPE.seeds) * RECIPE.cameras for r in card["runs"])
    assert WEIGHTS.stat().st_size < 2_000_000  # package data: small enough to ship in the wheel


def test_the_bundled_detector_finds_people_in_a_scene_it_never_saw(tiny_footage):
    # tiny_footage is seed 3 at 320x180: neither a training seed nor the training frame size
    det = create_detector("synthetic", device="cpu", conf=0.4)
    assert det.imgsz == RECIPE.imgsz and det.person_class == 0
    video = find_videos(tiny_footage)[0]
    gt = read_truth(video.truth)
    picks = [10, 40, 70, 99]
    frames = [f for _, f in read_frames(video, indices=picks)]
    boxes = det.detect(frames, picks)
    assert_well_formed(boxes, 4, 320, 180)
    found = seen = 0
    for i, b in zip(picks, boxes):
        g = gt[(gt["frame"] == i + 1) & (gt["visibility"] >= 0.8)]
        truth = g[["bb_left", "bb_top", "bb_width", "bb_height"]].to_numpy(np.float64)
        if len(truth):
            seen += len(truth)
            found += int((iou_matrix(truth, b[:, :4].astype(np.float64)).max(axis=1) >= 0.5).sum()) if len(b) else 0
    assert seen >= 4 and found / seen >= 0.75


def test_the_recipe_renders_its_footage_and_trains_run_after_run(tmp_path, monkeypatch):
    # A miniature of the recipe (one small scene, two one-epoch runs): the plumbing, not the quality.
    small = Recipe(seeds=(3,), cameras=1, identities=4, seconds=2.0, size=(320, 180), frames_per_video=8, epochs=(1, 1),
                   imgsz=96, batch=8)
    out = tmp_path / "w" / "synthetic.pt"
    out.parent.mkdir()
    logged: list[str] = []
    summary = train_recipe(out, small, device="cpu", log=logged.append)
    assert out.is_file() and out.with_suffix(".json").is_file()
    card = json.loads(out.with_suffix(".json").read_text())
    assert card == _jsonable(summary)
    assert card["recipe"]["seeds"] == [3] and [r["epochs"] for r in card["runs"]] == [1, 1]
    assert card["runs"][1]["model"].endswith("stage1.pt")  # the second run fine-tunes the first
    assert any("training run 2 of 2" in line for line in logged)
    det = create_detector("yolo", weights=str(out), device="cpu", conf=0.001)
    assert det.imgsz == 96 and det.model.names == {0: "person"}
    assert not list(out.parent.glob(".*tmp*"))


def test_the_recipe_brings_its_own_footage_and_settings(tiny_footage, tmp_path):
    out = str(tmp_path / "w.pt")
    r = CliRunner().invoke(main, ["train-detector", str(tiny_footage), "--recipe", "synthetic", "--out", out])
    assert r.exit_code == 2 and "renders its own footage; drop FOOTAGE" in r.output
    r = CliRunner().invoke(main, ["train-detector", "--recipe", "synthetic", "--epochs", "3", "--imgsz", "320", "--out", out])
    assert r.exit_code == 2 and "fixes --epochs, --imgsz; drop them" in r.output
    r = CliRunner().invoke(main, ["train-detector", "--out", out])
    assert r.exit_code == 2 and "give FOOTAGE" in r.output
    r = CliRunner().invoke(main, ["train-detector", "--recipe", "synthetic", "--out", str(tmp_path / "w.onnx")])
    assert r.exit_code != 0 and "name the file *.pt" in r.output and "Traceback" not in r.output
    assert not list(tmp_path.iterdir())


def test_curate_says_so_when_the_default_detector_meets_footage_it_was_not_made_for(tiny_footage, tmp_path):
    from lsvid.identities import rendered_by_synth

    assert rendered_by_synth(tiny_footage)
    real = tmp_path / "cctv"
    shutil.copytree(tiny_footage, real, ignore=shutil.ignore_patterns("footage.json"))
    assert not rendered_by_synth(real)
    r = CliRunner().invoke(main, ["curate", str(real), "--out", str(tmp_path / "ds"), "--quiet", "--min-length", "4"])
    assert "--detector synthetic: the bundled detector learned from rendered people only" in r.output
    assert "--detector yolo --detector-weights FILE" in r.output


def test_a_shard_made_with_other_weights_under_the_same_name_is_rebuilt(tiny_footage, tmp_path, monkeypatch):
    import os

    import lsvid.detect.synthetic as bundled
    from lsvid.shard import DONE, CurateConfig, process_video, shard_name

    weights = tmp_path / "synthetic_person.pt"
    shutil.copyfile(WEIGHTS, weights)
    monkeypatch.setattr(bundled, "WEIGHTS", weights)  # an upgrade replaces the file under the same name
    video = find_videos(tiny_footage)[0]
    cfg = CurateConfig(detector_options={"device": "cpu"})
    work = tmp_path / "work"
    first = process_video(video, cfg, work)
    assert first.models == {str(weights): f"{weights.stat().st_size}:{weights.stat().st_mtime_ns}"}
    done = work / "shards" / shard_name(video) / DONE
    stamp = done.stat().st_mtime_ns
    assert process_video(video, cfg, work) == first and done.stat().st_mtime_ns == stamp  # reused
    os.utime(weights, ns=(stamp + 10**9, stamp + 10**9))
    again = process_video(video, cfg, work)
    assert again.models != first.models and done.stat().st_mtime_ns != stamp  # rebuilt


def test_bad_options_are_refused_before_any_video_is_read(tiny_footage, tmp_path):
    out = tmp_path / "ds"
    r = CliRunner().invoke(main, ["curate", str(tiny_footage), "--out", str(out), "--detector-option", "conf=2"])
    assert r.exit_code != 0 and "synthetic: conf=2, iou=0.5; expected conf in [0, 1]" in r.output
    assert "videos:" not in r.output and not list(tmp_path.iterdir())  # no dataset, no work folder
