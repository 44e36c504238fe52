from __future__ import annotations

from dataclasses import replace

from lsvid.synth import SynthConfig, sample_identities
from lsvid.synth.identity import TWIN_MIN_STEP_HZ, gaits_differ, twin_pairs


def test_twins_look_the_same_and_walk_differently():
    config = SynthConfig(identities=40, twins=0.5, seed=1)
    people = {p.person_id: p for p in sample_identities(config)}
    pairs = twin_pairs(config)
    assert len(pairs) == 10
    for a, b in pairs:
        assert people[a].twin_of == b and people[b].twin_of == a
        assert people[a].appearance == people[b].appearance
        assert gaits_differ(people[a].gait, people[b].gait)
        assert abs(people[a].gait.step_hz - people[b].gait.step_hz) >= TWIN_MIN_STEP_HZ
        assert people[a].gait.speed_mps != people[b].gait.speed_mps
    loners = [p for p in people.values() if p.twin_of < 0]
    assert len(loners) == 20
    # Without twins, nobody shares a look by accident.
    assert len({p.appearance for p in loners}) == len(loners)


def test_people_do_not_change_when_more_are_added():
    few = sample_identities(SynthConfig(identities=10, twins=0.0, seed=4))
    more = sample_identities(SynthConfig(identities=25, twins=0.0, seed=4))
    assert few == more[:10]


def test_seed_changes_people():
    a = sample_identities(SynthConfig(identities=5, seed=1))
    b = sample_identities(SynthConfig(identities=5, seed=2))
    assert [p.appearance for p in a] != [p.appearance for p in b]


def test_bodies_and_gaits_are_plausible():
    for p in sample_identities(replace(SynthConfig(), identities=200)):
        assert 1.5 <= p.appearance.height_m <= 1.96
        assert 0.7 <= p.gait.speed_mps <= 2.0
        assert 1.5 <= p.gait.step_hz <= 2.2
