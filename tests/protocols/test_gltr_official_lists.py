"""``lsvid convert`` of MARS and DukeMTMC-VideoReID against the official tracklet lists of the GLTR release.

The lists (``../shared/data/native/gltr_official_lists``, see its README) and the MARS kit's
``.mat`` tables (``../shared/data/native/mars_info``) are real material read where they lie and
never copied into the project; the tests skip, naming the file, where they are absent.  The images
are not available, so each test writes a native-layout tree *from the lists* in a temporary folder:
tiny placeholder JPEGs (hard links to one 1x1 JPEG, named as the release names its frames) under the
release's folders.  The lists are parsed here, by the tests themselves, and everything our reader
produces is compared with them -- never with numbers our own reader computed.

* Duke: the frames of a tracklet are not cross-checked against any table, so each tracklet gets one
  or two frames.  The Duke train list is not in the release; ``train/`` holds one placeholder
  tracklet (the reader needs the folder) and is not checked.
* MARS: the reader slices ``info/{train,test}_name.txt`` by the ``(first, last)`` rows of the real
  ``tracks_*_info.mat`` and requires every listed frame on disk, so the tree holds the true
  1,191,003 frames (``F001..Fn`` per tracklet, ``n`` from the ``.mat``), hard links to a few
  1x1 JPEGs, written to ``/dev/shm`` where it has room (on 2 shared cores: about 13 s to write,
  10 s to convert, 7 s to remove; the MARS tests are marked ``slow``).
  The frame names are built from list row i and the ``.mat`` row i; the reader refuses a row
  whose frames name another person or camera than its table row, so the tree itself checks the
  list/table row correspondence as well.
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import scipy.io
from click.testing import CliRunner
from real_material import need

from lsvid.cli import main
from protocols import read_dataset
from protocols.evaluation import evaluate_dataset, query_check, ranked_gallery

GLTR = "native/gltr_official_lists"
MARS_INFO = "native/mars_info"

# The README of the lists and the MARS / DukeMTMC-VideoReID papers give these; the tests check them
# against the parsed lists first, then the converted dataset against the lists.
MARS_TRAIN_PER_CAMERA = {1: 1816, 2: 1957, 3: 1321, 4: 750, 5: 1880, 6: 574}
MARS_TEST_PER_CAMERA = {1: 2271, 2: 3725, 3: 1495, 4: 1024, 5: 2240, 6: 1425}


# ----------------------------------------------------------------------------------- the lists


MARS_LINE = re.compile(r"(?P<folder>\d{4}|00-1)/(?P<name_pid>\d{4}|00-1)C(?P<cam>\d)T(?P<trk>\d{4}) (?P<label>\d+)")
DUKE_LINE = re.compile(r"(?P<split>query|gallery)/(?P<pid>\d{4})/(?P<trk>\d{4}) (?P<label>\d+)")


def mars_list(path: Path) -> list[tuple[str, int, int, int]]:
    """``(folder, person id, camera, tracklet)`` per line; person id -1 for ``00-1``, 0 for ``0000``."""
    rows = []
    for i, line in enumerate(path.read_text().splitlines()):
        m = MARS_LINE.fullmatch(line)
        assert m is not None, f"{path} line {i + 1}: {line!r}"
        assert m["folder"] == m["name_pid"], f"{path} line {i + 1}: folder and name disagree"
        pid = -1 if m["folder"] == "00-1" else int(m["folder"])
        rows.append((m["folder"], pid, int(m["cam"]), int(m["trk"])))
    return rows


def duke_lists(gltr: Path) -> list[dict]:
    """The 3,338 rows of ``info_test.txt`` beside ``list_duke_query_gallery.txt``, each checked against the other."""
    info = [tuple(map(int, ln.split())) for ln in (gltr / "Duke_test/data/info_test.txt").read_text().splitlines()]
    names = (gltr / "Duke_test/data/list_duke_query_gallery.txt").read_text().splitlines()
    assert len(info) == len(names) == 3338
    rows = []
    for i, ((first, last, pid, cam), line) in enumerate(zip(info, names)):
        m = DUKE_LINE.fullmatch(line)
        assert m is not None, f"list_duke_query_gallery.txt line {i + 1}: {line!r}"
        assert int(m["pid"]) == pid, f"row {i + 1}: the two files name different persons"
        assert m["split"] == ("query" if i < 702 else "gallery"), f"row {i + 1}"
        rows.append({"split": m["split"], "pid": pid, "cam": cam, "trk": int(m["trk"]), "first": first, "last": last})
    return rows


def mat(path: Path, var: str) -> np.ndarray:
    return np.asarray(scipy.io.loadmat(str(path))[var], dtype=np.int64)


# ------------------------------------------------------------------------------ tree building


class Placeholders:
    """Frame files as hard links to a few 1x1 JPEGs under ``src`` (same file system as the tree).

    ext4 allows 65,000 links per file, so a new source is started every 50,000 links; where the
    file system refuses hard links the JPEG's bytes are written instead.
    """

    PER_SOURCE = 50_000

    def __init__(self, src: Path):
        ok, buf = cv2.imencode(".jpg", np.zeros((1, 1, 3), np.uint8))
        assert ok
        self.data = buf.tobytes()
        self.src = src
        src.mkdir(parents=True)
        self.sources = 0
        self.current = self._new_source()
        try:
            os.link(self.current, src / "probe.jpg")
            os.unlink(src / "probe.jpg")
            self.links = True
        except OSError:
            self.links = False

    def _new_source(self) -> str:
        self.sources += 1
        self.count = 0
        p = self.src / f"frame{self.sources}.jpg"
        p.write_bytes(self.data)
        return str(p)

    def put(self, folder: str, names: list[str]) -> None:
        """``folder/name`` for each of ``names`` (the loop a million-frame tree spends its time in)."""
        if not self.links:
            for nm in names:
                with open(f"{folder}/{nm}", "wb") as f:
                    f.write(self.data)
            return
        if self.count + len(names) > self.PER_SOURCE:
            self.current = self._new_source()
        link, cur = os.link, self.current
        for nm in names:
            try:
                link(cur, f"{folder}/{nm}")
            except OSError as e:  # a file system with a lower link limit
                if e.errno != errno.EMLINK:
                    raise
                cur = self.current = self._new_source()
                link(cur, f"{folder}/{nm}")
        self.count += len(names)


def scratch_base(tmp_path_factory, name: str) -> Path:
    """A fresh folder for a large tree: in /dev/shm (tmpfs, several times faster) when it has room."""
    shm = Path("/dev/shm")
    try:
        if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > (2 << 30):
            return Path(tempfile.mkdtemp(prefix=f"lsvid-{name}-", dir=shm))
    except OSError:
        pass
    return tmp_path_factory.mktemp(name)


def remove_tree(path: Path) -> None:
    """``rm -rf``: a million-file tree goes several times faster than through ``shutil.rmtree``."""
    if shutil.which("rm"):
        subprocess.run(["rm", "-rf", "--", str(path)], check=False)
    shutil.rmtree(path, ignore_errors=True)


def convert_cli(dataset: str, root: Path, out: Path):
    r = CliRunner().invoke(main, ["convert", "--dataset", dataset, "--root", str(root), "--out", str(out)])
    assert r.exit_code == 0, r.output + (repr(r.exception) if r.exception else "")
    return r.output


def first_frames(ds, rows) -> list[str]:
    """The first frame path of each of ``rows`` (tracklet table rows), from frames.parquet."""
    fr = ds.frames
    first = fr[fr["frame_index"] == 0].set_index("tracklet_id")["path"]
    return first.loc[rows["tracklet_id"].to_numpy()].astype(str).tolist()


# ------------------------------------------------------------------------- the official rule


def official_scores(qf, qp, qc, gf, gp, gc, junk_pids=()):
    """Per query (AP, first match rank) under the rule of the official scripts, written out plainly.

    ``test_mars.m`` / ``test_duke.m``: good = gallery items of the query's id seen by another camera;
    junk (dropped before ranking, taking no position) = items of the query's id seen by its own
    camera, and for MARS every item of id -1.  Distances are Euclidean; AP is the mean precision at
    each good item (the ``torchreid`` variant, asked of our evaluation explicitly).
    """
    ap = np.full(len(qp), np.nan)
    rank = np.zeros(len(qp), np.int64)
    junk_id = np.isin(gp, np.asarray(junk_pids, np.int64))
    for i in range(len(qp)):
        d = ((gf - qf[i]) ** 2).sum(axis=1)
        order = np.argsort(d, kind="stable")
        good = (gp == qp[i]) & (gc != qc[i])
        junk = ((gp == qp[i]) & (gc == qc[i])) | junk_id
        kept = order[~junk[order]]
        hits = np.flatnonzero(good[kept])
        if len(hits):
            rank[i] = hits[0] + 1
            ap[i] = np.mean(np.arange(1, len(hits) + 1) / (hits + 1))
    return ap, rank


# ==================================================================================== DukeMTMC


DUKE_FRAME = re.compile(r"(?P<split>train|query|gallery)/(?P<pid>\d{4})/(?P<trk>\d{4})/(?P=pid)_C(?P<cam>\d)_F\d{4}_X\d+\.jpg")


@pytest.fixture(scope="module")
def duke(tmp_path_factory):
    """(official rows, converted dataset, CLI output) of a Duke tree written from the official lists."""
    rows = duke_lists(need(GLTR))
    base = tmp_path_factory.mktemp("dukev")
    root = base / "DukeMTMC-VideoReID"
    jpg = Placeholders(base / "src")
    for r in rows:
        folder = root / r["split"] / f"{r['pid']:04d}" / f"{r['trk']:04d}"
        folder.mkdir(parents=True)
        n = min(2, r["last"] - r["first"] + 1)  # one or two frames per tracklet
        jpg.put(str(folder), [f"{r['pid']:04d}_C{r['cam']}_F{k + 1:04d}_X{r['first'] + k:05d}.jpg" for k in range(n)])
    # not in the release's lists: one placeholder train tracklet, as the reader needs the folder
    (root / "train/0001/0001").mkdir(parents=True)
    jpg.put(str(root / "train/0001/0001"), ["0001_C1_F0001_X00001.jpg"])
    output = convert_cli("dukev", base, base / "converted")
    return rows, read_dataset(base / "converted"), output


def duke_keys(ds, split):
    """``(pid, camera, tracklet folder)`` per tracklet of ``split``, in tracklets.parquet order, checked against its path."""
    rows = ds.split(split)
    keys = []
    for path, pid, cam in zip(first_frames(ds, rows), rows["person_id"].tolist(), rows["camera_id"].tolist()):
        m = DUKE_FRAME.fullmatch(path)
        assert m is not None and m["split"] == split and int(m["pid"]) == pid and int(m["cam"]) == cam, path
        keys.append((pid, cam, int(m["trk"])))
    return keys


def test_duke_lists_are_the_official_test_set():
    """The lists themselves: the release's 702 queries (one per id) and 2,636 gallery tracklets of 1,110 ids."""
    rows = duke_lists(need(GLTR))
    q = [r for r in rows if r["split"] == "query"]
    g = [r for r in rows if r["split"] == "gallery"]
    assert len(q) == 702 and len({r["pid"] for r in q}) == 702
    assert len(g) == 2636 and len({r["pid"] for r in g}) == 1110
    assert len({r["pid"] for r in g} - {r["pid"] for r in q}) == 408
    assert len({r["trk"] for r in g}) == 2636 and {r["trk"] for r in q} <= {r["trk"] for r in g}
    gal = {r["trk"]: r for r in g}
    for r in q:  # a query tracklet is in the gallery too, same person, camera and frames
        twin = gal[r["trk"]]
        assert (twin["pid"], twin["cam"], twin["last"] - twin["first"]) == (r["pid"], r["cam"], r["last"] - r["first"])
    assert {r["cam"] for r in rows} == set(range(1, 9))


