"""How many queries a split leaves answerable under the shared rule, in dataset.json, `lsvid stats` and `validate`."""
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from lsvid.cli import main
from lsvid.toy_native import write_native
from protocols import read_dataset, tables_from_sequences, write_dataset
from protocols.datasets import convert
from protocols.evaluation import answerable_queries, evaluate_dataset, query_check, query_checks
from protocols.metrics import evaluate


def random_split(rng, n=80, junk=(-1,)):
    pid = rng.integers(-1, 12, n)
    cam = rng.integers(1, 5, n)
    split = rng.choice(["train", "query", "gallery"], n, p=[0.2, 0.3, 0.5])
    return pd.DataFrame({"tracklet_id": np.arange(n), "person_id": pid, "camera_id": cam, "split": split, "num_frames": 1})


def brute_force(tr, junk):
    q, g = tr[tr.split == "query"], tr[tr.split == "gallery"]
    g = g[~g.person_id.isin(junk)]
    return np.array([((g.person_id == r.person_id) & (g.camera_id != r.camera_id)).any() for r in q.itertuples()], bool)


@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("junk", [(), (-1,), (-1, 0)])
def test_answerable_matches_brute_force_and_the_scorer(seed, junk):
    rng = np.random.default_rng(seed)
    tr = random_split(rng)
    q, g = tr[tr.split == "query"], tr[tr.split == "gallery"]
    ok = answerable_queries(q.person_id, q.camera_id, g.person_id, g.camera_id, junk)
    assert np.array_equal(ok, brute_force(tr, junk))
    c = query_check(tr, junk)
    assert (c["queries"], c["gallery"], c["answerable"]) == (len(q), len(g), int(ok.sum()))
    assert c["query_identities"] == q.person_id.nunique() and c["answerable_identities"] == q.person_id[ok].nunique()
    # exactly the queries the scorer counts
    if len(q) and len(g):
        d = rng.random((len(q), len(g)))
        r = evaluate(d, q.person_id.to_numpy(), g.person_id.to_numpy(), q.camera_id.to_numpy(), g.camera_id.to_numpy(), junk_pids=junk)
        assert r.num_valid_queries == c["answerable"]


def test_edge_cases():
    e = np.zeros(0, np.int64)
    assert answerable_queries(e, e, [1], [1]).shape == (0,)
    assert not answerable_queries([1], [1], e, e).any()
    assert not answerable_queries([1], [1], [-1, 1], [2, 1], junk_pids=(-1,)).any()  # junk and same camera only
    assert answerable_queries([1], [1], [1], [2]).all()
    tr = pd.DataFrame({"person_id": [1, 1], "camera_id": [1, 1], "split": ["train", "train"]})
    assert query_check(tr) == {"queries": 0, "gallery": 0, "answerable": 0, "answerable_share": 0.0,
                               "query_identities": 0, "answerable_identities": 0}


def test_dataset_json_records_the_check(tmp_path):
    seqs = [
        {"person_id": 1, "camera_id": 1, "split": "query", "paths": ["a/0.jpg"]},
        {"person_id": 1, "camera_id": 2, "split": "gallery", "paths": ["b/0.jpg"]},
        {"person_id": 2, "camera_id": 1, "split": "query", "paths": ["c/0.jpg"]},
        {"person_id": 2, "camera_id": 1, "split": "gallery", "paths": ["d/0.jpg"]},  # same camera: no answer
        {"person_id": -1, "camera_id": 2, "split": "gallery", "paths": ["e/0.jpg"]},
    ]
    tr, fr = tables_from_sequences(seqs)
    out = write_dataset(tmp_path / "ds", tr, fr, {"name": "tiny", "protocol": {"name": "tiny", "junk_pids": [-1]}})
    c = json.loads((out / "dataset.json").read_text())["counts"]["protocol_check"]
    assert c == {"queries": 2, "gallery": 3, "answerable": 1, "answerable_share": 0.5, "query_identities": 2, "answerable_identities": 1}
    r = CliRunner().invoke(main, ["stats", str(out)])
    assert r.exit_code == 0, r.output
    assert "queries: 2 (2 identities), gallery 3; answerable 1 of 2 (50.0%)" in r.output
    r = CliRunner().invoke(main, ["validate", str(out)])
    assert r.exit_code == 0 and "answerable 1 of 2 (50.0%)" in r.output
    # no query split, no check
    tr2 = tr.assign(split="train")
    out2 = write_dataset(tmp_path / "ds2", tr2, fr, {"name": "tiny"})
    assert "protocol_check" not in json.loads((out2 / "dataset.json").read_text())["counts"]
    assert "queries: none" in CliRunner().invoke(main, ["stats", str(out2)]).output


@pytest.mark.parametrize("name", ["lsvid", "mars", "dukev", "prid", "ilids"])
def test_public_datasets_every_trial(tmp_path, name):
    write_native(name, tmp_path / "native", seed=0)
    ds = read_dataset(convert(name, tmp_path / "native", tmp_path / "ds"))
    checks = query_checks(ds)
    assert [c["trial"] for c in checks] == list(range(ds.num_trials))
    feats = np.random.default_rng(0).normal(size=(len(ds.tracklets), 8)).astype(np.float32)
    counted = [r.result.num_valid_queries for r in evaluate_dataset(ds, feats)]
    assert counted == [c["answerable"] for c in checks]
    assert ds.meta["counts"]["protocol_check"] == {k: v for k, v in checks[0].items() if k != "trial"}
    out = CliRunner().invoke(main, ["validate", str(tmp_path / "ds"), "--no-frames"]).output
    if ds.num_trials > 1:
        assert f"queries (trial 0 of {ds.num_trials}):" in out and f"over all {ds.num_trials} trials" in out
    else:
        assert "queries: " in out and "answerable" in out


def test_trials_are_checked_one_by_one(tmp_path):
    seqs = [{"person_id": p, "camera_id": c, "split": "train", "paths": [f"{p}{c}/0.jpg"]} for p in (1, 2) for c in (1, 2)]
    tr, fr = tables_from_sequences(seqs)
    # trial 0: both persons' camera-1 sequences query; trial 1: person 2's camera-2 sequence is train, so its query has no answer
    t0 = ["query", "gallery", "query", "gallery"]
    t1 = ["query", "gallery", "query", "train"]
    trials = pd.DataFrame({"trial": np.repeat([0, 1], 4).astype(np.int32), "tracklet_id": np.tile(tr.tracklet_id, 2), "split": t0 + t1})
    out = write_dataset(tmp_path / "ds", tr.assign(split=t0), fr, {"name": "two", "protocol": {"name": "two", "num_trials": 2}}, trials)
    ds = read_dataset(out)
    assert [(c["trial"], c["answerable"], c["queries"]) for c in query_checks(ds)] == [(0, 2, 2), (1, 1, 2)]
    from lsvid.stats import queries_summary

    s = queries_summary(ds)
    assert s.splitlines()[0] == "queries (trial 0 of 2): 2 (2 identities), gallery 2; answerable 2 of 2 (100.0%)"
    assert s.splitlines()[1] == "  over all 2 trials: queries 2, gallery 1-2, answerable 1-2 (50.0%-100.0%)"
