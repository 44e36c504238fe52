"""The runner's topk.npz and the retrieval strips drawn from it show what the protocol ranks."""
import cv2
import numpy as np
import pytest

from benchmark.config import BenchConfig
from benchmark.report import retrieval_strips
from benchmark.runner import TOPK, _save_topk
from protocols import read_dataset
from protocols.dataset import tables_from_sequences, write_dataset
from protocols.evaluation import evaluate_dataset
from protocols.protocol import CURATED


@pytest.fixture
def curated(tmp_path):
    """A curated-style dataset (junk id -1) with real crops on disk: 6 queries, one without a match."""
    rng = np.random.default_rng(0)
    seqs = []
    # (pid, cam, split): ids 1-5 each have a cross-camera match; id 6's only other item shares its camera
    for p in range(1, 6):
        seqs += [dict(person_id=p, camera_id=1, split="query"), dict(person_id=p, camera_id=2, split="gallery")]
    seqs += [dict(person_id=6, camera_id=1, split="query"), dict(person_id=6, camera_id=1, split="gallery")]
    seqs += [dict(person_id=-1, camera_id=int(c), split="gallery") for c in rng.integers(1, 3, 8)]  # junk
    seqs += [dict(person_id=p, camera_id=2, split="gallery") for p in (7, 8, 9)]  # distractors
    for i, s in enumerate(seqs):
        s["paths"] = [f"images/t{i}/{f}.jpg" for f in range(3)]
        for f in range(3):
            path = tmp_path / "ds_images" / s["paths"][f]
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), rng.integers(0, 255, (16, 8, 3)).astype(np.uint8))
    tr, fr = tables_from_sequences(seqs)
    meta = {"name": "cur", "protocol": CURATED.to_dict(), "image_root": str(tmp_path / "ds_images")}
    path = write_dataset(tmp_path / "ds", tr, fr, meta)
    return read_dataset(path)


def test_topk_leaves_out_junk_same_camera_and_uncounted_queries(curated, tmp_path):
    ds = curated
    rng = np.random.default_rng(1)
    pid = ds.tracklets.person_id.to_numpy()
    # junk items sit right on top of every query: the old strips showed them first
    video = rng.normal(size=(len(pid), 4)).astype(np.float32) * 0.1 + np.where(pid[:, None] == -1, 0.0, pid[:, None])
    video[pid == -1] = np.resize(video[ds.tracklets.split.to_numpy() == "query"], ((pid == -1).sum(), 4))
    _save_topk(tmp_path / "m", ds, video, BenchConfig(), 0)
    z = np.load(tmp_path / "m" / "topk.npz")
    assert z["gallery"].shape[1] == TOPK
    shown = z["gallery"] >= 0
    assert not (z["gallery_pid"][shown] == -1).any()
    tr = ds.tracklets.set_index("tracklet_id")
    q_cam = tr.camera_id.loc[z["query"]].to_numpy()
    g_cam = np.where(shown, tr.camera_id.reindex(z["gallery"].ravel()).to_numpy().reshape(z["gallery"].shape), -1)
    assert not ((z["gallery_pid"] == z["query_pid"][:, None]) & (g_cam == q_cam[:, None])).any()
    # the query of id 6 has no true match left: not shown; the five others are, first match where scored
    res = evaluate_dataset(ds, video)[0].result
    assert z["query_pid"].tolist() == [1, 2, 3, 4, 5]
    first = [int(np.flatnonzero(g == q)[0]) + 1 for g, q in zip(z["gallery_pid"], z["query_pid"])]
    assert first == res.first_match_rank[res.first_match_rank > 0].tolist()
    # of the 17 gallery items, 8 are junk: 9 are ranked, the 10th place is padding
    assert shown.sum(1).tolist() == [9] * 5 and (z["gallery"][:, 9] == -1).all()


def test_strips_skip_padding(curated, tmp_path):
    ds = curated
    top = {
        "query": np.array([0]), "query_pid": np.array([1]),
        "gallery": np.array([[1, -1, -1]]), "gallery_pid": np.array([[1, -1, -1]]),
    }
    np.savez(tmp_path / "topk.npz", **top)
    out = tmp_path / "strip.png"
    assert retrieval_strips(tmp_path / "topk.npz", ds.root, out, k=3)
    img = cv2.imread(str(out))
    h, w = 128 + 8, 64 + 8
    # query tile, a 12 px gap, one gallery tile: the padding is not drawn
    assert img.shape[1] == 2 * w + 12 and img.shape[0] == h + 6
