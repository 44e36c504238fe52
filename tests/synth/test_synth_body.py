"""The articulated figure: feet on the ground, limbs that swing with the gait phase."""
from __future__ import annotations

import numpy as np
import pytest

from lsvid.synth import SynthConfig, sample_identities
from lsvid.synth.body import ANKLE_H, HEAD_H, P, pose, program, view_of
from lsvid.synth.identity import Gait

PERSON = sample_identities(SynthConfig(identities=1, seed=2))[0]
GAIT = Gait(1.8, 0.75, 25.0)
PHASE = np.linspace(0, 2, 81)


def test_the_lower_foot_stays_on_the_ground_and_the_body_bobs():
    pts, _ = pose(PHASE, np.ones_like(PHASE), 1.0, 0.0, PERSON.appearance, GAIT)
    lower = np.minimum(pts[:, P["ankle_a"], 1], pts[:, P["ankle_b"], 1])
    assert np.allclose(lower, ANKLE_H)
    head = pts[:, P["head"], 1]
    assert head.max() <= HEAD_H + 1e-9 and head.max() - head.min() > 0.01  # dips with each step


def test_legs_swing_opposite_and_spread_by_the_step_length():
    pts, _ = pose(PHASE, np.ones_like(PHASE), 1.0, 0.0, PERSON.appearance, GAIT)
    # Foot positions relative to their hips (the legs hang a little apart even side-on).
    gap = (pts[:, P["ankle_b"], 0] - pts[:, P["hip_b"], 0]) - (pts[:, P["ankle_a"], 0] - pts[:, P["hip_a"], 0])
    assert gap.max() > 0.2 and gap.min() < -0.2 and abs(gap.max() + gap.min()) < 0.02
    # Two steps per gait cycle: the feet pass each other twice a cycle.
    assert np.count_nonzero(np.diff(np.sign(gap)) != 0) == 4
    # Feet apart by about the step length, in body heights.
    assert np.abs(gap).max() == pytest.approx(GAIT.step_length_m / PERSON.appearance.height_m, rel=0.3)
    arm = pts[:, P["wrist_a"], 0] - pts[:, P["sh_a"], 0]
    assert np.corrcoef(arm, pts[:, P["ankle_a"], 0])[0, 1] < -0.8  # arm a swings against leg a


def test_standing_still_brings_the_feet_together():
    pts, _ = pose(PHASE, np.zeros_like(PHASE), 1.0, 0.0, PERSON.appearance, GAIT)
    assert np.allclose(pts[:, P["ankle_a"], 0], pts[:, P["ankle_a"], 0][0])
    assert abs(pts[0, P["ankle_b"], 0] - pts[0, P["ankle_a"], 0]) < 0.05


def test_views_follow_the_walking_direction():
    assert view_of(1.0, 0.0) == view_of(-0.9, 0.3) == "side"
    assert view_of(0.2, -0.9) == "front" and view_of(0.2, 0.9) == "back"
    # The face shows from the front and the side, never from behind.
    assert any(op.kind == "ellipse" and not op.mask for op in program(PERSON.appearance, "front"))
    assert not any(op.kind == "ellipse" and not op.mask for op in program(PERSON.appearance, "back"))
