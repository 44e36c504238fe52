"""The two AP definitions: hand-worked cases, the MATLAB loop transcribed, numpy/torch identity,
and how a protocol, evaluate_dataset and the CLI choose one."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lsvid_core.errors import ConfigError, InputError, LsvidError
from protocols.dataset import Dataset
from protocols.evaluation import evaluate_dataset
from protocols.metrics import AP_VARIANTS, evaluate, evaluate_features
from protocols.protocol import Protocol
from protocols.reference import (
    compute_ap_market1501,
    evaluate_loop,
    evaluate_loop_market1501,
)


def one_query():
    """The gallery of test_metrics' worked case: (pid, cam, dist) for query pid 1, cam 1."""
    g = [(1, 1, 0.1), (2, 2, 0.2), (1, 2, 0.3), (3, 1, 0.4), (1, 3, 0.5), (-1, 2, 0.05)]
    return np.array([[x[2] for x in g]]), np.array([x[0] for x in g]), np.array([x[1] for x in g])


def test_both_variants_worked_by_hand():
    d, gp, gc = one_query()
    # dropped: item 0 (same id and camera), item 5 (junk); junk-free ranking:
    # rank 1 item 1 (other id), rank 2 item 2 (match), rank 3 item 3, rank 4 item 4 (match); n_good = 2
    tr = evaluate(d, [1], gp, [1], gc, max_rank=5, junk_pids=(-1,), ap="torchreid")
    assert tr.mAP == pytest.approx((1 / 2 + 2 / 4) / 2)  # = 0.5
    mk = evaluate(d, [1], gp, [1], gc, max_rank=5, junk_pids=(-1,), ap="market1501")
    # trapezoid: match 1 at rank 2: precision before it 0/1, at it 1/2 -> (1/2) * (0 + 1/2) / 2 = 1/8
    #            match 2 at rank 4: precision before it 1/3, at it 2/4 -> (1/2) * (1/3 + 1/2) / 2 = 5/24
    assert mk.mAP == pytest.approx(1 / 8 + 5 / 24)  # = 1/3
    assert mk.ap_variant == "market1501" and tr.ap_variant == "torchreid"
    # the CMC does not depend on the AP definition
    assert mk.cmc.tolist() == tr.cmc.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0]


def test_first_rank_match_and_junk_taking_no_position():
    # query pid 5, cam 1; gallery in distance order: junk (-1), match, other, match
    gp = np.array([-1, 5, 7, 5])
    gc = np.array([2, 2, 2, 3])
    d = np.array([[0.1, 0.2, 0.3, 0.4]])
    mk = evaluate(d, [5], gp, [1], gc, junk_pids=(-1,), ap="market1501")
    # junk-free ranks of the matches: 1 and 3.
    # match 1 at rank 1: precision before the first item is 1.0 -> (1/2) * (1 + 1) / 2 = 1/2
    # match 2 at rank 3: precision before 1/2, at it 2/3 -> (1/2) * (1/2 + 2/3) / 2 = 7/24
    assert mk.mAP == pytest.approx(1 / 2 + 7 / 24)  # = 19/24
    tr = evaluate(d, [5], gp, [1], gc, junk_pids=(-1,))
    assert tr.mAP == pytest.approx((1 / 1 + 2 / 3) / 2)  # = 5/6
    # without the junk rule the junk item takes rank 1: matches at 2 and 4
    assert evaluate(d, [5], gp, [1], gc, ap="market1501").mAP == pytest.approx(1 / 8 + 5 / 24)


def test_perfect_ranking_scores_one_in_both():
    gp, gc = np.array([3, 3, 4]), np.array([2, 3, 2])
    d = np.array([[0.1, 0.2, 0.3]])
    for ap in AP_VARIANTS:
        assert evaluate(d, [3], gp, [1], gc, ap=ap).mAP == 1.0


def test_matlab_transcription_on_its_own():
    # index = ranked gallery ids; good {2, 4}, junk {0, 5}: the loop of compute_AP.m by hand
    ap, cmc = compute_ap_market1501(np.array([2, 4]), np.array([0, 5]), np.array([5, 1, 0, 2, 3, 4]))
    # non-junk positions: 1 (item 1), 2 (item 2, good), 3 (item 3), 4 (item 4, good)
    assert ap == pytest.approx(0.5 * (0 + 1 / 2) / 2 + 0.5 * (1 / 3 + 2 / 4) / 2)
    assert cmc.tolist()[:3] == [0, 1, 1]


