"""Seeded identity splits (LS-VID's 1:3 plus validation) and query choice."""
import numpy as np
import pandas as pd
import pytest

from protocols.splits import choose_queries, random_trials, split_identities


def test_lsvid_sized_split_reproduces_the_paper_numbers():
    s = split_identities(np.arange(3772), seed=0)
    assert (len(s.train), len(s.val), len(s.test)) == (842, 200, 2730)
    assert len(np.unique(np.concatenate([s.train, s.val, s.test]))) == 3772
    # about 1 : 3 train : test at any size
    s = split_identities(np.arange(1000), seed=0)
    assert 3.0 < len(s.test) / len(s.train) < 3.5


def test_disjoint_seeded_and_order_free():
    ids = np.arange(100, 500)
    a = split_identities(ids, seed=4)
    b = split_identities(ids[::-1], seed=4)
    c = split_identities(ids, seed=5)
    for x, y in ((a.train, b.train), (a.val, b.val), (a.test, b.test)):
        assert np.array_equal(x, y)
    assert not np.array_equal(a.test, c.test)
    assert not set(a.train) & set(a.test) and not set(a.val) & set(a.test) and not set(a.train) & set(a.val)


@pytest.mark.parametrize("n", [2, 3, 5, 17])
def test_small_sets_keep_both_sides(n):
    s = split_identities(range(n), seed=0, val_fraction=0)
    assert len(s.train) >= 1 and len(s.test) >= 1 and len(s.train) + len(s.test) == n


def test_choose_queries_one_per_identity_and_camera():
    rng = np.random.default_rng(0)
    rows = []
    tid = 0
    for pid in range(30):
        cams = rng.choice(6, int(rng.integers(1, 4)), replace=False)
        for c in cams:
            for _ in range(int(rng.integers(1, 4))):
                rows.append((tid, pid, int(c)))
                tid += 1
    df = pd.DataFrame(rows, columns=["tracklet_id", "person_id", "camera_id"])
    q = choose_queries(df, seed=1)
    chosen = df[q]
    ncam = df.groupby("person_id").camera_id.nunique()
    assert set(chosen.person_id) == set(ncam[ncam >= 2].index)
    assert chosen.groupby(["person_id", "camera_id"]).size().eq(1).all()
    assert len(chosen) == df[df.person_id.map(ncam) >= 2].drop_duplicates(["person_id", "camera_id"]).shape[0]
    assert np.array_equal(q, choose_queries(df, seed=1)) and not np.array_equal(q, choose_queries(df, seed=2))


def test_random_trials_are_permutations():
    t = random_trials([5, 3, 9, 1], 10, seed=0)
    assert t.shape == (10, 4)
    assert all(sorted(r) == [1, 3, 5, 9] for r in t.tolist())
