"""Identities across cameras: constrained clustering, truth majority, the review CSV."""
import numpy as np
import pandas as pd
import pytest
from scipy.cluster.hierarchy import fcluster, linkage

from lsvid.identities import cannot_link, cluster, clustering_quality, from_csv, from_truth


def canon(labels):
    seen = {}
    return np.array([seen.setdefault(v, len(seen)) for v in labels])


def test_unconstrained_equals_scipy_average_linkage():
    rng = np.random.default_rng(0)
    for _ in range(5):
        centres = rng.normal(size=(8, 12))
        lab = rng.integers(0, 8, 60)
        e = centres[lab] + 0.4 * rng.normal(size=(60, 12))
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        for thr in (0.1, 0.3, 0.6):
            ours = cluster(e, threshold=thr)
            ref = fcluster(linkage(e, "average", metric="cosine"), thr, "distance")
            assert np.array_equal(canon(ours), canon(ref))


def test_tracklets_overlapping_in_one_video_are_never_merged():
    e = np.tile([[1.0, 0.0, 0.0]], (4, 1))  # identical appearance
    video = np.array(["c1/s1", "c1/s1", "c2/s1", "c1/s2"])
    start, end = np.array([0, 50, 0, 0]), np.array([100, 150, 100, 100])
    forbid = cannot_link(video, start, end)
    assert forbid[0, 1] and not forbid[0, 2] and not forbid[0, 3]
    labels = cluster(e, forbid, threshold=0.5)
    assert labels[0] != labels[1]
    # each of the two is free to take the other cameras' tracklets, but not both
    assert len(set(labels)) == 2
    # a constraint propagates through merges: once 0 and 2 are together, 1 cannot join
    assert not (labels[1] == labels[2] == labels[0])


def test_clustering_quality_by_hand():
    pred = np.array([0, 0, 1, 1, 1, 2])
    truth = np.array([5, 5, 5, 7, 7, -1])  # the -1 is ignored
    q = clustering_quality(pred, truth)
    # clusters {5,5} and {5,7,7}: purity (2 + 2) / 5; truths 5 -> {0,0,1}, 7 -> {1,1}: inverse (2 + 2) / 5
    assert q["purity"] == pytest.approx(0.8) and q["inverse_purity"] == pytest.approx(0.8)
    # pairs predicted together: 1 + 3 = 4, of which truly together 1 + 1 = 2; true pairs: 3 + 1 = 4
    assert q["pairwise_precision"] == pytest.approx(0.5) and q["pairwise_recall"] == pytest.approx(0.5)


def tracklets():
    return pd.DataFrame({
        "camera": ["cam01", "cam01", "cam02"], "slot": ["slot01"] * 3, "local_id": [0, 1, 0],
        "truth_id": [3, -1, 3], "truth_purity": [0.9, 0.0, 0.4],
    })


def test_from_truth_marks_impure_and_unmatched_as_junk():
    assert from_truth(tracklets(), min_purity=0.5).tolist() == [3, -1, -1]
    with pytest.raises(ValueError, match="needs MOT truth"):
        from_truth(tracklets().assign(truth_id=-1))


def test_from_csv(tmp_path):
    p = tmp_path / "ids.csv"
    p.write_text("tracklet,person_id\ncam01/slot01/0,7\ncam02/slot01/0,7\n")
    assert from_csv(tracklets(), p).tolist() == [7, -1, 7]
    p.write_text("tracklet,person\ncam01/slot01/0,7\n")
    with pytest.raises(ValueError, match="lacks column"):
        from_csv(tracklets(), p)
    p.write_text("tracklet,person_id\ncam09/slot01/0,7\n")
    with pytest.raises(ValueError, match="do not exist in this curation run"):
        from_csv(tracklets(), p)
    p.write_text("tracklet,person_id\ncam01/slot01/0,seven\n")
    with pytest.raises(ValueError, match="row 2: person_id 'seven' is not an integer"):
        from_csv(tracklets(), p)
