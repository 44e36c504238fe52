"""ranked_gallery: the lists the retrieval strips show are the protocol's own rankings."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lsvid_core.errors import InputError
from protocols import evaluation, metrics
from protocols.dataset import Dataset
from protocols.evaluation import evaluate_dataset, ranked_gallery
from protocols.metrics import pairwise_distance
from protocols.protocol import Protocol
from protocols.rerank import re_ranking


def random_dataset(seed: int, n: int = 260, trials: int = 2, ids: int = 25):
    """Tracklets with junk ids (-1), three cameras and ``trials`` random query/gallery assignments."""
    rng = np.random.default_rng(seed)
    tr = pd.DataFrame(
        {
            "tracklet_id": np.arange(100, 100 + n),
            "person_id": rng.integers(-1, ids, n),
            "camera_id": rng.integers(1, 4, n),
            "split": "gallery",
        }
    )
    rows = []
    for t in range(trials):
        split = np.where(rng.random(n) < 0.3, "query", "gallery")
        rows.append(pd.DataFrame({"trial": t, "tracklet_id": tr.tracklet_id, "split": split}))
    meta = {"name": "rand", "protocol": Protocol(name="rand", junk_pids=(-1,), num_trials=trials).to_dict()}
    ds = Dataset(root=Path("rand"), tracklets=tr, frames=None, meta=meta, trials=pd.concat(rows, ignore_index=True))
    # small integer features: many equal distances, so the tie rule is exercised
    return ds, rng.integers(0, 3, (n, 3)).astype(np.float32)


def reference_lists(ds, dist, t, k):
    """Per query: a stable argsort of its row, the protocol's exclusions dropped, the first k (tracklet ids)."""
    tr = ds.for_trial(t).tracklets
    q, g = np.flatnonzero(tr.split == "query"), np.flatnonzero(tr.split == "gallery")
    pid, cam, tid = tr.person_id.to_numpy(), tr.camera_id.to_numpy(), tr.tracklet_id.to_numpy()
    out = {}
    for i, qi in enumerate(q):
        keep = [j for j in np.argsort(dist[i], kind="stable") if not ((pid[g[j]] == pid[qi] and cam[g[j]] == cam[qi]) or pid[g[j]] == -1)]
        if any(pid[g[j]] == pid[qi] for j in keep):
            out[tid[qi]] = [tid[g[j]] for j in keep[:k]]
    return out


def check_against_protocol(ds, feats, top, t, k, rerank=False):
    res = evaluate_dataset(ds, feats, trials=[t], rerank=rerank)[0].result
    tr = ds.for_trial(t).tracklets
    q = np.flatnonzero(tr.split == "query")
    counted = res.first_match_rank > 0
    assert top.query_tracklet_id.tolist() == tr.tracklet_id.to_numpy()[q][counted].tolist()
    assert not np.isin(top.gallery_pid, [-1])[top.gallery_tracklet_id >= 0].any()  # no junk id shown
    same_cam = (top.gallery_pid == top.query_pid[:, None]) & (top.gallery_camid == top.query_camid[:, None])
    assert not same_cam.any()
    for i, rank in enumerate(res.first_match_rank[counted]):
        hits = np.flatnonzero(top.gallery_pid[i] == top.query_pid[i])
        if rank <= k:
            assert hits[0] == rank - 1
        else:
            assert len(hits) == 0
    return res


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lists_follow_the_protocol_in_every_trial(seed):
    ds, feats = random_dataset(seed)
    k = 6
    for t in range(ds.num_trials):
        top = ranked_gallery(ds, feats, k, trial=t)
        check_against_protocol(ds, feats, top, t, k)
        tr = ds.for_trial(t).tracklets
        dist = pairwise_distance(feats[tr.split == "query"], feats[tr.split == "gallery"])
        want = reference_lists(ds, dist, t, k)
        got = {int(qt): [int(x) for x in row if x >= 0] for qt, row in zip(top.query_tracklet_id, top.gallery_tracklet_id)}
        assert got == want
        # the distances shown are the ranked ones, in order
        assert np.all(np.diff(top.distance, axis=1) >= 0)


def test_many_blocks_change_nothing(monkeypatch):
    ds, feats = random_dataset(5, n=300)
    whole = ranked_gallery(ds, feats, 5)
    monkeypatch.setattr(evaluation, "DEFAULT_BLOCK_ELEMENTS", 300)
    monkeypatch.setattr(metrics, "DEFAULT_BLOCK_ELEMENTS", 300)
    blocked = ranked_gallery(ds, feats, 5)
    assert np.array_equal(whole.gallery_tracklet_id, blocked.gallery_tracklet_id)
    check_against_protocol(ds, feats, blocked, 0, 5)


def test_re_ranked_lists_are_what_was_scored():
    ds, _ = random_dataset(3, n=200)
    feats = np.random.default_rng(3).normal(size=(200, 8)).astype(np.float32)
    top = ranked_gallery(ds, feats, 8, rerank=True)
    check_against_protocol(ds, feats, top, 0, 8, rerank=True)
    tr = ds.for_trial(0).tracklets
    dist = re_ranking(feats[tr.split == "query"], feats[tr.split == "gallery"])
    got = {int(qt): [int(x) for x in row if x >= 0] for qt, row in zip(top.query_tracklet_id, top.gallery_tracklet_id)}
    assert got == reference_lists(ds, dist, 0, 8)
    plain = ranked_gallery(ds, feats, 8)
    assert not np.array_equal(plain.gallery_tracklet_id, top.gallery_tracklet_id)  # re-ranking changed something
    with pytest.raises(InputError, match="Euclidean"):
        ranked_gallery(ds, feats, 8, rerank=True, metric="cosine")


def test_short_galleries_are_padded_and_hand_worked():
    # query 0: pid 1 cam 1; gallery: same id same camera (hidden), junk (hidden), pid 1 cam 2, pid 4 cam 1
    tr = pd.DataFrame(
        {
            "tracklet_id": [10, 11, 12, 13, 14, 15, 16],
            "person_id": [1, 9, 1, -1, 1, 4, 9],
            "camera_id": [1, 1, 1, 2, 2, 1, 1],
            "split": ["query", "query", "gallery", "gallery", "gallery", "gallery", "gallery"],
        }
    )
    ds = Dataset(root=Path("t"), tracklets=tr, frames=None, meta={"name": "t", "protocol": Protocol(name="t", junk_pids=(-1,)).to_dict()})
    feats = np.array([[0.0], [5.0], [0.0], [0.1], [3.0], [1.0], [5.0]], np.float32)
    top = ranked_gallery(ds, feats, 4)
    # query 11 (pid 9) only has a same-camera match (16): not counted, not shown
    assert top.query_tracklet_id.tolist() == [10]
    # of 12..16, 12 (same id and camera) and 13 (junk) are left out; 15 (d 1), 14 (d 3), 16 (d 5); then padding
    assert top.gallery_tracklet_id.tolist() == [[15, 14, 16, -1]]
    assert top.gallery_pid.tolist() == [[4, 1, 9, -1]]
    assert top.distance[0, :3].tolist() == [1.0, 3.0, 5.0] and np.isinf(top.distance[0, 3])
    assert top.gallery_row.tolist() == [[5, 4, 6, -1]]
    with pytest.raises(InputError, match="k must be >= 1"):
        ranked_gallery(ds, feats, 0)
