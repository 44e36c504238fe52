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


def random_table(rng, n_ids=30, max_cams=6, max_per_cam=4, junk=0):
    """A test tracklet table: each identity seen by 1-3 random cameras, 1..max_per_cam tracklets each."""
    rows = []
    tid = 0
    for pid in range(n_ids):
        cams = rng.choice(max_cams, int(rng.integers(1, min(3, max_cams) + 1)), replace=False)
        for c in cams:
            for _ in range(int(rng.integers(1, max_per_cam + 1))):
                rows.append((tid, pid, int(c)))
                tid += 1
    for _ in range(junk):
        rows.append((tid, -1, int(rng.integers(max_cams))))
        tid += 1
    return pd.DataFrame(rows, columns=["tracklet_id", "person_id", "camera_id"])


def brute_force_answerable(df, q):
    """Per query row: a same-id gallery row from another camera exists (no shortcuts)."""
    g = df[~q]
    return np.array([((g.person_id == r.person_id) & (g.camera_id != r.camera_id)).any() for r in df[q].itertuples()], bool)


def test_choose_queries_at_most_one_per_identity_and_camera():
    df = random_table(np.random.default_rng(0))
    q = choose_queries(df, seed=1)
    chosen = df[q]
    ncam = df.groupby("person_id").camera_id.nunique()
    # every identity seen by two cameras or more has a query, the others none
    assert set(chosen.person_id) == set(ncam[ncam >= 2].index)
    assert chosen.groupby(["person_id", "camera_id"]).size().eq(1).all()
    assert brute_force_answerable(df, q).all()
    assert np.array_equal(q, choose_queries(df, seed=1)) and not np.array_equal(q, choose_queries(df, seed=2))


def test_once_per_camera_leaves_one_camera_in_the_gallery():
    # seen once by each of 3 cameras: "one query per camera" would take all three and leave nothing to find
    df = pd.DataFrame({"tracklet_id": [10, 11, 12], "person_id": [7, 7, 7], "camera_id": [1, 2, 3]})
    for seed in range(20):
        q = choose_queries(df, seed=seed)
        assert q.sum() == 2 and brute_force_answerable(df, q).all()
    # the withheld camera varies with the seed
    assert len({tuple(choose_queries(df, seed=s)) for s in range(20)}) == 3
    # two cameras, once each: one query, one gallery
    two = df.iloc[:2]
    assert choose_queries(two, seed=0).sum() == 1
    # one camera only: never a query, however many tracklets
    one = pd.DataFrame({"tracklet_id": [1, 2, 3], "person_id": [4, 4, 4], "camera_id": [2, 2, 2]})
    assert not choose_queries(one, seed=0).any()


def test_every_camera_keeps_its_query_when_two_cameras_keep_a_gallery_tracklet():
    # cameras 1 and 2 have two tracklets each: all three cameras get a query
    df = pd.DataFrame({"tracklet_id": range(5), "person_id": [3] * 5, "camera_id": [1, 1, 2, 2, 3]})
    for seed in range(10):
        q = choose_queries(df, seed=seed)
        assert sorted(df[q].camera_id) == [1, 2, 3] and brute_force_answerable(df, q).all()
    # only camera 1 has two: one camera's query is withheld (k - 1 queries), all still answerable
    df = pd.DataFrame({"tracklet_id": range(4), "person_id": [3] * 4, "camera_id": [1, 1, 2, 3]})
    for seed in range(10):
        q = choose_queries(df, seed=seed)
        assert q.sum() == 2 and brute_force_answerable(df, q).all()


def test_junk_is_never_a_query_nor_an_answer():
    df = pd.DataFrame({"tracklet_id": range(4), "person_id": [-1, -1, 5, 5], "camera_id": [1, 2, 1, 2]})
    q = choose_queries(df, seed=0)
    assert not q[:2].any() and q[2:].sum() == 1


@pytest.mark.parametrize("seed", range(40))
def test_every_query_has_an_answer_on_random_tables(seed):
    """Property: on any table, every query keeps a same-id gallery tracklet from another camera,
    as many queries as the rule allows, seeded and independent of row order."""
    rng = np.random.default_rng(1000 + seed)
    df = random_table(rng, n_ids=int(rng.integers(1, 40)), max_cams=int(rng.integers(2, 7)),
                      max_per_cam=int(rng.integers(1, 4)), junk=int(rng.integers(0, 5)))
    q = choose_queries(df, seed=seed)
    assert brute_force_answerable(df, q).all()
    assert not q[df.person_id.to_numpy() < 0].any()
    chosen = df[q]
    assert chosen.groupby(["person_id", "camera_id"]).size().le(1).all()
    real = df[df.person_id >= 0]
    for pid, g in real.groupby("person_id"):
        per_cam = g.groupby("camera_id").size()
        k, got = len(per_cam), int((chosen.person_id == pid).sum())
        if k == 1:
            assert got == 0
        else:  # k queries when two cameras keep a gallery tracklet anyway, else k - 1 (the most possible)
            assert got == (k if (per_cam >= 2).sum() >= 2 else k - 1)
    assert np.array_equal(q, choose_queries(df, seed=seed))
    perm = rng.permutation(len(df))
    assert np.array_equal(choose_queries(df.iloc[perm], seed=seed), q[perm])


def test_random_trials_are_permutations():
    t = random_trials([5, 3, 9, 1], 10, seed=0)
    assert t.shape == (10, 4)
    assert all(sorted(r) == [1, 3, 5, 9] for r in t.tolist())