@pytest.mark.parametrize("ties", [False, True])
def test_market1501_matches_the_matlab_loop_on_random_cases(ties):
    rng = np.random.default_rng(11 + ties)
    checked = 0
    for _ in range(80):
        q, g = int(rng.integers(1, 30)), int(rng.integers(1, 70))
        n_ids = int(rng.integers(1, 8))
        qp, gp = rng.integers(0, n_ids, q), rng.integers(-1, n_ids, g)
        qc, gc = rng.integers(0, 3, q), rng.integers(0, 3, g)
        d = rng.integers(0, 4, (q, g)).astype(np.float32) if ties else rng.random((q, g))
        mr = int(rng.integers(1, 12))
        try:
            want = evaluate_loop_market1501(d, qp, gp, qc, gc, mr, (-1,))
        except ValueError:
            with pytest.raises(InputError):
                evaluate(d, qp, gp, qc, gc, max_rank=mr, junk_pids=(-1,), ap="market1501")
            continue
        got = evaluate(d, qp, gp, qc, gc, max_rank=mr, junk_pids=(-1,), ap="market1501", chunk_size=int(rng.integers(1, 9)))
        assert got.mAP == pytest.approx(want[1], abs=1e-12)
        np.testing.assert_allclose(got.cmc, want[0], rtol=0, atol=1e-12)
        assert got.num_valid_queries == want[2]
        tgot = evaluate(torch.from_numpy(np.ascontiguousarray(d)), qp, gp, qc, gc, max_rank=mr, junk_pids=(-1,), ap="market1501", chunk_size=3)
        assert np.array_equal(tgot.cmc, got.cmc) and tgot.mAP == got.mAP
        assert np.array_equal(tgot.ap, got.ap, equal_nan=True)
        # the trapezoid never exceeds the mean of precisions (precision just before a match <= at it)
        tr = evaluate(d, qp, gp, qc, gc, max_rank=mr, junk_pids=(-1,))
        assert np.all(got.ap[got.first_match_rank > 0] <= tr.ap[tr.first_match_rank > 0] + 1e-15)
        checked += 1
    assert checked > 40


def test_torchreid_is_the_default_and_follows_its_loop():
    rng = np.random.default_rng(4)
    qp, gp = rng.integers(0, 20, 60), rng.integers(-1, 20, 300)
    qc, gc = rng.integers(0, 3, 60), rng.integers(0, 3, 300)
    d = rng.integers(0, 5, (60, 300)).astype(np.float32)
    a = evaluate(d, qp, gp, qc, gc, junk_pids=(-1,))
    b = evaluate(d, qp, gp, qc, gc, junk_pids=(-1,), ap="torchreid")
    assert a.mAP == b.mAP and np.array_equal(a.ap, b.ap, equal_nan=True) and a.ap_variant == "torchreid"
    assert a.mAP == pytest.approx(evaluate_loop(d, qp, gp, qc, gc, 20, (-1,))[1], abs=1e-12)


def test_features_path_and_devices_agree_for_market1501():
    rng = np.random.default_rng(3)
    qf, gf = rng.normal(size=(40, 8)).astype(np.float32), rng.normal(size=(120, 8)).astype(np.float32)
    qp, gp = rng.integers(0, 12, 40), rng.integers(0, 12, 120)
    qc, gc = rng.integers(0, 3, 40), rng.integers(0, 3, 120)
    from protocols.metrics import pairwise_distance

    a = evaluate_features(qf, gf, qp, gp, qc, gc, chunk_size=9, ap="market1501")
    b = evaluate(pairwise_distance(qf, gf), qp, gp, qc, gc, ap="market1501")
    assert a.mAP == b.mAP and np.array_equal(a.ap, b.ap, equal_nan=True)
    assert a.mAP == pytest.approx(evaluate_loop_market1501(pairwise_distance(qf, gf), qp, gp, qc, gc)[1], abs=1e-12)
    if torch.cuda.is_available():
        c = evaluate(torch.from_numpy(pairwise_distance(qf, gf)).cuda(), qp, gp, qc, gc, ap="market1501")
        assert c.mAP == b.mAP


def test_an_unknown_variant_is_refused():
    d, gp, gc = one_query()
    with pytest.raises(InputError, match="ap must be one of torchreid, market1501, got 'voc'"):
        evaluate(d, [1], gp, [1], gc, ap="voc")
    with pytest.raises(InputError, match="ap must be one of"):
        evaluate_features(np.ones((1, 2)), np.ones((3, 2)), [1], [1, 2, 1], [0], [1, 1, 1], ap="Market1501")


# ------------------------------------------------------------------------------------- protocol


