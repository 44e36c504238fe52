"""The camera network: who is seen where and when, against identities.csv and visits.csv."""
from __future__ import annotations

import pandas as pd
from synth_helpers import SMALL

from lsvid.synth import SynthConfig, plan_footage, read_truth
from lsvid.synth.identity import APPEARANCE_COLUMNS


def _tables(root):
    return pd.read_csv(root / "identities.csv"), pd.read_csv(root / "visits.csv"), read_truth(root)


def test_identities_csv_matches_who_the_truth_shows_where(footage):
    root, manifest = footage
    ids, _, truth = _tables(root)
    assert sorted(ids["person_id"]) == list(range(1, SMALL.identities + 1))
    seen = truth.groupby("id")["camera"].agg(lambda s: sorted(set(s)))
    for _, row in ids.iterrows():
        listed = sorted(int(c) for c in str(row["cameras"]).split()) if row["num_cameras"] else []
        assert listed == seen.get(row["person_id"], []), row["person_id"]
        assert row["num_cameras"] == len(listed)
        assert row["distractor"] == (len(listed) == 1)
    counts = manifest["counts"]
    assert counts["seen"] == truth["id"].nunique() == SMALL.identities
    assert counts["multi_camera"] == int((ids["num_cameras"] >= 2).sum()) > 0
    assert counts["distractors"] == int(ids["distractor"].sum())
    assert counts["boxes"] == len(truth)


def test_twin_pairs_are_marked_both_ways_and_alike_only_in_looks(footage):
    root, manifest = footage
    ids, _, _ = _tables(root)
    by_id = ids.set_index("person_id")
    twins = by_id[by_id["twin_of"] >= 0]
    assert len(twins) == 2 * manifest["counts"]["twin_pairs"] == 2 * round(SMALL.twins * SMALL.identities / 2)
    for pid, row in twins.iterrows():
        other = by_id.loc[row["twin_of"]]
        assert other["twin_of"] == pid
        assert (row[list(APPEARANCE_COLUMNS)] == other[list(APPEARANCE_COLUMNS)]).all()
        assert row["step_hz"] != other["step_hz"] and row["speed_mps"] != other["speed_mps"]
        assert row["slot"] == other["slot"]
        # Each twin's look-alike walks through at least one of the same cameras.
        assert set(row["planned_cameras"].split()) & set(other["planned_cameras"].split())


def test_visits_csv_gives_each_tracklet_its_frames(footage):
    root, _ = footage
    _, visits, truth = _tables(root)
    spans = truth.groupby(["id", "camera", "slot"])["frame"].agg(["min", "max", "count"])
    assert len(spans) == len(visits)
    for _, v in visits.iterrows():
        s = spans.loc[(v["person_id"], v["camera"], v["slot"])]
        assert (s["min"], s["max"], s["count"]) == (v["first_frame"], v["last_frame"], v["num_frames"])


def test_trips_move_on_after_a_transit_and_companions_keep_together():
    config = SynthConfig(cameras=4, identities=30, seconds=40, pairs=0.3, seed=11)
    plan = plan_footage(config)
    trips: dict[int, list] = {}
    for v in plan.visits:
        trips.setdefault(v.person_id, []).append(v)
    multi = 0
    for trip in trips.values():
        trip.sort(key=lambda v: v.order)
        assert len({v.camera_id for v in trip}) == len(trip)  # each camera at most once per trip
        for a, b in zip(trip, trip[1:]):
            assert b.t_start >= a.t_start + a.duration_s + 0.5 * config.transit_s[0]
        multi += len(trip) >= 2
    assert multi >= 15
    pairs = {(a, b) for a, b in plan.companion_of.items() if a < b}
    assert len(pairs) == round(config.pairs * config.identities / 2)
    for a, b in pairs:
        va = {(v.camera_id, v.t_start) for v in trips.get(a, [])}
        vb = {(v.camera_id, v.t_start) for v in trips.get(b, [])}
        assert va & vb  # they walk through the same cameras at the same moments


def test_several_people_share_the_view_and_occlude(footage):
    root, _ = footage
    truth = read_truth(root)
    per_frame = truth.groupby(["camera", "slot", "frame"])["id"].count()
    assert per_frame.max() >= 3
    assert (truth["visibility"] < 0.5).sum() > 0
    assert (truth["visibility"] == 1.0).mean() > 0.3
    assert ((truth["conf"] == 0) == (truth["visibility"] == 0)).all()
