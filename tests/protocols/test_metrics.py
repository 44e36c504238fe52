"""CMC/mAP: hand-worked cases, a plain per-query reference, numpy/torch identity."""
import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from protocols.metrics import evaluate, evaluate_features, pairwise_distance
from protocols.reference import evaluate_loop as reference


def test_one_query_worked_by_hand():
    # gallery: (pid, cam, dist)
    g = [(1, 1, 0.1), (2, 2, 0.2), (1, 2, 0.3), (3, 1, 0.4), (1, 3, 0.5), (-1, 2, 0.05)]
    gp = np.array([x[0] for x in g])
    gc = np.array([x[1] for x in g])
    d = np.array([[x[2] for x in g]])
    r = evaluate(d, [1], gp, [1], gc, max_rank=5, junk_pids=(-1,))
    # item 0 (same id, same camera) and item 5 (junk) are dropped; the ranking is
    # 1 (0.2), 2 (0.3, match), 3 (0.4), 4 (0.5, match): matches at ranks 2 and 4
    assert r.cmc.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0]
    assert r.mAP == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert r.num_valid_queries == 1
    assert r.first_match_rank.tolist() == [2]


def test_ties_follow_gallery_order():
    gp = np.array([2, 1, 1])
    gc = np.array([2, 2, 3])
    d = np.array([[0.3, 0.3, 0.3]])
    r = evaluate(d, [1], gp, [1], gc, max_rank=3)
    # stable order keeps 0, 1, 2: the matches sit at ranks 2 and 3
    assert r.cmc.tolist() == [0.0, 1.0, 1.0]
    assert r.mAP == pytest.approx((1 / 2 + 2 / 3) / 2)
    # the same scores with the non-match last in the gallery give rank 1
    r2 = evaluate(d, [1], gp[[1, 2, 0]], [1], gc[[1, 2, 0]], max_rank=3)
    assert r2.mAP == pytest.approx(1.0)


def test_query_without_valid_match_is_not_counted():
    gp = np.array([1, 2, 3])
    gc = np.array([1, 1, 1])
    d = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]])
    # query 0 (pid 1, cam 1) only has a same-camera match: not counted
    r = evaluate(d, [1, 3], gp, [1, 2], gc, max_rank=3)
    assert r.num_valid_queries == 1 and r.num_queries == 2
    assert np.isnan(r.ap[0]) and r.first_match_rank[0] == 0
    assert r.mAP == pytest.approx(1.0)


def test_no_valid_query_is_an_error():
    with pytest.raises(ValueError, match="no query has a true match"):
        evaluate(np.zeros((1, 2)), [5], [1, 2], [0], [1, 1])


@pytest.mark.parametrize("ties", [False, True])
def test_matches_reference_on_random_cases(ties):
    rng = np.random.default_rng(7 + ties)
    for _ in range(60):
        q, g = int(rng.integers(1, 30)), int(rng.integers(1, 70))
        n_ids = int(rng.integers(1, 8))
        qp, gp = rng.integers(0, n_ids, q), rng.integers(-1, n_ids, g)
        qc, gc = rng.integers(0, 3, q), rng.integers(0, 3, g)
        d = rng.integers(0, 4, (q, g)).astype(np.float32) if ties else rng.random((q, g))
        mr = int(rng.integers(1, 12))
        try:
            want = reference(d, qp, gp, qc, gc, mr, (-1,))
        except Exception:  # no valid query: both must refuse
            with pytest.raises(ValueError):
                evaluate(d, qp, gp, qc, gc, max_rank=mr, junk_pids=(-1,))
            continue
        got = evaluate(d, qp, gp, qc, gc, max_rank=mr, junk_pids=(-1,), chunk_size=int(rng.integers(1, 9)))
        np.testing.assert_allclose(got.cmc, want[0], rtol=0, atol=1e-12)
        assert got.mAP == pytest.approx(want[1], abs=1e-12)
        assert got.num_valid_queries == want[2]
        tgot = evaluate(torch.from_numpy(np.ascontiguousarray(d)), qp, gp, qc, gc, max_rank=mr, junk_pids=(-1,), chunk_size=3)
        assert np.array_equal(tgot.cmc, got.cmc) and tgot.mAP == got.mAP


