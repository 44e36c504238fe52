"""Native readers on small trees in each dataset's exact layout, and on damaged copies."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from lsvid.toy_native import write_native
from protocols import read_dataset
from protocols.datasets import convert, list_datasets, read_native
from protocols.datasets._common import NativeFormatError


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp("native")
    return {n: (base / n, write_native(n, base / n, seed=3)) for n in ("mars", "dukev", "prid", "ilids", "lsvid")}


def fresh_copy(trees, name, tmp_path):
    src = trees[name][0]
    dst = tmp_path / name
    shutil.copytree(src, dst)
    return dst


def assert_refused(name, root, tmp_path, match, **opts):
    out = tmp_path / "out"
    with pytest.raises(NativeFormatError, match=match):
        convert(name, root, out, **opts)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_registry_lists_the_five():
    assert set(list_datasets()) >= {"lsvid", "mars", "dukev", "prid", "ilids"}


# ------------------------------------------------------------------------------------- MARS


def test_mars(trees, tmp_path):
    root, exp = trees["mars"]
    ds = read_dataset(convert("mars", root, tmp_path / "out"))
    tr = ds.tracklets
    c = ds.counts()
    assert c["train"]["tracklets"] == exp["train_tracklets"] and c["train"]["identities"] == exp["train_identities"]
    assert c["train"]["frames"] == exp["train_frames"]
    # official rule: the gallery is the whole test set, queries included
    assert c["gallery"]["tracklets"] == exp["test_tracklets"] and c["gallery"]["frames"] == exp["test_frames"]
    assert c["query"]["tracklets"] == len(exp["query_rows"])
    g = tr[tr.split == "gallery"].set_index("source_id")
    for _, q in tr[tr.split == "query"].iterrows():
        twin = g.loc[q.source_id]
        assert (twin.person_id, twin.camera_id, twin.num_frames) == (q.person_id, q.camera_id, q.num_frames)
    # the n-th query is the n-th listed row of the test table
    n_train = exp["train_tracklets"]
    assert (tr[tr.split == "query"]["source_id"] - n_train + 1).tolist() == exp["query_rows"]
    assert (g.person_id == -1).sum() == exp["junk_tracklets"] and (g.person_id == 0).sum() == exp["distractor_tracklets"]
    assert ds.protocol.junk_pids == (-1,) and ds.protocol.distractor_pids == (0,)
    assert all(p.exists() for p in ds.frame_paths())
    first = ds.frames.path.iloc[0]
    assert first.startswith("bbox_train/") and first.split("/")[1] == first.split("/")[2][:4]
    meta = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert meta["official_counts"]["query"]["tracklets"] == 1980
    assert Path(meta["image_root"]) == root.resolve()


def test_mars_missing_image(trees, tmp_path):
    root = fresh_copy(trees, "mars", tmp_path)
    victim = sorted((root / "bbox_test").rglob("*.jpg"))[3]
    victim.unlink()
    assert_refused("mars", root, tmp_path, rf"{victim.name}: missing; listed in test_name.txt")


def test_mars_truncated_mat(trees, tmp_path):
    root = fresh_copy(trees, "mars", tmp_path)
    p = root / "info" / "tracks_test_info.mat"
    p.write_bytes(p.read_bytes()[:150])
    assert_refused("mars", root, tmp_path, r"tracks_test_info.mat: not a readable MATLAB")


def test_mars_stray_name_and_wrong_variable(trees, tmp_path):
    root = fresh_copy(trees, "mars", tmp_path)
    names = (root / "info" / "train_name.txt").read_text().splitlines()
    names[4] = "IMG_0004.jpg"
    (root / "info" / "train_name.txt").write_text("\n".join(names))
    assert_refused("mars", root, tmp_path, r"train_name.txt: line 5: image name 'IMG_0004.jpg' does not parse")
    root2 = fresh_copy(trees, "mars", tmp_path / "b")
    scipy.io.savemat(root2 / "info" / "query_IDX.mat", {"query_idx": np.array([[1.0]])})
    assert_refused("mars", root2, tmp_path / "b", r"query_IDX.mat: has no variable 'query_IDX' \(variables: query_idx\)")


def test_mars_table_inconsistent_with_names(trees, tmp_path):
    root = fresh_copy(trees, "mars", tmp_path)
    info = scipy.io.loadmat(root / "info" / "tracks_train_info.mat")["track_train_info"]
    info[2, 3] = 6 if info[2, 3] != 6 else 5  # wrong camera
    scipy.io.savemat(root / "info" / "tracks_train_info.mat", {"track_train_info": info})
    assert_refused("mars", root, tmp_path, r"tracks_train_info.mat: row 3: table says person")


def test_missing_root_and_info(tmp_path):
    with pytest.raises(NativeFormatError, match="dataset root does not exist"):
        convert("mars", tmp_path / "nowhere", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NativeFormatError, match="tracks_train_info.mat: missing"):
        convert("mars", tmp_path / "empty", tmp_path / "out")


# ------------------------------------------------------------------------------------- Duke


@pytest.mark.parametrize("old_names", [False, True])
def test_dukev(tmp_path, old_names):
    exp = write_native("dukev", tmp_path / "native", seed=1, old_names=old_names)
    ds = read_dataset(convert("dukev", tmp_path / "native", tmp_path / "out"))
    c = ds.counts()
    for split in ("train", "query", "gallery"):
        assert c[split]["tracklets"] == exp[f"{split}_tracklets"]
    assert c["gallery"]["identities"] == exp["gallery_identities"]
    meta = json.loads((tmp_path / "out" / "dataset.json").read_text())
    assert meta["reader"]["info"]["distractor_identities"] == exp["distractor_identities"]
    # tracklets starting at F0002 are ordered by frame number
    for tid, g in ds.frames.groupby("tracklet_id"):
        nums = [int(p.split("F")[-1][:4]) for p in g.path]
        assert nums == sorted(nums)
        cams = {p.rsplit("/", 1)[1].replace("_", "")[5] for p in g.path}
        assert cams == {str(ds.tracklets.camera_id[tid])}


def test_dukev_stray_file_and_empty_tracklet(tmp_path):
    write_native("dukev", tmp_path / "n", seed=1)
    tdir = next((tmp_path / "n" / "gallery").iterdir())
    tdir = next(tdir.iterdir())
    (tdir / "Thumbs.db").write_bytes(b"x")
    assert_refused("dukev", tmp_path / "n", tmp_path, r"Thumbs.db: file name does not parse")
    (tdir / "Thumbs.db").unlink()
    for f in tdir.iterdir():
        f.unlink()
    assert_refused("dukev", tmp_path / "n", tmp_path, r"empty tracklet folder")


# ------------------------------------------------------------------------------------- PRID


def test_prid_length_rule_and_trials(trees, tmp_path):
    root, exp = trees["prid"]
    nd = read_native("prid", root)
    pids = sorted({s["person_id"] for s in nd.sequences})
    assert len(pids) == exp["identities_used"]
    assert set(pids).isdisjoint(exp["short_ids"]) and max(pids) <= 200  # persons > 200 are other people
    for s in nd.sequences:
        assert len(s["paths"]) == exp["lengths"][(s["person_id"], s["camera_id"])] >= 21
    ds = read_dataset(convert("prid", root, tmp_path / "out"))
    assert ds.num_trials == 10
    tests = []
    for t in range(10):
        tr = ds.for_trial(t).tracklets
        q, g, trn = (tr[tr.split == s] for s in ("query", "gallery", "train"))
        assert set(q.person_id) == set(g.person_id) and set(q.person_id).isdisjoint(trn.person_id)
        assert len(set(q.person_id)) == len(pids) // 2
        assert set(q.camera_id) == {1} and set(g.camera_id) == {2} and set(trn.camera_id) == {1, 2}
        tests.append(frozenset(q.person_id))
    assert len(set(tests)) == 10  # ten different random splits
    # seeded: the same seed gives the same trials, another seed others
    again = read_native("prid", root)
    assert again.trials.equals(nd.trials)
    other = read_native("prid", root, seed=1)
    assert not other.trials.equals(nd.trials)


def test_prid_missing_shared_person(trees, tmp_path):
    root = tmp_path / "p"
    shutil.copytree(trees["prid"][0], root)
    shutil.rmtree(root / "prid_2011" / "multi_shot" / "cam_b" / "person_0042")
    assert_refused("prid", root, tmp_path, r"cam_b/person_0042: missing; persons 1-200 appear in both cameras")


# ------------------------------------------------------------------------------------- iLIDS


def test_ilids_official_splits(trees, tmp_path):
    root, exp = trees["ilids"]
    ds = read_dataset(convert("ilids", root, tmp_path / "out"))
    persons, ls = exp["persons"], exp["ls_set"]
    half = len(persons) // 2
    for t in range(10):
        tr = ds.for_trial(t).tracklets
        want_test = {persons[i - 1] for i in ls[t, :half]}
        assert set(tr[tr.split == "query"].person_id) == want_test
        assert set(tr[tr.split == "gallery"].person_id) == want_test
        assert set(tr[tr.split == "query"].camera_id) == {1}
        assert set(tr[tr.split == "train"].person_id) == set(persons) - want_test
    for _, g in ds.frames.groupby("tracklet_id"):
        nums = [int(p[-9:-4]) for p in g.path]
        assert nums == sorted(nums)


def test_ilids_bad_split_file(trees, tmp_path):
    root = fresh_copy(trees, "ilids", tmp_path)
    mat = root / "iLIDS-VID" / "train-test people splits" / "train_test_splits_ilidsvid.mat"
    ls = scipy.io.loadmat(mat)["ls_set"]
    ls[2, 0] = ls[2, 1]
    scipy.io.savemat(mat, {"ls_set": ls})
    assert_refused("ilids", root, tmp_path, r"row 3 of 'ls_set' is not a permutation")
    mat.write_bytes(b"MATLAB 5.0 MAT-file garbage" + b"\0" * 40)
    assert_refused("ilids", root, tmp_path, r"train_test_splits_ilidsvid.mat: not a readable MATLAB")


def test_ilids_stray_frame_name(trees, tmp_path):
    root = fresh_copy(trees, "ilids", tmp_path)
    d = next((root / "iLIDS-VID" / "i-LIDS-VID" / "sequences" / "cam2").iterdir())
    (d / "frame.png").write_bytes(b"x")
    assert_refused("ilids", root, tmp_path, r"frame.png: file name does not parse")


# ------------------------------------------------------------------------------------- LS-VID


def test_lsvid(trees, tmp_path):
    root, exp = trees["lsvid"]
    # the query file is a genuine v7.3 file: scipy refuses it, the HDF5 path reads it
    with pytest.raises(NotImplementedError):
        scipy.io.loadmat(root / "LS-VID" / "test" / "data" / "info_test.mat")
    ds = read_dataset(convert("lsvid", root, tmp_path / "out"))
    tr = ds.tracklets
    c = ds.counts()
    assert c["train"]["tracklets"] == exp["train_tracklets"] and c["val"]["tracklets"] == exp["val_tracklets"]
    assert c["query"]["tracklets"] == len(exp["query_rows"])
    assert c["query"]["tracklets"] + c["gallery"]["tracklets"] == exp["test_tracklets"]
    lines = exp["lists"]["test"]
    q = tr[tr.split == "query"]
    for (_, row), qi in zip(q.iterrows(), exp["query_rows"]):
        prefix, pid, cam, n = lines[qi - 1]
        assert (row.person_id, row.camera_id, row.num_frames) == (pid, cam, n)
        paths = ds.frames[ds.frames.tracklet_id == row.tracklet_id].path.tolist()
        assert all(p.startswith(prefix) for p in paths) and paths == sorted(paths)
    assert set(tr[tr.split == "train"].person_id).isdisjoint(tr[tr.split == "gallery"].person_id)


def test_lsvid_damaged(trees, tmp_path):
    root = fresh_copy(trees, "lsvid", tmp_path)
    lst = root / "LS-VID" / "list_sequence" / "list_seq_test.txt"
    lines = lst.read_text().splitlines()
    lst.write_text("\n".join(lines[:2] + [lines[2].split()[0]] + lines[3:]) + "\n")
    assert_refused("lsvid", root, tmp_path, r"list_seq_test.txt: line 3: .* is not '<tracklet path prefix> <person id>'")
    lst.write_text("\n".join(lines[:2] + ["tracklet_test/9999/9999_0001_01_ 9999"] + lines[3:]) + "\n")
    assert_refused("lsvid", root, tmp_path, r"tracklet_test/9999: missing folder; line 3 of list_seq_test.txt")
    lst.write_text("\n".join(lines) + "\n")
    (root / "LS-VID" / "test" / "data" / "info_test.mat").unlink()
    assert_refused("lsvid", root, tmp_path, r"info_test.mat: missing")
