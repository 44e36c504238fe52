"""The "official" evaluation setting: the MATLAB scripts of GLTR (Duke_test/test_duke.m, compute_AP.m,
make_video_fea.m, Mars_test/test_mars.m) and the MARS kit (evaluation_mars.m), worked by hand.

Features in the hand-worked cases are 2-D vectors given by an angle (and a length): after L2
normalisation the Euclidean distance between unit vectors is 2 sin(dAngle / 2), so the official
ranking is the order of angle differences, whatever the lengths.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lsvid_core.errors import InputError, LsvidError
from protocols.dataset import Dataset
from protocols.evaluation import EVAL_SETTINGS, evaluate_dataset, ranked_gallery, resolve_setting
from protocols.metrics import evaluate, evaluate_features, l2_normalize
from protocols.protocol import Protocol
from protocols.reference import compute_ap_market1501
from protocols.rerank import re_ranking


def polar(deg: float, length: float = 1.0) -> list[float]:
    return [length * math.cos(math.radians(deg)), length * math.sin(math.radians(deg))]


def make_dataset(rows: list[tuple[int, int, str]], junk=(), distractors=(), ap: str = "torchreid") -> Dataset:
    """rows: (person id, camera, split) per tracklet, in tracklets.parquet order."""
    tr = pd.DataFrame(
        {
            "tracklet_id": np.arange(len(rows)),
            "person_id": [r[0] for r in rows],
            "camera_id": [r[1] for r in rows],
            "split": [r[2] for r in rows],
        }
    )
    proto = Protocol(name="t", junk_pids=tuple(junk), distractor_pids=tuple(distractors), average_precision=ap)
    return Dataset(root=Path("t"), tracklets=tr, frames=None, meta={"name": "t", "protocol": proto.to_dict()})


# ---------------------------------------------------------------------------------------------
# the trapezoid AP of compute_AP.m under the official setting


def test_trapezoid_ap_by_hand():
    # query pid 5 cam 1 at 0 degrees; gallery by angle: match (10), other id (20), match (30), other id (40)
    ds = make_dataset([(5, 1, "query"), (5, 2, "gallery"), (7, 2, "gallery"), (5, 3, "gallery"), (8, 2, "gallery")])
    feats = np.array([polar(0), polar(10, 4.0), polar(20, 0.5), polar(30, 2.0), polar(40, 9.0)])
    res = evaluate_dataset(ds, feats, setting="official")[0].result
    # goods at junk-free ranks 1 and 3, n_good = 2; compute_AP.m adds (recall step) * (old_precision + precision) / 2:
    #   rank 1: recall 0 -> 1/2, precision 1 (before any item) -> 1/1:  (1/2) * (1 + 1) / 2     = 1/2
    #   rank 2: other id, recall stays 1/2: adds 0 (precision drops to 1/2)
    #   rank 3: recall 1/2 -> 1, precision 1/2 -> 2/3:                  (1/2) * (1/2 + 2/3) / 2 = 7/24
    assert res.mAP == pytest.approx(1 / 2 + 7 / 24)  # = 19/24, below torchreid's (1/1 + 2/3) / 2 = 5/6
    assert res.ap_variant == "market1501" and res.setting == "official" and res.unanswerable == "zero"
    assert res.cmc[:3].tolist() == [1.0, 1.0, 1.0]
    d = res.to_dict()
    assert (d["setting"], d["ap_variant"], d["unanswerable"]) == ("official", "market1501", "zero")
    # the MATLAB loop transcribed (protocols.reference) agrees on the official ranking
    ap, _ = compute_ap_market1501(np.array([0, 2]), np.array([], dtype=int), np.array([0, 1, 2, 3]))
    assert res.mAP == pytest.approx(ap)


# ---------------------------------------------------------------------------------------------
# queries without a match: failures under official, skipped under default


def no_match_case():
    rows = [
        (1, 1, "query"),  # q0 at 0 degrees: its match (pid 1 cam 2, at 5) comes first
        (2, 1, "query"),  # q1 at 100 degrees: other id (pid 3, at 102) first, its match (at 110) second
        (9, 1, "query"),  # q2: pid 9 has no gallery tracklet at all
        (1, 2, "gallery"),
        (3, 2, "gallery"),
        (2, 2, "gallery"),
    ]
    feats = np.array([polar(0), polar(100), polar(200), polar(5), polar(102), polar(110)])
    return make_dataset(rows), feats


def test_a_query_without_a_match_counts_as_a_failure_under_official():
    ds, feats = no_match_case()
    off = evaluate_dataset(ds, feats, setting="official")[0].result
    # q0: AP 1 (the only good item at rank 1), hit at rank 1
    # q1: the only good item at rank 2: (1/1) * (0/1 + 1/2) / 2 = 1/4, first hit at rank 2
    # q2: no good item: compute_AP.m's ap = 0 (Duke) / NaN set to 0 (MARS), CMC row all zero
    assert off.mAP == pytest.approx((1 + 1 / 4 + 0) / 3)  # sum(ap) / length(ap) over all 3 queries
    assert off.rank(1) == pytest.approx(1 / 3) and off.rank(2) == pytest.approx(2 / 3) and off.rank(20) == pytest.approx(2 / 3)
    assert (off.num_valid_queries, off.num_queries) == (2, 3)
    assert np.isnan(off.ap[2]) and off.first_match_rank[2] == 0  # visible to callers, not a real AP of 0
    # default (same AP rule, features already unit length): q2 is skipped, means over the 2 others
    dflt = evaluate_dataset(ds, feats, ap="market1501")[0].result
    assert dflt.mAP == pytest.approx((1 + 1 / 4) / 2)
    assert dflt.rank(1) == pytest.approx(1 / 2) and dflt.rank(2) == pytest.approx(1.0)
    assert dflt.setting == "default" and dflt.unanswerable == "skip"


def test_zero_without_any_answerable_query_scores_zero_but_skip_refuses():
    ds = make_dataset([(1, 1, "query"), (2, 1, "query"), (1, 1, "gallery"), (3, 2, "gallery")])
    feats = np.array([polar(0), polar(50), polar(1), polar(60)])
    off = evaluate_dataset(ds, feats, setting="official")[0].result
    assert off.mAP == 0.0 and not off.cmc.any() and off.num_valid_queries == 0 and off.num_queries == 2
    with pytest.raises(InputError, match="no query has a true match"):
        evaluate_dataset(ds, feats)


# ---------------------------------------------------------------------------------------------
# L2 normalisation changes the ranking


def norm_case():
    rows = [
        (1, 1, "query"),  # q0 = (1, 0)
        (4, 1, "query"),  # q1: pid 4 has no other-camera gallery item (only its own camera's)
        (1, 2, "gallery"),  # g0 = (3, 0.3): nearly q0's direction but far away in raw Euclidean distance
        (2, 2, "gallery"),  # g1 = (0.8, 0.6): unit length, 36.9 degrees off q0
        (4, 1, "gallery"),
    ]
    feats = np.array([[1.0, 0.0], polar(300), [3.0, 0.3], [0.8, 0.6], polar(250, 3.0)])
    return make_dataset(rows), feats


def test_normalisation_changes_rank1():
    ds, feats = norm_case()
    # raw: |q0 - g0| = sqrt(4 + 0.09) = 2.02 > |q0 - g1| = sqrt(0.04 + 0.36) = 0.63: other id first, match second
    dflt = evaluate_dataset(ds, feats)[0].result
    assert dflt.rank(1) == 0.0 and dflt.first_match_rank[0] == 2
    # normalised: g0 is 5.7 degrees off q0, g1 36.9: the match first
    off = evaluate_dataset(ds, feats, setting="official")[0].result
    assert off.first_match_rank[0] == 1
    assert off.rank(1) == pytest.approx(1 / 2)  # q0 hits, q1 (no match) counts as a miss
    assert off.mAP == pytest.approx(1 / 2)  # (1 + 0) / 2
    # official = pre-normalised features under the default rule with ap market1501, then divided by all queries
    pre = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    by_hand = evaluate_dataset(ds, pre, ap="market1501")[0].result
    assert by_hand.num_valid_queries == 1
    assert off.mAP == pytest.approx(by_hand.mAP * 1 / 2)
    np.testing.assert_allclose(off.cmc, by_hand.cmc * 1 / 2)


def test_ranked_gallery_shows_the_normalised_ranking():
    ds, feats = norm_case()
    assert ranked_gallery(ds, feats, 2).gallery_pid[0].tolist() == [2, 1]
    top = ranked_gallery(ds, feats, 2, setting="official")
    assert top.gallery_pid[0].tolist() == [1, 2]
    # distances are those of unit vectors: |(1, 0) - (3, 0.3) / |(3, 0.3)||
    g0 = np.array([3.0, 0.3]) / np.hypot(3.0, 0.3)
    assert top.distance[0, 0] == pytest.approx(np.linalg.norm(np.array([1.0, 0.0]) - g0))
    assert top.query_pid.tolist() == [1]  # the query without a match has no strip


def test_evaluate_features_normalize_numpy_and_torch_agree():
    torch = pytest.importorskip("torch")
    ds, feats = norm_case()
    qf, gf = feats[:2], feats[2:]
    labels = ([1, 4], [1, 2, 4], [1, 1], [2, 2, 1])
    a = evaluate_features(qf, gf, *labels, normalize=True, ap="market1501", unanswerable="zero")
    b = evaluate_features(torch.tensor(qf), torch.tensor(gf), *labels, normalize=True, ap="market1501", unanswerable="zero")
    assert a.mAP == b.mAP == pytest.approx(1 / 2) and a.cmc.tolist() == b.cmc.tolist()
    np.testing.assert_allclose(l2_normalize(torch.tensor(feats)).numpy(), l2_normalize(feats))
    assert not np.isnan(l2_normalize(np.zeros((1, 3)))).any()  # an all-zero row stays zero, not NaN


# ---------------------------------------------------------------------------------------------
# MARS-style junk under the official setting


def test_mars_junk_and_same_camera_excluded_distractors_kept():
    rows = [
        (3, 1, "query"),  # the query, at 0 degrees
        (-1, 2, "gallery"),  # junk id (1 degree): removed, takes no position
        (3, 1, "gallery"),  # the query's own tracklet, as MARS keeps queries in the gallery (2): same id and camera, removed
        (0, 2, "gallery"),  # distractor (10): an ordinary negative, rank 1
        (3, 2, "gallery"),  # the match (20): rank 2
        (5, 3, "gallery"),  # other id (30): rank 3
    ]
    ds = make_dataset(rows, junk=(-1,), distractors=(0,))
    feats = np.array([polar(0), polar(1, 7.0), polar(2), polar(10, 0.2), polar(20, 3.0), polar(30)])
    res = evaluate_dataset(ds, feats, setting="official")[0].result
    # one good item at junk-free rank 2: (1/1) * (0/1 + 1/2) / 2 = 1/4; first hit at rank 2
    assert res.mAP == pytest.approx(1 / 4)
    assert res.first_match_rank.tolist() == [2] and res.rank(1) == 0.0 and res.rank(2) == 1.0
    top = ranked_gallery(ds, feats, 3, setting="official")
    assert top.gallery_pid[0].tolist() == [0, 3, 5]  # neither the -1 nor the same-camera item is shown


def matlab_official(feats: np.ndarray, pid: np.ndarray, cam: np.ndarray, q: np.ndarray, g: np.ndarray, junk_pids=(-1,), max_rank=20):
    """evaluation_mars.m / test_duke.m transcribed: normalise, pdist2 euclidean, compute_AP per query,
    ap(isnan(ap)) = 0, CMC and mAP summed over every query and divided by their number."""
    f = feats / np.sqrt((feats**2).sum(1, keepdims=True))
    dist = np.sqrt(((f[q][:, None, :] - f[g][None, :, :]) ** 2).sum(-1))
    gp, gc = pid[g], cam[g]
    aps, cmcs = [], []
    for i in range(len(q)):
        index = np.argsort(dist[i], kind="stable")
        same = gp == pid[q[i]]
        junk = (same & (gc == cam[q[i]])) | np.isin(gp, junk_pids)
        good = np.flatnonzero(same & ~junk)
        ap, cmc = compute_ap_market1501(good, np.flatnonzero(junk), index) if len(good) else (0.0, np.zeros(len(g)))
        row = np.full(max_rank, cmc[-1])
        row[: min(max_rank, len(cmc))] = cmc[:max_rank]
        aps.append(ap)
        cmcs.append(row)
    return np.sum(cmcs, axis=0) / len(q), float(np.sum(aps) / len(aps))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_official_matches_the_matlab_scripts_on_random_data(seed):
    rng = np.random.default_rng(seed)
    n = 90
    pid = rng.integers(-1, 20, n)
    cam = rng.integers(1, 4, n)
    split = np.where(rng.random(n) < 0.35, "query", "gallery")
    ds = make_dataset(list(zip(pid.tolist(), cam.tolist(), split.tolist())), junk=(-1,))
    feats = rng.normal(size=(n, 5)) * rng.uniform(0.1, 10.0, (n, 1))  # lengths that matter unless normalised
    res = evaluate_dataset(ds, feats, setting="official")[0].result
    cmc, mAP = matlab_official(feats, pid, cam, np.flatnonzero(split == "query"), np.flatnonzero(split == "gallery"))
    assert res.num_valid_queries < res.num_queries  # some queries are unanswerable: the case that matters
    assert res.mAP == pytest.approx(mAP)
    np.testing.assert_allclose(res.cmc, cmc)


def test_official_normalises_before_re_ranking():
    rng = np.random.default_rng(5)
    n = 80
    pid, cam = rng.integers(0, 12, n), rng.integers(1, 3, n)
    split = np.where(rng.random(n) < 0.3, "query", "gallery")
    ds = make_dataset(list(zip(pid.tolist(), cam.tolist(), split.tolist())))
    feats = (rng.normal(size=(n, 4)) * rng.uniform(0.1, 10.0, (n, 1))).astype(np.float32)
    res = evaluate_dataset(ds, feats, rerank=True, setting="official")[0].result
    q, g = np.flatnonzero(split == "query"), np.flatnonzero(split == "gallery")
    unit = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    want = evaluate(re_ranking(unit[q], unit[g]), pid[q], pid[g], cam[q], cam[g], ap="market1501", unanswerable="zero")
    raw = evaluate(re_ranking(feats[q], feats[g]), pid[q], pid[g], cam[q], cam[g], ap="market1501", unanswerable="zero")
    assert res.mAP == pytest.approx(want.mAP) and res.mAP != pytest.approx(raw.mAP)


# ---------------------------------------------------------------------------------------------
# names and conflicts


def test_settings_and_their_refusals():
    assert set(EVAL_SETTINGS) == {"default", "official"}
    off = EVAL_SETTINGS["official"]
    assert (off.normalize, off.metric, off.ap, off.unanswerable) == (True, "euclidean", "market1501", "zero")
    ds, feats = norm_case()
    with pytest.raises(InputError, match="default, official.*'nope'"):
        evaluate_dataset(ds, feats, setting="nope")
    with pytest.raises(InputError, match="metric 'cosine'.*'official'.*'euclidean'"):
        evaluate_dataset(ds, feats, metric="cosine", setting="official")
    with pytest.raises(InputError, match="ap 'torchreid'.*'official'.*'market1501'"):
        evaluate_dataset(ds, feats, ap="torchreid", setting="official")
    with pytest.raises(LsvidError, match="'nope'"):
        ranked_gallery(ds, feats, 2, setting="nope")
    # agreeing explicit choices are fine, and "default" leaves metric and AP to the caller and protocol
    assert evaluate_dataset(ds, feats, metric="euclidean", ap="market1501", setting="official")[0].result.setting == "official"
    r = resolve_setting("default", ds.protocol, metric="cosine")
    assert (r.metric, r.ap, r.normalize, r.unanswerable) == ("cosine", "torchreid", False, "skip")
    with pytest.raises(InputError, match="unanswerable must be one of skip, zero"):
        evaluate(np.zeros((1, 1)), [1], [1], [1], [2], unanswerable="drop")
