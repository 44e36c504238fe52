"""Truth ids across videos: MOTChallenge numbers each sequence's people on its own (person 1 of one
gt.txt is not person 1 of another), lsvid synth numbers one person alike in every camera.  Identities
from truth, the dataset's truth_id columns and --evaluate's identity scores follow the numbering the
footage declares (footage.json, a manifest's truth_scope column) or --truth-ids says."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from curation_helpers import mot_sequence

from lsvid.cli import main
from lsvid.curate import BuildRecord, CurateRequest, curate
from lsvid.filters import FilterConfig
from lsvid.footage import find_videos
from lsvid.identities import TruthIds, resolve_truth_ids
from lsvid.shard import CurateConfig
from lsvid_core.errors import ConfigError, InputError

CFG = CurateConfig(detector="truth")


@pytest.fixture(scope="module")
def two_sequences(tmp_path_factory) -> Path:
    """Two MOTChallenge sequences (two cameras), each numbering its two walkers 1 and 2 (and a consider-0 person 3)."""
    root = tmp_path_factory.mktemp("mot2") / "scene"
    mot_sequence(root / "CAM-A")
    shutil.copytree(root / "CAM-A", root / "CAM-B")
    return root


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    from lsvid.synth import SynthConfig, generate_footage

    root = tmp_path_factory.mktemp("synth") / "footage"
    # seed 2 walks two of the six people past both cameras within 10 s
    generate_footage(root, SynthConfig(cameras=2, identities=6, seconds=10, size=(160, 120), fps=10, seed=2), progress=False)
    return root


def run(footage: Path, out: Path, **kw):
    logged: list[str] = []
    cfg = kw.pop("config", CFG)
    path, report = curate(CurateRequest(footage=footage, out=out, config=cfg, progress=False, **kw), log=logged.append)
    tr = pd.read_parquet(path / "tracklets.parquet")
    return tr, json.loads((path / "dataset.json").read_text()), report, logged


def test_per_sequence_truth_never_merges_people_of_two_videos(two_sequences, tmp_path):
    tr, meta, _, logged = run(two_sequences, tmp_path / "ds")
    # person 1 of CAM-A and person 1 of CAM-B are two people: the second sequence's ids move up by 10
    assert sorted(tr["person_id"]) == [1, 2, 11, 12]
    assert tr.groupby("person_id")["camera"].nunique().max() == 1
    assert (tr["truth_id"] == tr["person_id"]).all()  # the dataset's truth ids are numbered alike
    t = meta["build"]["truth_ids"]
    assert (t["mode"], t["resolved"], t["stride"]) == ("auto", "per-video", 10)
    assert t["offsets"] == {"CAM-A/img1": 0, "CAM-B/img1": 10}
    line = next(m for m in logged if m.startswith("truth ids:"))
    assert "per-video" in line and "--truth-ids global" in line and "offset by k * 10" in line
    fr = pd.read_parquet(tmp_path / "ds" / "frames.parquet")
    cam = fr["tracklet_id"].map(tr.set_index("tracklet_id")["camera"])
    assert set(fr.loc[cam == "CAM-B", "truth_id"]) <= {-1, 11, 12} and set(fr.loc[cam == "CAM-A", "truth_id"]) <= {-1, 1, 2}


def test_truth_ids_global_links_the_same_number_across_cameras(two_sequences, tmp_path):
    tr, meta, _, logged = run(two_sequences, tmp_path / "ds", truth_ids="global")
    assert sorted(tr["person_id"]) == [1, 1, 2, 2]
    assert (tr.groupby("person_id")["camera"].nunique() == 2).all()
    assert meta["build"]["truth_ids"]["resolved"] == "global" and meta["build"]["truth_ids"]["stride"] == 0
    assert any(m.startswith("truth ids: global") and "--truth-ids global" in m for m in logged), logged


def test_identity_scores_count_per_video_people_apart(two_sequences, tmp_path):
    """--identities cluster scored against the truth: four true people per video, two when declared global."""
    _, _, per_video, _ = run(two_sequences, tmp_path / "a", identities="cluster", evaluate=True)
    _, _, shared, _ = run(two_sequences, tmp_path / "b", identities="cluster", evaluate=True, truth_ids="global")
    assert per_video.quality.identity["identities_true"] == 4
    assert shared.quality.identity["identities_true"] == 2


def test_synthetic_footage_is_global_and_keeps_its_ids(synthetic, tmp_path):
    cfg = CurateConfig(detector="truth", filters=FilterConfig(min_length=4, min_height=10))
    tr, meta, _, logged = run(synthetic, tmp_path / "ds", config=cfg)
    t = meta["build"]["truth_ids"]
    assert t["resolved"] == "global" and "lsvid synth" in t["reason"] and t["offsets"] == {"cam01/slot01": 0, "cam02/slot01": 0}
    assert (tr["person_id"] == tr["truth_id"]).all() and tr.groupby("person_id")["camera"].nunique().max() == 2
    truth = pd.concat([pd.read_csv(p, header=None) for p in sorted(synthetic.rglob("*.gt.txt"))])
    assert set(tr["person_id"]) <= set(truth[1])  # the generator's own person ids
    assert any(m.startswith("truth ids: global") for m in logged)


def test_a_manifest_is_per_video_unless_its_truth_scope_column_says(synthetic, tmp_path):
    videos = sorted(p for p in synthetic.rglob("slot01.*") if not p.name.endswith(".txt"))
    rows = [f"{v},{v.parent.name},slot01" for v in videos]
    (tmp_path / "plain.csv").write_text("path,camera,slot\n" + "\n".join(rows) + "\n")
    (tmp_path / "scoped.csv").write_text("path,camera,slot,truth_scope\n" + "\n".join(f"{r},street" for r in rows) + "\n")
    plain = resolve_truth_ids("auto", tmp_path / "plain.csv", find_videos(tmp_path / "plain.csv"))
    assert plain.resolved == "per-video" and plain.offsets["cam02/slot01"] == plain.stride > 0
    scoped = resolve_truth_ids("auto", tmp_path / "scoped.csv", find_videos(tmp_path / "scoped.csv"))
    assert scoped.resolved == "manifest" and set(scoped.scopes.values()) == {"truth_scope=street"} and scoped.stride == 0
    # a blank cell is the video alone; two named scopes are kept apart
    (tmp_path / "mixed.csv").write_text("path,camera,slot,truth_scope\n" + f"{rows[0]},\n{rows[1]},street\n")
    mixed = resolve_truth_ids("auto", tmp_path / "mixed.csv", find_videos(tmp_path / "mixed.csv"))
    assert mixed.scopes == {"cam01/slot01": "cam01/slot01", "cam02/slot01": "truth_scope=street"} and mixed.offsets["cam02/slot01"] > 0
    # the option overrides what the footage declares
    assert resolve_truth_ids("per-video", synthetic, find_videos(synthetic)).stride > 0
    assert resolve_truth_ids("global", tmp_path / "plain.csv", find_videos(tmp_path / "plain.csv")).stride == 0


def test_footage_json_may_declare_the_numbering(two_sequences, tmp_path):
    root = tmp_path / "scene"
    shutil.copytree(two_sequences, root)
    (root / "footage.json").write_text(json.dumps({"truth_ids": "global"}))
    ids = resolve_truth_ids("auto", root, find_videos(root))
    assert ids.resolved == "global" and "footage.json says so" in ids.reason
    (root / "footage.json").write_text(json.dumps({"truth_ids": "shared"}))
    with pytest.raises(InputError, match=r"footage.json: truth_ids 'shared'; expected 'global' or 'per-video'"):
        resolve_truth_ids("auto", root, find_videos(root))
    (root / "footage.json").write_text("{not json")
    with pytest.raises(InputError, match=r"footage.json: not readable JSON.*--truth-ids"):
        resolve_truth_ids("auto", root, find_videos(root))
    assert resolve_truth_ids("per-video", root, find_videos(root)).resolved == "per-video"  # not read when told
    with pytest.raises(ConfigError, match="--truth-ids 'both'"):
        resolve_truth_ids("both", root, find_videos(root))
    with pytest.raises(ConfigError, match="truth_ids: expected one of auto, global, per-video"):
        CurateRequest(footage=root, out=tmp_path / "ds", truth_ids="both")


def test_the_stride_is_a_power_of_ten_above_every_id(tmp_path):
    for top, stride in ((9, 10), (10, 100), (999, 1000)):
        root = tmp_path / f"top{top}"
        for cam in ("a", "b"):
            (root / cam).mkdir(parents=True)
            (root / cam / "s.avi").write_bytes(b"")  # never opened: only the truth is read
            (root / cam / "s.gt.txt").write_text(f"1,{top},0,0,10,20,1,1,1\n")
        ids = resolve_truth_ids("auto", root, find_videos(root))
        assert ids.stride == stride and ids.offsets == {"a/s": 0, "b/s": stride}
        shifted = ids.shift(pd.DataFrame({"shard": ["a__s", "b__s", "b__s"], "truth_id": [top, top, -1]}), {"a__s": "a/s", "b__s": "b/s"})
        assert shifted["truth_id"].tolist() == [top, top + stride, -1]  # nobody (-1) stays nobody


def test_build_record_keeps_the_numbering_and_reads_older_datasets(two_sequences, tmp_path):
    _, meta, report, _ = run(two_sequences, tmp_path / "ds")
    again = BuildRecord.from_dict(meta["build"])
    assert again == report.build and isinstance(again.truth_ids, TruthIds) and again.to_dict() == meta["build"]
    older = {k: v for k, v in meta["build"].items() if k != "truth_ids"}
    assert BuildRecord.from_dict(older).truth_ids is None and "truth_ids" not in BuildRecord.from_dict(older).to_dict()


def test_the_command_line_option(two_sequences, tmp_path):
    r = CliRunner().invoke(main, ["curate", str(two_sequences), "--out", str(tmp_path / "ds"), "--detector", "truth",
                                  "--truth-ids", "global", "--quiet"])
    assert r.exit_code == 0, r.output
    assert "truth ids: global" in r.output
    tr = pd.read_parquet(tmp_path / "ds" / "tracklets.parquet")
    assert np.array_equal(np.sort(tr["person_id"].to_numpy()), [1, 1, 2, 2])