def test_duke_query_and_gallery_are_the_official_rows(duke):
    """Query = rows 1-702, gallery = rows 703-3,338: same (pid, camera, tracklet folder), in the same order.

    Our reader lists each split by sorted (identity folder, tracklet folder); the release's list is in
    that order too, so the order is compared row by row.
    """
    rows, ds, output = duke
    want_q = [(r["pid"], r["cam"], r["trk"]) for r in rows if r["split"] == "query"]
    want_g = [(r["pid"], r["cam"], r["trk"]) for r in rows if r["split"] == "gallery"]
    assert duke_keys(ds, "query") == want_q
    assert duke_keys(ds, "gallery") == want_g
    assert ds.protocol.name == "dukev" and ds.protocol.junk_pids == () and ds.protocol.same_camera_excluded
    c = ds.meta["counts"]
    assert c["query"]["tracklets"] == len(want_q) and c["query"]["identities"] == len({k[0] for k in want_q})
    assert c["gallery"]["tracklets"] == len(want_g) and c["gallery"]["identities"] == len({k[0] for k in want_g})
    assert ds.meta["reader"]["info"]["distractor_identities"] == len({k[0] for k in want_g} - {k[0] for k in want_q})
    assert "query" in output and "gallery" in output


def test_duke_query_tracklets_are_also_gallery_items(duke):
    """As released: each query tracklet is also a gallery row of its own (no shared source_id), so the
    protocol scores 702 queries against 2,636 gallery items, the query's own copy being junk (same
    person, same camera)."""
    rows, ds, _ = duke
    tr = ds.tracklets
    assert "source_id" not in tr.columns or tr["source_id"].isna().all()
    gal = set(duke_keys(ds, "gallery"))
    assert all(k in gal for k in duke_keys(ds, "query"))
    q = [r for r in rows if r["split"] == "query"]
    g = [r for r in rows if r["split"] == "gallery"]
    answerable = sum(any(x["pid"] == r["pid"] and x["cam"] != r["cam"] for x in g) for r in q)
    check = query_check(tr, ds.protocol.junk_pids)
    assert (check["queries"], check["gallery"], check["answerable"]) == (len(q), len(g), answerable)
    assert ds.meta["counts"]["protocol_check"]["answerable"] == answerable