def test_protocol_field_defaults_reads_old_files_and_is_validated():
    assert Protocol(name="x").average_precision == "torchreid"
    old = {"name": "mars", "junk_pids": [-1], "distractor_pids": [0], "max_rank": 20, "num_trials": 1}
    assert Protocol.from_dict(old).average_precision == "torchreid"  # a dataset.json from before the field
    p = Protocol(name="mars", average_precision="market1501")
    assert p.to_dict()["average_precision"] == "market1501"
    assert Protocol.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    with pytest.raises(ConfigError, match="average_precision: 'trapezoid' is not one of torchreid, market1501"):
        Protocol.from_dict({"name": "x", "average_precision": "trapezoid"})


def toy_dataset(average_precision=None):
    """Two queries, five gallery items, a junk id: every number below is worked by hand."""
    tr = pd.DataFrame(
        {
            "tracklet_id": np.arange(7),
            "person_id": [1, 2, 1, 3, 1, -1, 2],
            "camera_id": [1, 1, 2, 2, 3, 2, 2],
            "split": ["query", "query", "gallery", "gallery", "gallery", "gallery", "gallery"],
        }
    )
    proto = Protocol(name="toy", junk_pids=(-1,), **({"average_precision": average_precision} if average_precision else {}))
    meta = {"name": "toy", "protocol": proto.to_dict()}
    if average_precision is None:
        del meta["protocol"]["average_precision"]  # as an older dataset.json
    return Dataset(root=Path("toy"), tracklets=tr, frames=None, meta=meta)


# 1-D features: distances are differences of positions
TOY_FEATURES = np.array([[0.0], [10.0], [2.0], [1.0], [3.0], [0.5], [10.5]], np.float32)


def test_evaluate_dataset_uses_the_protocols_variant_unless_told():
    # query 0 (pid 1, cam 1), junk item 5 dropped: ranking 3 (d 1), 2 (d 2, match), 4 (d 3, match), 6
    # query 1 (pid 2, cam 1): ranking 6 (d 0.5, match) first: AP 1 in both definitions
    tr_ap0 = (1 / 2 + 2 / 3) / 2
    mk_ap0 = 0.5 * (0 + 1 / 2) / 2 + 0.5 * (1 / 2 + 2 / 3) / 2
    old = evaluate_dataset(toy_dataset(), TOY_FEATURES)[0].result
    assert old.ap_variant == "torchreid" and old.mAP == pytest.approx((tr_ap0 + 1) / 2)
    mk = evaluate_dataset(toy_dataset("market1501"), TOY_FEATURES)[0].result
    assert mk.ap_variant == "market1501" and mk.mAP == pytest.approx((mk_ap0 + 1) / 2)
    over = evaluate_dataset(toy_dataset("market1501"), TOY_FEATURES, ap="torchreid")[0].result
    assert over.ap_variant == "torchreid" and over.mAP == old.mAP
    assert over.to_dict()["ap_variant"] == "torchreid"
    with pytest.raises(LsvidError, match="ap must be one of"):
        evaluate_dataset(toy_dataset(), TOY_FEATURES, ap="voc")


def test_cli_evaluate_prints_and_records_the_variant(tmp_path):
    from click.testing import CliRunner

    from lsvid.cli import main
    from lsvid.toy_native import write_native

    write_native("dukev", tmp_path / "native", seed=0)
    run = CliRunner().invoke
    r = run(main, ["convert", "--dataset", "dukev", "--root", str(tmp_path / "native"), "--out", str(tmp_path / "ds")])
    assert r.exit_code == 0, r.output
    tr = pd.read_parquet(tmp_path / "ds" / "tracklets.parquet")
    feats = np.random.default_rng(0).normal(size=(len(tr), 6)).astype(np.float32)
    np.save(tmp_path / "f.npy", feats)
    base = ["evaluate", "--dataset", str(tmp_path / "ds"), "--features", str(tmp_path / "f.npy")]
    r = run(main, base + ["--json-out", str(tmp_path / "a.json")])
    assert r.exit_code == 0, r.output
    assert "AP: torchreid (the dataset protocol's definition)" in r.output
    a = json.loads((tmp_path / "a.json").read_text())
    r = run(main, base + ["--ap", "market1501", "--json-out", str(tmp_path / "b.json")])
    assert r.exit_code == 0, r.output
    assert "AP: market1501 (--ap's definition)" in r.output
    b = json.loads((tmp_path / "b.json").read_text())
    assert (a["ap"], b["ap"]) == ("torchreid", "market1501")
    assert b["trials"][0]["ap_variant"] == "market1501"
    assert b["summary"]["mAP"] <= a["summary"]["mAP"] and b["summary"]["rank1"] == a["summary"]["rank1"]
    r = run(main, base + ["--ap", "voc"])
    assert r.exit_code != 0 and "voc" in r.output
