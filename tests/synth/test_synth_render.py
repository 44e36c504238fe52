"""Pictures and their truth: boxes on the figures, visibility from masks, noise."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from synth_helpers import CLEAN, SMALL, bare_camera, crossing

from lsvid.synth import Occluder, SynthConfig, make_plan, open_video, plan_footage, read_mot, render_video
from lsvid.synth.motion import build_track


def _render_all(config: SynthConfig, camera: int, plan=None):
    r = open_video(config, camera, 1, plan=plan)
    return r, [r.render(f, labels=True) for f in range(r.num_frames)]


@pytest.fixture(scope="module")
def small_frames():
    plan = plan_footage(SMALL)
    return {c: _render_all(SMALL, c, plan) for c in (1, 2, 3)}


def test_every_box_is_inside_the_frame_and_on_the_drawn_figure(small_frames):
    W, H = SMALL.size
    checked = 0
    for renderer, frames in small_frames.values():
        for fr in frames:
            background = renderer.view.background(fr.index).astype(int)
            diff = np.abs(fr.image.astype(int) - background).max(axis=2)
            for _, pid, x, y, w, h, _, _, vis in fr.truth:
                assert x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= W and y + h <= H
                mine = fr.labels == pid
                ys, xs = np.nonzero(mine)
                # Every visible pixel of the person lies in their box ...
                assert len(xs) == 0 or (xs.min() >= x and xs.max() < x + w and ys.min() >= y and ys.max() < y + h)
                if vis >= 0.5:
                    # ... and the box is on drawn pixels that differ from the empty scene.
                    assert (diff[y:y + h, x:x + w] > 20).mean() > 0.1, (fr.index, pid)
                    checked += 1
                if vis == 1.0 and x > 0 and y > 0 and x + w < W and y + h < H:
                    # A fully visible person's pixels fill their box to within a pixel or two.
                    assert xs.min() - x <= 2 and x + w - 1 - xs.max() <= 2
                    assert ys.min() - y <= 2 and y + h - 1 - ys.max() <= 2
    assert checked > 200


def test_in_memory_truth_is_the_written_truth(footage):
    root, manifest = footage
    frames, truth = render_video(SMALL, 2, 1)
    assert frames.shape == (SMALL.num_frames, SMALL.height, SMALL.width, 3)
    entry = next(v for v in manifest["videos"] if v["camera"] == 2)
    written = read_mot(root / entry["truth"])
    assert truth.equals(written)


def test_sensor_noise_changes_from_frame_to_frame(small_frames):
    renderer, _ = small_frames[1]
    a, b = renderer.view.background(0).astype(int), renderer.view.background(1).astype(int)
    plate = renderer.view.plate.astype(int)
    assert 0.5 * renderer.spec.noise_sigma < (a - plate).std() < 2 * renderer.spec.noise_sigma
    assert np.abs(a - b).mean() > 0.5


def _person_mask(config, spec, visits, pid, frame):
    """Pixels of ``pid`` when drawn alone in ``spec`` (no other visits), from the label map."""
    r = open_video(config, spec.camera_id, 1, plan=make_plan(config, [spec], [v for v in visits if v.person_id == pid]))
    return r.render(frame, labels=True).labels == pid


def _fully_in_frame(row, config):
    _, _, x, y, w, h, *_ = row
    return x > 0 and y > 0 and x + w < config.width and y + h < config.height


def test_visibility_behind_an_occluder_matches_the_masks():
    spec0 = bare_camera(CLEAN)
    z_board = float(spec0.z_near + 0.4 * (spec0.z_far - spec0.z_near))
    board = Occluder("board", 0.0, z_board, 1.6, 0.3, 2.2, (40, 80, 140))
    spec = replace(spec0, occluders=(board,))
    walk = crossing(spec, 1, z_board + 1.5)
    plan = make_plan(CLEAN, [spec], [walk])
    renderer, frames = _render_all(CLEAN, 1, plan)
    occ = renderer.view.occluder_mask()
    alone = open_video(CLEAN, 1, 1, plan=make_plan(CLEAN, [spec0], [walk]))
    seen = []
    for fr in frames:
        for row in fr.truth:
            if not _fully_in_frame(row, CLEAN):
                continue
            full = alone.render(fr.index, labels=True).labels == 1
            expected = (full & ~occ).sum() / full.sum()
            assert row[-1] == pytest.approx(expected, abs=0.0011)
            # Where the board covers the person, the picture shows the board, not the person.
            hidden = full & occ
            assert np.array_equal(fr.image[hidden], renderer.view.plate[hidden])
            seen.append(row[-1])
    assert len(seen) > 20
    assert min(seen) < 0.6 and max(seen) == 1.0


def test_visibility_when_people_cross_matches_the_masks():
    spec = bare_camera(CLEAN)
    z_back, z_front = float(spec.z_far * 0.9), float(spec.z_near * 1.2)
    back = crossing(spec, 1, z_back)
    front = crossing(spec, 2, z_front, leftwards=True)
    # Time them to pass the middle of the view together.
    to_middle = lambda v: (abs(v.path[0][0])) / v.speed_mps  # noqa: E731
    front = replace(front, t_start=round(to_middle(back) - to_middle(front), 3))
    visits = [back, front]
    renderer, frames = _render_all(CLEAN, 1, make_plan(CLEAN, [spec], visits))
    overlapped = []
    for fr in frames:
        rows = {r[1]: r for r in fr.truth}
        if 1 not in rows or 2 not in rows or not (_fully_in_frame(rows[1], CLEAN) and _fully_in_frame(rows[2], CLEAN)):
            continue
        m1 = _person_mask(CLEAN, spec, visits, 1, fr.index)
        m2 = _person_mask(CLEAN, spec, visits, 2, fr.index)
        assert rows[1][-1] == pytest.approx((m1 & ~m2).sum() / m1.sum(), abs=0.0011)
        assert rows[2][-1] == 1.0  # the nearer person is never covered
        overlapped.append(rows[1][-1])
    assert overlapped and min(overlapped) < 0.8


def test_people_are_60_to_160_pixels_tall_at_640x360_far_ones_higher_in_the_frame():
    config = SynthConfig(identities=40, seconds=30)
    plan = plan_footage(config)
    heights, tops = [], []
    for v in plan.visits:
        tr = build_track(v, plan.person(v.person_id), plan.camera(v.camera_id), config.fps, config.num_frames)
        b = tr.clipped_boxes(*config.size)
        inside = (b[:, 0] > 0) & (b[:, 1] > 0) & (b[:, 0] + b[:, 2] < 640) & (b[:, 1] + b[:, 3] < 360)
        heights.append(b[inside, 3])
        tops.append(tr.foot[inside, 1])
    h, feet = np.concatenate(heights), np.concatenate(tops)
    assert h.min() >= 45 and h.max() <= 185
    assert 60 <= np.median(h) <= 140
    # Perspective: the lower the feet in the picture, the taller the person.
    assert np.corrcoef(h, feet)[0, 1] > 0.6
