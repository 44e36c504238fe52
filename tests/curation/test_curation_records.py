"""Typed records: a shard's summary (DONE.json) and the curate report, their dict forms,
reading DONE.json back (an older or damaged one is rebuilt, never a crash), and the report
matching what dataset.json records."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from lsvid.curate import CurateReport, CurateRequest, curate, format_report
from lsvid.footage import find_videos
from lsvid.quality import CurationQuality, format_quality
from lsvid.shard import (
    DONE,
    CurateConfig,
    ShardSummary,
    TruthMatch,
    process_video,
    shard_name,
)

# DONE.json as the version before the typed records wrote it; such shards must stay reusable
LEGACY_KEYS = {"video", "info", "frames_decoded", "detections", "tracks", "tracklets", "boxes", "drops", "seconds", "truth", "config"}
CFG = CurateConfig(detector="truth")


@pytest.fixture
def built(small_footage, tmp_path):
    """A shard of the first video: ``(video, work, summary)``."""
    video = find_videos(small_footage)[0]
    work = tmp_path / "work"
    return video, work, process_video(video, CFG, work)


def done_json(work: Path, video) -> Path:
    return work / "shards" / shard_name(video) / DONE


def test_summary_is_typed_and_done_json_keeps_its_layout(built):
    video, work, s = built
    assert isinstance(s, ShardSummary) and s.video == video and s.config == CFG
    assert isinstance(s.truth, TruthMatch) and s.truth.file == str(video.truth) and 0 < s.truth.boxes_matched <= s.truth.boxes == s.boxes
    assert s.tracklets > 0 and s.frames_decoded == s.info.frames and s.drops["tracklets_kept"] == s.tracklets
    raw = json.loads(done_json(work, video).read_text())
    assert set(raw) == LEGACY_KEYS | {"models"} and raw["models"] == {}  # the truth detector reads no model file
    legacy = {k: v for k, v in raw.items() if k in LEGACY_KEYS}
    assert ShardSummary.from_dict(legacy) == s  # a shard written before `models` existed reads back the same
    assert set(raw["info"]) == {"frames", "fps", "fps_source", "width", "height"} and set(raw["truth"]) == {"file", "boxes_matched", "boxes"}
    assert s.info.fps == 25 and s.info.fps_source == "container"  # lsvid synth's default rate, as the MP4 declares it
    assert raw == json.loads(json.dumps(s.to_dict()))
    assert ShardSummary.from_dict(raw).to_dict() == raw


def test_a_finished_shard_is_reused_as_written(built):
    video, work, _ = built
    done = done_json(work, video)
    stamp = done.stat().st_mtime_ns
    again = process_video(video, CFG, work)
    assert done.stat().st_mtime_ns == stamp  # found, not rebuilt
    assert again.to_dict() == json.loads(done.read_text())


@pytest.mark.parametrize("damage", ["not json", "a list", "missing field", "wrong type"])
def test_an_unreadable_done_json_is_rebuilt_cleanly(built, damage):
    video, work, s = built
    done = done_json(work, video)
    raw = json.loads(done.read_text())
    if damage == "missing field":
        del raw["info"]
    elif damage == "wrong type":
        raw["frames_decoded"] = "many"
    text = {"not json": "{\"video\": ", "a list": "[]"}.get(damage, json.dumps(raw))
    done.write_text(text)
    rebuilt = process_video(video, CFG, work)
    assert rebuilt.tracklets == s.tracklets and rebuilt.boxes == s.boxes
    assert ShardSummary.from_dict(json.loads(done.read_text())).to_dict() == rebuilt.to_dict()
    assert [p.name for p in done.parent.parent.iterdir()] == [done.parent.name]  # no temporary folder left


def test_a_shard_made_with_other_settings_or_another_video_record_is_rebuilt(built):
    video, work, _ = built
    other = replace(CFG, jpeg_quality=70)
    assert process_video(video, other, work).config == other
    assert json.loads(done_json(work, video).read_text())["config"]["jpeg_quality"] == 70
    # the same file, numbered otherwise (a camera added to the footage): its tables carry the number
    renumbered = replace(video, camera_id=7)
    assert process_video(renumbered, other, work).video == renumbered
    assert set(pd.read_parquet(done_json(work, video).parent / "tracklets.parquet")["camera_id"]) == {7}


def test_the_report_is_what_dataset_json_records(small_footage, tmp_path):
    req = CurateRequest(footage=small_footage, out=tmp_path / "ds", config=CFG, identities="cluster", evaluate=True, progress=False)
    path, report = curate(req, log=lambda _: None)
    assert isinstance(report, CurateReport) and isinstance(report.quality, CurationQuality)
    meta = json.loads((path / "dataset.json").read_text())
    for key, value in json.loads(json.dumps(report.dataset_meta())).items():
        assert meta[key] == value, key
    assert "per_video" not in meta["quality"] and set(report.quality.per_video) == {"cam01__slot01", "cam02__slot01"}
    assert meta["build"]["config"] == CFG.to_dict()
    videos = meta["source"]["videos"]
    assert [{k: v for k, v in d.items() if k != "info"} for d in videos] == [v.to_dict() for v in find_videos(small_footage)]
    assert [d["info"] for d in videos] == [{"frames": 150, "fps": 25.0, "fps_source": "container", "width": 640, "height": 360}] * 2
    d = report.to_dict()
    assert d["seconds"] == report.seconds > 0 and d["quality"]["per_video"] == report.quality.per_video
    assert CurateReport.from_dict(json.loads(json.dumps(d))).to_dict() == json.loads(json.dumps(d))
    assert CurateReport.from_dict(meta).dataset_meta() == json.loads(json.dumps(report.dataset_meta()))
    assert "videos: 2 processed, 0 skipped" in format_report(report)
    assert "curation quality over 2 video(s)" in format_quality(report.quality) and "pairwise F1" in format_quality(report.quality)


def test_quality_without_truth_keeps_only_the_count():
    q = CurationQuality(videos_with_truth=0)
    assert q.to_dict() == {"videos_with_truth": 0} and CurationQuality.from_dict(q.to_dict()) == q
    assert "nothing to score" in format_quality(q)