def test_duke_each_query_keeps_the_official_good_and_junk(duke):
    """With equal features every kept gallery item ties, so the ranking lists each query's kept items
    in gallery order: they must be the gallery minus the official junk (same id, same camera), and
    the same-id ones among them the official good set (same id, other camera)."""
    rows, ds, _ = duke
    q = [r for r in rows if r["split"] == "query"]
    g = [r for r in rows if r["split"] == "gallery"]
    gtid = ds.split("gallery")["tracklet_id"].to_numpy()  # gallery row j of the list <-> gtid[j] (order checked above)
    rg = ranked_gallery(ds, np.zeros((len(ds.tracklets), 4)), len(g))
    assert len(rg.query_row) == sum(any(x["pid"] == r["pid"] and x["cam"] != r["cam"] for x in g) for r in q)
    qpos = {int(t): i for i, t in enumerate(ds.split("query")["tracklet_id"].tolist())}
    for tid, tids, pids in zip(rg.query_tracklet_id.tolist(), rg.gallery_tracklet_id, rg.gallery_pid):
        r = q[qpos[tid]]
        kept = [j for j, x in enumerate(g) if not (x["pid"] == r["pid"] and x["cam"] == r["cam"])]
        good = [j for j in kept if g[j]["pid"] == r["pid"]]
        listed = tids >= 0
        assert tids[listed].tolist() == gtid[kept].tolist()
        assert tids[listed & (pids == r["pid"])].tolist() == gtid[good].tolist()
        assert (pids[~listed] == -1).all()


