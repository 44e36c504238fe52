"""Twins: the same look, told apart by gait, which the footage's boxes carry."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
from synth_helpers import CLEAN, bare_camera, crossing

from lsvid.synth import make_plan, open_video, plan_footage

GAIT_CLIP = replace(CLEAN, fps=25, seconds=9, twins=0.34)


def _walk(spec, person, z):
    return crossing(spec, person.person_id, z, step_hz=person.gait.step_hz, step_length_m=person.gait.step_length_m)


def _dominant_hz(x: np.ndarray, fps: float) -> float:
    x = x - np.convolve(x, np.ones(13) / 13, mode="same")  # drop the slow drift
    spec = np.abs(np.fft.rfft(x[6:-6] * np.hanning(len(x) - 12), 8192))
    freqs = np.fft.rfftfreq(8192, 1 / fps)
    band = (freqs > 1.0) & (freqs < 3.0)
    return float(freqs[band][np.argmax(spec[band])])


def test_twins_match_in_colour_and_differ_in_step_frequency_seen_in_the_boxes():
    plan = plan_footage(GAIT_CLIP)
    a, b = next((p, plan.person(p.twin_of)) for p in plan.identities if p.twin_of > p.person_id)
    spec = bare_camera(GAIT_CLIP)
    z = float(spec.z_near * 1.3)
    measured, colours = {}, {}
    for person in (a, b):
        r = open_video(GAIT_CLIP, 1, 1, plan=make_plan(GAIT_CLIP, [spec], [_walk(spec, person, z)]))
        widths, pixels = [], []
        for f in range(r.num_frames):
            fr = r.render(f, labels=True)
            for _, pid, x, _y, w, _h, *_ in fr.truth:
                if x > 0 and x + w < GAIT_CLIP.width:
                    widths.append(w)
                    pixels.append(fr.image[fr.labels == pid])
        assert len(widths) > 100
        measured[person.person_id] = _dominant_hz(np.asarray(widths, float), GAIT_CLIP.fps)
        colours[person.person_id] = np.concatenate(pixels).mean(axis=0)
    # The box width peaks once per step: its rhythm is the person's cadence ...
    for person in (a, b):
        assert abs(measured[person.person_id] - person.gait.step_hz) < 0.1
    # ... which separates the twins, while their colours agree.
    assert abs(measured[a.person_id] - measured[b.person_id]) > 0.15
    assert np.abs(colours[a.person_id] - colours[b.person_id]).max() < 4
