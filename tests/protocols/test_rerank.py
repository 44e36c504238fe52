"""k-reciprocal re-ranking against a direct transcription of the published algorithm."""
import numpy as np
import pytest
from scipy.spatial.distance import cdist

from protocols.metrics import evaluate
from protocols.reference import re_ranking_dense as published
from protocols.rerank import re_ranking, re_ranking_distances


@pytest.mark.parametrize("q,g,k1,k2,lam", [(12, 40, 20, 6, 0.3), (15, 50, 5, 3, 0.5), (20, 70, 10, 1, 0.3), (6, 25, 20, 6, 0.0)])
def test_equals_published_algorithm(q, g, k1, k2, lam):
    rng = np.random.default_rng(q + g)
    qf = rng.normal(size=(q, 12)).astype(np.float32)
    gf = rng.normal(size=(g, 12)).astype(np.float32)
    gf[:q] = qf + 0.3 * rng.normal(size=qf.shape)
    want = published(qf, gf, k1, k2, lam)
    got = re_ranking(qf, gf, k1, k2, lam, chunk_size=7)
    np.testing.assert_allclose(got, want, atol=2e-6)
    got_d = re_ranking_distances(cdist(qf, gf), cdist(qf, qf), cdist(gf, gf), k1, k2, lam, chunk_size=5)
    np.testing.assert_allclose(got_d, want, atol=2e-6)


def test_improves_retrieval_with_clustered_gallery():
    # each identity has several gallery views around a centre; the query is a noisy
    # view, so its k-reciprocal neighbourhood carries evidence the raw distance misses
    rng = np.random.default_rng(0)
    ids, views = 40, 6
    centres = rng.normal(size=(ids, 16))
    gf = np.repeat(centres, views, 0) + 0.45 * rng.normal(size=(ids * views, 16))
    qf = centres + 0.8 * rng.normal(size=(ids, 16))
    gp, qp = np.repeat(np.arange(ids), views), np.arange(ids)
    gc, qc = np.ones(len(gp), int), np.zeros(ids, int)
    base = evaluate(cdist(qf, gf), qp, gp, qc, gc).mAP
    rr = evaluate(re_ranking(qf, gf), qp, gp, qc, gc).mAP
    assert rr > base


def test_bad_parameters():
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match="k2"):
        re_ranking(x, x, k1=3, k2=5)
    with pytest.raises(ValueError, match="lambda"):
        re_ranking(x, x, lambda_value=1.5)
    y = x.copy()
    y[1, 1] = np.nan
    with pytest.raises(ValueError, match="gallery features row 1"):
        re_ranking(x, y)
