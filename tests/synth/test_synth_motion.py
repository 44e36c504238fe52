"""Walks: speed from cadence and step, stops, slots, and truth other MOT tools read."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from synth_helpers import SMALL, bare_camera, crossing

from lsvid.synth import SynthConfig, plan_footage, read_mot
from lsvid.synth.camera import sample_lighting
from lsvid.synth.motion import RAMP_S, kinematics


def test_a_walker_covers_the_path_at_cadence_times_step_length():
    spec = bare_camera(SMALL)
    v = crossing(spec, 1, float(spec.z_near * 1.5), step_hz=2.0, step_length_m=0.7)
    config = replace(SMALL, seconds=v.duration_s + 1)
    kin = kinematics(v, config.fps, config.num_frames)
    step = np.linalg.norm(np.diff(kin["xz"], axis=0), axis=1)
    assert step.mean() == pytest.approx(1.4 / config.fps, rel=1e-3)
    assert np.allclose(kin["xz"][-1], v.path[-1], atol=0.15)
    assert np.diff(kin["phase"]).mean() == pytest.approx(1.0 / config.fps, rel=1e-3)  # 2 steps/s = 1 cycle/s


def test_a_stop_holds_position_and_pose_for_its_duration():
    spec = bare_camera(SMALL)
    v = replace(crossing(spec, 1, float(spec.z_near * 1.5)), pause_at=0.5, pause_s=2.0)
    config = replace(SMALL, fps=25, seconds=v.duration_s + 1)
    kin = kinematics(v, config.fps, config.num_frames)
    still = kin["amp"] == 0
    assert still.sum() >= (2.0 - 0.1) * config.fps
    assert np.ptp(kin["xz"][still], axis=0).max() < 1e-9 and np.ptp(kin["phase"][still]) < 1e-9
    assert v.duration_s == pytest.approx(v.length_m / v.speed_mps + 2.0 + RAMP_S)
    assert np.allclose(kin["xz"][-1], v.path[-1], atol=0.1)


def test_people_keep_to_their_time_slot_and_slots_differ_in_light():
    config = SynthConfig(cameras=3, slots=3, identities=30, seconds=20, seed=2)
    plan = plan_footage(config)
    assert {v.slot for v in plan.visits} == {1, 2, 3}
    for v in plan.visits:
        assert v.slot == plan.slot_of[v.person_id]
    for p in plan.identities:
        if p.twin_of >= 0:
            assert plan.slot_of[p.person_id] == plan.slot_of[p.twin_of]
    cam = plan.cameras[0]
    lights = [sample_lighting(config, cam, s) for s in (1, 2, 3)]
    assert [lt.time_of_day for lt in lights] == ["morning", "noon", "afternoon"]
    assert len({lt.gain for lt in lights}) == 3


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # motmetrics 1.4 on pandas 3
def test_motmetrics_reads_the_truth_files(footage):
    mm = pytest.importorskip("motmetrics")
    root, manifest = footage
    entry = manifest["videos"][0]
    gt = mm.io.loadtxt(str(root / entry["truth"]), fmt="mot15-2D")
    ours = read_mot(root / entry["truth"])
    assert len(gt) == len(ours) == entry["boxes"]
    assert sorted(gt.index.get_level_values("Id").unique()) == sorted(ours["id"].unique())
    assert np.array_equal(gt["Width"].to_numpy(), ours["bb_width"].to_numpy())
    # motmetrics takes MOTChallenge boxes as 1-based and shifts them; ours are 0-based (footage.json says so).
    assert np.array_equal(gt["X"].to_numpy(), ours["bb_left"].to_numpy() - 1)
