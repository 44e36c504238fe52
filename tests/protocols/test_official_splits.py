"""PRID-2011 and iLIDS-VID read with Wang et al.'s real split files (10 x 178 and 10 x 300).

The files live outside the project (``../shared/data``, see its README) and
are never copied into it; the toy native trees around them are written here.
"""
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from click.testing import CliRunner

from lsvid.cli import main
from lsvid.toy_native import write_native
from lsvid_core.errors import ConfigError
from protocols import read_dataset
from protocols.datasets import convert, read_native
from protocols.datasets._common import NativeFormatError

SPLITS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "native" / "ilidsvid_prid_splits" / "train-test people splits"
PRID_MAT = SPLITS / "train_test_splits_prid.mat"
ILIDS_MAT = SPLITS / "train_test_splits_ilidsvid.mat"

needs_files = pytest.mark.skipif(
    not (PRID_MAT.is_file() and ILIDS_MAT.is_file()),
    reason=f"the official split files are not at {SPLITS} (real data in ../shared/data, not shipped with the project)",
)


def ls_set(path):
    return np.asarray(scipy.io.loadmat(path)["ls_set"], dtype=np.int64)


@pytest.fixture(scope="module")
def prid178(tmp_path_factory):
    """A PRID tree where exactly 178 of persons 1-200 have >= 21 frames in both cameras, as in the release."""
    root = tmp_path_factory.mktemp("prid178") / "native"
    exp = write_native("prid", root, seed=5, short=22)
    assert exp["identities_used"] == 178
    return root, exp


@pytest.fixture(scope="module")
def prid194(tmp_path_factory):
    root = tmp_path_factory.mktemp("prid194") / "native"
    return root, write_native("prid", root, seed=6)  # 6 short: 194 persons kept


def check_official_trials(tracklets_of_trial, persons, ls, half):
    """Every trial: test persons = those at the row's first ``half`` indices; cam 1 queries, cam 2 gallery."""
    for t in range(len(ls)):
        tr = tracklets_of_trial(t)
        want = {persons[i - 1] for i in ls[t, :half]}
        q, g, trn = (tr[tr.split == s] for s in ("query", "gallery", "train"))
        assert set(q.person_id) == want and set(g.person_id) == want
        assert len(q) == len(g) == half and len(set(trn.person_id)) == len(persons) - half
        assert set(trn.person_id) == set(persons) - want
        assert set(q.camera_id) == {1} and set(g.camera_id) == {2}


@needs_files
def test_prid_trials_are_the_official_files(prid178, tmp_path):
    root, exp = prid178
    ls = ls_set(PRID_MAT)
    assert ls.shape == (10, 178)
    out = convert("prid", root, tmp_path / "out", split_file=str(PRID_MAT))
    ds = read_dataset(out)
    persons = sorted(set(range(1, 201)) - set(exp["short_ids"]))
    assert sorted(set(ds.tracklets.person_id)) == persons
    check_official_trials(lambda t: ds.for_trial(t).tracklets, persons, ls, 89)
    info = ds.meta["reader"]["info"]
    assert info["split_source"] == "file" and info["split_file"] == str(PRID_MAT) and "seed" not in info
    assert "official 10 splits" in ds.meta["protocol"]["notes"]


@needs_files
def test_prid_finds_the_file_in_its_root_or_the_parent(prid178, tmp_path):
    src, exp = prid178
    base = src / "prid_2011"
    persons = sorted(set(range(1, 201)) - set(exp["short_ids"]))
    ls = ls_set(PRID_MAT)
    for where in (base, base.parent):
        folder = where / "train-test people splits"
        folder.mkdir()
        os.symlink(PRID_MAT, folder / "train_test_splits_prid.mat")  # a link: the real file is never copied
        try:
            nd = read_native("prid", src)
            assert nd.info["split_source"] == "file" and nd.info["split_file"] == str(folder / "train_test_splits_prid.mat")
            first = nd.trials[nd.trials.trial == 3]
            pid = dict(zip(range(len(nd.sequences)), [s["person_id"] for s in nd.sequences]))
            q = {pid[i] for i in first[first.split == "query"].tracklet_id}
            assert q == {persons[i - 1] for i in ls[3, :89]}
            # a seed beside a split file is refused
            with pytest.raises(ConfigError, match="--seed 4: the trials come from the official split file"):
                read_native("prid", src, seed=4)
        finally:
            shutil.rmtree(folder)
    # without the file: today's seeded trials, recorded as such
    nd = read_native("prid", src)
    assert nd.info["split_source"] == "seed" and nd.info["seed"] == 0
    assert nd.trials.equals(read_native("prid", src, seed=0).trials)


@needs_files
def test_prid_refuses_a_file_of_another_width(prid178, prid194, tmp_path):
    root, _ = prid194
    with pytest.raises(NativeFormatError, match=r"train_test_splits_prid.mat: 'ls_set' indexes 178 persons .* but 194 of persons 1-200"):
        read_native("prid", root, split_file=PRID_MAT)
    # another --min-frames keeps fewer persons: the message says to use the file's rule
    with pytest.raises(NativeFormatError, match=r"indexes 178 persons .* but \d+ .*>= 22 frames.*convert with --min-frames 21"):
        read_native("prid", prid178[0], split_file=PRID_MAT, min_frames=22)
    with pytest.raises(NativeFormatError, match="missing"):
        read_native("prid", prid178[0], split_file=tmp_path / "nope.mat")


@needs_files
def test_convert_cli_takes_a_split_file(prid178, tmp_path):
    root, _ = prid178
    run = CliRunner().invoke
    args = ["convert", "--dataset", "prid", "--root", str(root), "--out", str(tmp_path / "ds"), "--split-file", str(PRID_MAT)]
    r = run(main, args)
    assert r.exit_code == 0, r.output
    assert f"trials: split file {PRID_MAT}" in r.output
    meta = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert meta["reader"]["options"]["split_file"] == str(PRID_MAT)
    r = run(main, args[:-2] + ["--out", str(tmp_path / "ds2"), "--split-file", str(PRID_MAT), "--seed", "1"])
    assert r.exit_code != 0 and "--split-file" in r.output and not (tmp_path / "ds2").exists()
    r = run(main, ["convert", "--dataset", "ilids", "--root", str(root), "--out", str(tmp_path / "ds3"), "--split-file", str(PRID_MAT)])
    assert r.exit_code != 0 and "--dataset prid only" in r.output


@needs_files
def test_ilids_reads_the_official_file(tmp_path):
    ls = ls_set(ILIDS_MAT)
    assert ls.shape == (10, 300)
    exp = write_native("ilids", tmp_path / "native", seed=1, persons=300)
    mat = tmp_path / "native" / "iLIDS-VID" / "train-test people splits" / "train_test_splits_ilidsvid.mat"
    mat.unlink()
    os.symlink(ILIDS_MAT, mat)  # the release's file in place of the toy one
    ds = read_dataset(convert("ilids", tmp_path / "native", tmp_path / "out"))
    persons = sorted(exp["persons"])
    check_official_trials(lambda t: ds.for_trial(t).tracklets, persons, ls, 150)