def test_duke_scores_equal_the_official_rule(duke):
    """Random features given per *list row* (as the official features are written): our evaluation's
    per-query AP and first-match rank equal the official rule applied to the lists."""
    rows, ds, _ = duke
    rng = np.random.default_rng(0)
    f = rng.standard_normal((len(rows), 16))
    q = [i for i, r in enumerate(rows) if r["split"] == "query"]
    g = [i for i, r in enumerate(rows) if r["split"] == "gallery"]
    lab = lambda idx, k: np.array([rows[i][k] for i in idx])  # noqa: E731
    ap, rank = official_scores(f[q], lab(q, "pid"), lab(q, "cam"), f[g], lab(g, "pid"), lab(g, "cam"))
    feats = np.zeros((len(ds.tracklets), 16))
    feats[ds.split("query")["tracklet_id"].to_numpy()] = f[q]
    feats[ds.split("gallery")["tracklet_id"].to_numpy()] = f[g]
    res = evaluate_dataset(ds, feats, ap="torchreid")[0].result
    assert res.num_queries == 702 and res.num_valid_queries == int(np.isfinite(ap).sum())
    np.testing.assert_array_equal(res.first_match_rank, rank)
    np.testing.assert_allclose(res.ap, ap, rtol=0, atol=1e-12)


# ======================================================================================== MARS


MARS_FRAME = re.compile(r"(?P<home>bbox_train|bbox_test)/(?P<folder>\d{4}|00-1)/(?P=folder)C(?P<cam>\d)T(?P<trk>\d{4})F\d{3}\.jpg")


def mars_material():
    gltr, info = need(GLTR), need(MARS_INFO)
    train = mars_list(gltr / "list_train_seq.txt")
    test = mars_list(gltr / "ex_feat/list_test_seq.txt")
    tables = {
        "train": mat(info / "tracks_train_info.mat", "track_train_info"),
        "test": mat(info / "tracks_test_info.mat", "track_test_info"),
        "query": mat(info / "query_IDX.mat", "query_IDX").ravel(),
    }
    return info, train, test, tables


