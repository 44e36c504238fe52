"""The default pipeline (the bundled ``synthetic`` detector, no download) on footage it was neither
trained nor tuned on: how clean its tracklets are."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from lsvid.cli import main
from lsvid.synth import SynthConfig, generate_footage
from protocols import read_dataset


@pytest.fixture(scope="module")
def unseen_footage(tmp_path_factory):
    """Two cameras, 10 people, 10 s: a seed (105) no other test, tuning or training run used."""
    root = tmp_path_factory.mktemp("default") / "footage"
    generate_footage(root, SynthConfig(cameras=2, identities=10, seconds=10, size=(640, 360), seed=105), progress=False)
    return root


def test_default_curation_gives_clean_tracklets(unseen_footage, tmp_path):
    r = CliRunner().invoke(main, ["curate", str(unseen_footage), "--out", str(tmp_path / "ds"), "--evaluate", "--quiet"])
    assert r.exit_code == 0, r.output
    ds = read_dataset(tmp_path / "ds", frames=False)
    q = ds.meta["quality"]
    assert ds.meta["build"]["config"]["detector"] == "synthetic"
    tl = ds.tracklets
    shown = tl[tl["split"].isin(["query", "gallery"])]
    junk = float((shown["person_id"] == -1).mean())
    # Issue 12's targets: detection recall and precision >= 0.90, IDF1 >= 0.85, mean tracklet
    # purity >= 0.95, <= 5 % of query+gallery tracklets junk.  Measured (lsvid curate FOOTAGE --out
    # DS --evaluate): recall 0.930, precision 0.992, IDF1 0.936, purity 0.993, junk 0 of 7 (the
    # truth boxes through the same tracker: IDF1 0.98, purity 1.0).  Held at the targets themselves.
    assert q["detection_recall"] >= 0.90 and q["detection_precision"] >= 0.90
    assert q["idf1"] >= 0.85
    assert q["tracklet_purity"] >= 0.95
    assert junk <= 0.05
    assert len(shown) >= 5