def test_numpy_and_torch_identical_at_scale_and_chunking_changes_nothing():
    rng = np.random.default_rng(0)
    q, g = 300, 2000
    qp, gp = rng.integers(0, 150, q), rng.integers(0, 150, g)
    qc, gc = rng.integers(0, 6, q), rng.integers(0, 6, g)
    d = rng.random((q, g)).astype(np.float32)
    a = evaluate(d, qp, gp, qc, gc)
    b = evaluate(torch.from_numpy(d), qp, gp, qc, gc)
    c = evaluate(d, qp, gp, qc, gc, chunk_size=7, num_threads=1)
    for other in (b, c):
        assert np.array_equal(a.cmc, other.cmc)
        assert a.mAP == other.mAP
        assert np.array_equal(a.first_match_rank, other.first_match_rank)
    if torch.cuda.is_available():
        e = evaluate(torch.from_numpy(d).cuda(), qp, gp, qc, gc)
        assert np.array_equal(a.cmc, e.cmc) and a.mAP == e.mAP


def test_memmap_distance_matrix(tmp_path):
    rng = np.random.default_rng(1)
    d = np.lib.format.open_memmap(tmp_path / "d.npy", mode="w+", dtype=np.float32, shape=(50, 80))
    d[:] = rng.random((50, 80))
    qp, gp = rng.integers(0, 10, 50), rng.integers(0, 10, 80)
    qc, gc = rng.integers(0, 2, 50), rng.integers(0, 2, 80)
    assert evaluate(d, qp, gp, qc, gc).mAP == evaluate(np.array(d), qp, gp, qc, gc).mAP


def test_misuse_is_refused():
    d = np.zeros((2, 3))
    with pytest.raises(ValueError, match="gallery_pids has 2 entries"):
        evaluate(d, [1, 2], [1, 2], [0, 0], [0, 0, 0])
    with pytest.raises(ValueError, match="must be 2-D"):
        evaluate(np.zeros(3), [1], [1, 2, 3], [0], [0, 0, 0])
    bad = np.array([[0.1, np.nan, 0.2], [0.1, 0.1, 0.1]])
    with pytest.raises(ValueError, match="non-finite.*query 0, gallery 1"):
        evaluate(bad, [1, 2], [1, 2, 3], [0, 0], [1, 1, 1])
    with pytest.raises(ValueError, match="integer ids"):
        evaluate(d, [1.5, 2], [1, 2, 3], [0, 0], [0, 0, 0])
    with pytest.raises(ValueError, match="max_rank"):
        evaluate(d, [1, 2], [1, 2, 3], [0, 0], [1, 1, 1], max_rank=0)


def test_max_rank_beyond_gallery_saturates():
    r = evaluate(np.array([[0.2, 0.1]]), [1], [1, 2], [0], [1, 1], max_rank=5)
    assert r.cmc.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("metric,scipy_metric", [("euclidean", "euclidean"), ("sqeuclidean", "sqeuclidean"), ("cosine", "cosine")])
def test_pairwise_distance_matches_scipy(metric, scipy_metric):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(37, 16)), rng.normal(size=(53, 16))
    want = cdist(x, y, scipy_metric)
    np.testing.assert_allclose(pairwise_distance(x, y, metric, chunk_size=5), want, atol=1e-9)
    got_t = pairwise_distance(torch.from_numpy(x), torch.from_numpy(y), metric, chunk_size=8)
    np.testing.assert_allclose(got_t.numpy(), want, atol=1e-9)


def test_nan_features_name_the_row():
    x = np.ones((4, 3), np.float32)
    x[2, 1] = np.nan
    with pytest.raises(ValueError, match="query features row 2"):
        pairwise_distance(x, np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="metric must be one of"):
        pairwise_distance(np.ones((2, 3)), np.ones((2, 3)), "manhattan")


def test_evaluate_features_equals_evaluate_on_distances():
    rng = np.random.default_rng(3)
    qf, gf = rng.normal(size=(40, 8)).astype(np.float32), rng.normal(size=(120, 8)).astype(np.float32)
    qp, gp = rng.integers(0, 12, 40), rng.integers(0, 12, 120)
    qc, gc = rng.integers(0, 3, 40), rng.integers(0, 3, 120)
    for metric in ("euclidean", "cosine"):
        a = evaluate_features(qf, gf, qp, gp, qc, gc, metric=metric, chunk_size=9)
        b = evaluate(pairwise_distance(qf, gf, metric), qp, gp, qc, gc)
        assert np.array_equal(a.cmc, b.cmc) and a.mAP == b.mAP
        t = evaluate_features(torch.from_numpy(qf), torch.from_numpy(gf), qp, gp, qc, gc, metric=metric)
        assert t.mAP == pytest.approx(a.mAP, abs=1e-6)