def test_mars_lists_match_the_kit_tables_row_by_row():
    """List row i and ``tracks_*_info.mat`` row i name the same person (-1 for 00-1) and camera; the
    lists hold the official counts."""
    _, train, test, t = mars_material()
    for rows, table in ((train, t["train"]), (test, t["test"])):
        assert len(rows) == len(table)
        assert [(p, c) for _, p, c, _ in rows] == list(map(tuple, table[:, 2:4].tolist()))
        assert table[0, 0] == 1 and (table[1:, 0] == table[:-1, 1] + 1).all()  # contiguous name ranges
    assert len(train) == 8298 and len({r[1] for r in train}) == 625
    assert dict(Counter(r[2] for r in train)) == MARS_TRAIN_PER_CAMERA
    assert len(test) == 12180 and len({r[0] for r in test}) == 636
    assert dict(Counter(r[2] for r in test)) == MARS_TEST_PER_CAMERA
    assert sum(r[0] == "0000" for r in test) == 3248 and sum(r[0] == "00-1" for r in test) == 870
    q = t["query"]
    assert len(q) == 1980 and len(set(q.tolist())) == 1980 and q.min() >= 1 and q.max() <= len(test)
    assert not any(test[i - 1][1] in (0, -1) for i in q)  # queries are real identities


@pytest.fixture(scope="module")
def mars(tmp_path_factory):
    """(train rows, test rows, tables, converted dataset) of a full MARS tree written from the lists and tables."""
    info, train, test, tables = mars_material()
    base = scratch_base(tmp_path_factory, "mars")
    try:
        root = base / "MARS"
        (root / "info").mkdir(parents=True)
        for f in ("tracks_train_info.mat", "tracks_test_info.mat", "query_IDX.mat"):
            os.symlink(info / f, root / "info" / f)  # the kit's files, linked, never copied
        jpg = Placeholders(base / "src")
        for rows, table, home, names in ((train, tables["train"], "bbox_train", "train_name.txt"), (test, tables["test"], "bbox_test", "test_name.txt")):
            assert len(rows) == len(table)
            lines = []
            made = set()
            for (folder, _, cam, trk), (first, last, _, _) in zip(rows, table.tolist()):
                d = root / home / folder
                if folder not in made:
                    d.mkdir(parents=True)
                    made.add(folder)
                frames = [f"{folder}C{cam}T{trk:04d}F{k:03d}.jpg" for k in range(1, last - first + 2)]
                jpg.put(str(d), frames)
                lines += frames
            assert len(lines) == table[-1, 1]
            (root / "info" / names).write_text("\n".join(lines) + "\n")
        out = tmp_path_factory.mktemp("mars_converted") / "mars"
        convert_cli("mars", base, out)
        ds = read_dataset(out)
    except BaseException:
        remove_tree(base)
        raise
    yield train, test, tables, ds
    remove_tree(base)


def mars_keys(ds, split):
    """``(folder, pid, camera, tracklet)`` per tracklet of ``split`` in tracklets.parquet order, checked against its path."""
    rows = ds.split(split)
    home = "bbox_train" if split == "train" else "bbox_test"
    keys = []
    for path, pid, cam in zip(first_frames(ds, rows), rows["person_id"].tolist(), rows["camera_id"].tolist()):
        m = MARS_FRAME.fullmatch(path)
        assert m is not None and m["home"] == home and int(m["cam"]) == cam, path
        assert pid == (-1 if m["folder"] == "00-1" else int(m["folder"])), path
        keys.append((m["folder"], pid, cam, int(m["trk"])))
    return keys


@pytest.mark.slow
def test_mars_train_is_list_train_seq(mars):
    """The 8,298 train tracklets of list_train_seq.txt, in its order, 625 ids, the official per-camera counts,
    each as long as its ``.mat`` row says."""
    train, _, tables, ds = mars
    assert mars_keys(ds, "train") == train
    tr = ds.split("train")
    assert tr["person_id"].nunique() == len({r[1] for r in train}) == 625
    assert dict(Counter(tr["camera_id"].tolist())) == dict(Counter(r[2] for r in train)) == MARS_TRAIN_PER_CAMERA
    t = tables["train"]
    np.testing.assert_array_equal(tr["num_frames"].to_numpy(), t[:, 1] - t[:, 0] + 1)
    np.testing.assert_array_equal(tr["source_id"].to_numpy(), np.arange(len(train)))


