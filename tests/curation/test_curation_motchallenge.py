"""MOTChallenge sequence folders as footage: discovery (one sequence, a folder of them, a benchmark
folder), frames read from the image folder as strictly as from a video, the frame rate from
seqinfo.ini or a manifest, detections and truth kept apart, and curation end to end."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from curation_helpers import SEQ_PEOPLE, mot_sequence

from lsvid import shard
from lsvid.cli import main
from lsvid.curate import CurateRequest, curate
from lsvid.footage import FootageError, find_videos, frame_files, probe, read_frames
from lsvid.mot import read_detections
from lsvid.shard import CurateConfig, process_video
from lsvid.track import Tracker


@pytest.fixture(scope="module")
def seq(tmp_path_factory) -> Path:
    return mot_sequence(tmp_path_factory.mktemp("mot") / "TINY-01")


def test_a_sequence_folder_is_one_camera_with_its_truth_detections_and_frame_rate(seq):
    (v,) = find_videos(seq)
    assert (v.camera, v.slot, v.video_id, v.path) == ("TINY-01", "img1", "TINY-01/img1", seq / "img1")
    assert v.truth == seq / "gt" / "gt.txt" and v.detections == seq / "det" / "det.txt" and v.fps is None
    info = probe(v)
    assert (info.frames, info.width, info.height, info.fps, info.fps_source) == (30, 320, 240, 7.0, "seqinfo.ini")
    frames = list(read_frames(v, step=7))
    assert [i for i, _ in frames] == [0, 7, 14, 21, 28] and frames[0][1].shape == (240, 320, 3)
    assert [i for i, _ in read_frames(v, indices=[29, 3, 40])] == [3, 29]  # past the end: not there


def test_folders_of_sequences_and_benchmark_folders(seq, tmp_path):
    bench = tmp_path / "MOT17"
    shutil.copytree(seq, bench / "train" / "MOT17-02-FRCNN")
    mot_sequence(bench / "test" / "MOT17-01-FRCNN", frames=5, det=True, gt=False)
    videos = find_videos(bench)  # MOT17/{train,test}/<sequence>: the sequences are the cameras
    assert [(v.camera, v.camera_id, v.slot) for v in videos] == [("MOT17-01-FRCNN", 1, "img1"), ("MOT17-02-FRCNN", 2, "img1")]
    assert videos[0].truth is None and videos[0].detections is not None and videos[1].truth is not None
    assert [v.video_id for v in find_videos(bench / "train")] == ["MOT17-02-FRCNN/img1"]  # a folder of sequences


def test_an_image_folder_slot_without_seqinfo(seq, tmp_path):
    """ROOT/<camera>/<slot>/000001.jpg ...: a slot of frames; truth and detections beside it, 25 fps assumed."""
    cam = tmp_path / "f" / "cam1"
    shutil.copytree(seq / "img1", cam / "slot1")
    shutil.copy(seq / "gt" / "gt.txt", cam / "slot1.gt.txt")
    shutil.copy(seq / "det" / "det.txt", cam / "slot1.det.txt")
    (cam / "notes").mkdir()  # a folder without numbered images is no slot
    (v,) = find_videos(tmp_path / "f")
    assert (v.video_id, v.truth, v.detections) == ("cam1/slot1", cam / "slot1.gt.txt", cam / "slot1.det.txt")
    info = probe(v)
    assert (info.frames, info.fps, info.fps_source) == (30, 25.0, "default")
    logged = []
    _, report = curate(CurateRequest(footage=tmp_path / "f", out=tmp_path / "ds", config=CurateConfig(detector="file"), progress=False),
                       log=logged.append)
    assert any("cam1/slot1: no frame rate declared" in m and "assumed 25 fps" in m for m in logged), logged
    assert report.video_info[0].fps_source == "default"


def test_a_missing_or_unreadable_frame_image_is_named(seq, tmp_path):
    broken = tmp_path / "BROKEN"
    shutil.copytree(seq, broken)
    (broken / "img1" / "000004.jpg").unlink()
    (broken / "img1" / "000009.jpg").write_bytes(b"not a jpeg")
    (v,) = find_videos(broken)
    with pytest.raises(FootageError, match=r"000004\.jpg: frame image is missing \(frame 4 of the 30"):
        probe(v)
    with pytest.raises(FootageError, match=r"000004\.jpg: frame image is missing"):
        list(read_frames(v))
    with pytest.raises(FootageError, match=r"000009\.jpg: frame image cannot be read or decoded"):
        list(read_frames(v, indices=[8]))
    lenient = [i for i, _ in read_frames(v, strict=False)]
    assert lenient == [i for i in range(30) if i not in (3, 8)]
    with pytest.raises(FootageError, match=r"000004\.jpg"):
        process_video(v, CurateConfig(detector="truth"), tmp_path / "work")
    # without seqinfo.ini the frames present say where the sequence starts and ends; a gap is a missing frame
    (broken / "seqinfo.ini").unlink()
    assert frame_files(broken / "img1")[3].name == "000004.jpg" and len(frame_files(broken / "img1")) == 30
    empty = tmp_path / "cam" / "slot"
    empty.mkdir(parents=True)
    with pytest.raises(FootageError, match=r"slot: is a folder without numbered frame images"):
        probe(empty)


def test_bad_seqinfo_is_named(seq, tmp_path):
    bad = tmp_path / "BAD"
    shutil.copytree(seq, bad)
    (bad / "seqinfo.ini").write_text("[Sequence]\nframeRate=fast\nseqLength=30\n")
    with pytest.raises(FootageError, match=r"seqinfo.ini: frameRate='fast' is not a number"):
        probe(find_videos(bad)[0])
    (bad / "seqinfo.ini").write_text("no section here\n")
    with pytest.raises(FootageError, match=r"seqinfo.ini: not a readable seqinfo.ini"):
        find_videos(bad)


def test_the_frame_rate_reaches_the_tracker_and_the_shard_summary(seq, tmp_path, monkeypatch):
    made = []

    class Spy(Tracker):
        def __init__(self, config=None, frame_size=None, fps=25.0):
            made.append((frame_size, fps))
            super().__init__(config, frame_size, fps=fps)

    monkeypatch.setattr(shard, "Tracker", Spy)
    (v,) = find_videos(seq)
    s = process_video(v, CurateConfig(detector="truth"), tmp_path / "work")
    assert made == [((320, 240), 7.0)]
    assert (s.info.fps, s.info.fps_source) == (7.0, "seqinfo.ini")
    done = json.loads((tmp_path / "work" / "shards" / "TINY-01__img1" / "DONE.json").read_text())
    assert done["info"]["fps"] == 7.0 and done["info"]["fps_source"] == "seqinfo.ini"
    # a manifest's fps overrides seqinfo.ini (and a container's rate), and makes another shard
    (tmp_path / "m.csv").write_text(f"path,camera,slot,fps\n{seq},tiny,s1,12.5\n")
    (m,) = find_videos(tmp_path / "m.csv")
    assert m.path == seq / "img1" and m.truth == seq / "gt" / "gt.txt" and m.detections == seq / "det" / "det.txt" and m.fps == 12.5
    assert process_video(m, CurateConfig(detector="truth"), tmp_path / "work").info.fps_source == "manifest"
    assert made[-1] == ((320, 240), 12.5)


def test_manifest_columns_for_detections_truth_and_fps(seq, tmp_path):
    shutil.copy(seq / "det" / "det.txt", tmp_path / "public.txt")
    (tmp_path / "m.csv").write_text("path,camera,slot,detections,truth,fps,start_time\n"
                                    f"{seq / 'img1'},c1,s1,public.txt,{seq / 'gt' / 'gt.txt'},7,\n")
    (v,) = find_videos(tmp_path / "m.csv")
    assert (v.detections, v.truth, v.fps, v.start_time) == (tmp_path / "public.txt", seq / "gt" / "gt.txt", 7.0, None)
    for row, message in ((f"{seq},c1,s1,,,fast,", r"row 2: fps 'fast' is not a number"),
                         (f"{seq},c1,s1,,,0,", r"row 2: fps '0' must be positive"),
                         (f"{seq},c1,s1,nope.txt,,,", r"row 2: detections file .*nope.txt does not exist"),
                         (",c1,s1,,,,", r"row 2: path is empty")):
        (tmp_path / "bad.csv").write_text(f"path,camera,slot,detections,truth,fps,start_time\n{row}\n")
        with pytest.raises(FootageError, match=message):
            find_videos(tmp_path / "bad.csv")


def test_curating_a_sequence_from_its_detections_scored_against_its_truth(seq, tmp_path):
    """--detector truth reads det/det.txt (float scores reach the crops' table); --evaluate scores
    against gt/gt.txt, whose consider-0 person is neither curated nor scored."""
    r = CliRunner().invoke(main, ["curate", str(seq), "--out", str(tmp_path / "ds"), "--detector", "truth", "--evaluate", "--quiet"])
    assert r.exit_code == 0, r.output
    meta = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    q = meta["quality"]
    assert q["videos_with_truth"] == 1 and q["frames_scored"] == 30
    assert q["detection_recall"] == 1.0 and q["detection_precision"] == pytest.approx(60 / 63)  # 3 faint false boxes
    t = q["tracking"]
    assert t["benchmark"] == "MOT17" and t["gt_boxes"] == 60 and t["gt_ids"] == 2  # person 3 (consider 0) is not scored
    assert q["mota"] == 1.0 and q["idf1"] == 1.0 and q["hota"] > 0.95 and q["id_switches"] == 0
    assert "HOTA" in r.output and "TrackEval, MOT17 rules" in r.output
    (v,) = meta["source"]["videos"]
    assert v["info"]["fps"] == 7.0 and v["info"]["fps_source"] == "seqinfo.ini" and v["detections"].endswith("det/det.txt")
    tr = pd.read_parquet(tmp_path / "ds" / "tracklets.parquet")
    assert sorted(tr["person_id"]) == [1, 2] and len(tr) == 2  # person 3 stood in every frame: no tracklet
    fr = pd.read_parquet(tmp_path / "ds" / "frames.parquet")
    det = read_detections(seq / "det" / "det.txt")
    assert np.allclose(np.sort(fr["score"].to_numpy()), np.sort(det["conf"][det["conf"] > 0.1].to_numpy()), atol=1e-6)
    assert fr["score"].between(0.5, 0.9).all() and (fr["score"] != np.round(fr["score"])).all()


def test_the_truth_fallback_is_logged_and_honours_the_consider_flag(seq, tmp_path):
    no_det = tmp_path / "NODET-01"
    shutil.copytree(seq, no_det, ignore=shutil.ignore_patterns("det"))
    logged = []
    req = CurateRequest(footage=no_det, out=tmp_path / "ds", config=CurateConfig(detector="truth"), evaluate=True, progress=False)
    _, report = curate(req, log=logged.append)
    assert any("no detection file" in m and "NODET-01/img1" in m and "truth files" in m for m in logged), logged
    q = report.quality
    assert q.detection_precision == 1.0 and q.detection_recall == 1.0 and q.tracking["gt_boxes"] == 60
    sh = tmp_path / "ds.work" / "shards" / "NODET-01__img1"
    assert len(pd.read_parquet(sh / "detections.parquet")) == 60  # 30 frames x the two considered walkers
    tr = pd.read_parquet(tmp_path / "ds" / "tracklets.parquet")
    assert sorted(tr["person_id"]) == [1, 2]
    assert set(SEQ_PEOPLE) - set(tr["person_id"]) == {3}