@pytest.mark.slow
def test_mars_gallery_is_list_test_seq_in_its_order(mars):
    """The gallery is the whole test set: the 12,180 rows of list_test_seq.txt in its order (the order of
    the official features), 0000 as distractor id 0 and 00-1 as junk id -1, as the protocol lists them."""
    train, test, tables, ds = mars
    assert mars_keys(ds, "gallery") == test
    g = ds.split("gallery")
    assert dict(Counter(g["camera_id"].tolist())) == dict(Counter(r[2] for r in test)) == MARS_TEST_PER_CAMERA
    assert (g["person_id"] == 0).sum() == sum(r[0] == "0000" for r in test) == 3248
    assert (g["person_id"] == -1).sum() == sum(r[0] == "00-1" for r in test) == 870
    assert g["person_id"].nunique() == 636
    p = ds.protocol
    assert p.junk_pids == (-1,) and p.distractor_pids == (0,) and p.same_camera_excluded
    info = ds.meta["reader"]["info"]
    assert info["distractor_tracklets_in_gallery"] == 3248 and info["junk_tracklets_in_gallery"] == 870
    t = tables["test"]
    np.testing.assert_array_equal(g["num_frames"].to_numpy(), t[:, 1] - t[:, 0] + 1)
    # row i of the list (and of tracks_test_info.mat) is the gallery item with source_id n_train + i
    np.testing.assert_array_equal(g["source_id"].to_numpy(), len(train) + np.arange(len(test)))


@pytest.mark.slow
def test_mars_query_is_query_idx(mars):
    """The 1,980 queries are the rows query_IDX.mat names, in its order, each also in the gallery (same source_id)."""
    train, test, tables, ds = mars
    qidx = tables["query"]
    assert mars_keys(ds, "query") == [test[i - 1] for i in qidx]
    q, g = ds.split("query"), ds.split("gallery")
    np.testing.assert_array_equal(q["source_id"].to_numpy(), len(train) + qidx - 1)
    twin = g.set_index("source_id").loc[q["source_id"].to_numpy()]
    np.testing.assert_array_equal(twin["person_id"].to_numpy(), q["person_id"].to_numpy())
    np.testing.assert_array_equal(twin["camera_id"].to_numpy(), q["camera_id"].to_numpy())
    np.testing.assert_array_equal(twin["num_frames"].to_numpy(), q["num_frames"].to_numpy())
    c = ds.meta["counts"]
    assert c["query"]["tracklets"] == 1980 and c["gallery"]["tracklets"] == 12180
    assert c["total"]["tracklets"] == len(train) + len(test)  # a query is one sequence, listed twice
    qp = np.array([test[i - 1][1] for i in qidx])
    qc = np.array([test[i - 1][2] for i in qidx])
    gp = np.array([r[1] for r in test])
    gc = np.array([r[2] for r in test])
    answerable = sum(bool(((gp == p) & (gc != c)).any()) for p, c in zip(qp, qc))
    check = query_check(ds.tracklets, ds.protocol.junk_pids)
    assert (check["queries"], check["gallery"], check["answerable"]) == (1980, 12180, answerable)


@pytest.mark.slow
def test_mars_scores_equal_the_official_rule(mars):
    """Random features given per row of list_test_seq.txt: our evaluation's per-query AP and first-match
    rank equal the official rule (junk = same id same camera, and every -1; 0 a negative) on the lists."""
    train, test, tables, ds = mars
    rng = np.random.default_rng(1)
    f = rng.standard_normal((len(test), 16))
    qrow = tables["query"] - 1
    gp = np.array([r[1] for r in test])
    gc = np.array([r[2] for r in test])
    ap, rank = official_scores(f[qrow], gp[qrow], gc[qrow], f, gp, gc, junk_pids=(-1,))
    # our tracklets get the feature of their list row, found from their frame paths, not their order
    row_of = {(r[0], r[2], r[3]): i for i, r in enumerate(test)}
    feats = np.zeros((len(ds.tracklets), 16))
    for split in ("query", "gallery"):
        tids = ds.split(split)["tracklet_id"].to_numpy()
        feats[tids] = f[[row_of[(k[0], k[2], k[3])] for k in mars_keys(ds, split)]]
    res = evaluate_dataset(ds, feats, ap="torchreid")[0].result
    assert res.num_queries == 1980 and res.num_valid_queries == int(np.isfinite(ap).sum())
    np.testing.assert_array_equal(res.first_match_rank, rank)
    np.testing.assert_allclose(res.ap, ap, rtol=0, atol=1e-12)
