"""Cutting tracklets where the person changes (lsvid.change_points, lsvid.filters.cut_mixed)."""
from __future__ import annotations

from collections import Counter

import numpy as np

from lsvid.change_points import best_cut, cut_where_look_changes, look_scale
from lsvid.embed import create_embedder
from lsvid.filters import FilterConfig, cut_mixed
from lsvid.footage import find_videos, read_frames
from lsvid.mot import read_truth


def _looks(rng: np.random.Generator, mean: np.ndarray, n: int, noise: float) -> np.ndarray:
    f = mean + noise * rng.standard_normal((n, len(mean)))
    return f / np.linalg.norm(f, axis=1, keepdims=True)


def _people(rng: np.random.Generator, k: int, dim: int = 32) -> list[np.ndarray]:
    return [m / np.linalg.norm(m) for m in rng.standard_normal((k, dim))]


def test_three_people_in_turn_give_three_pieces_at_the_switches():
    rng = np.random.default_rng(0)
    a, b, c = _people(rng, 3)
    seq = np.concatenate([_looks(rng, a, 40, 0.05), _looks(rng, b, 25, 0.05), _looks(rng, c, 30, 0.05)])
    pieces = cut_where_look_changes(seq, max_ratio=1.5, min_side=6)
    assert [(int(p[0]), int(p[-1])) for p in pieces] == [(0, 39), (40, 64), (65, 94)]


def test_one_person_drifting_slowly_is_not_cut_even_without_jitter():
    """A walk changes the look slowly (pose, distance, light); in clean video consecutive boxes barely
    jitter, so the drift beats the spread: the distance floor (a share of what tells two people
    apart) is what keeps the track whole."""
    rng = np.random.default_rng(1)
    a, b, c = _people(rng, 3)
    floor = 0.2 * look_scale(np.stack([a, b, c]))
    drift = np.linspace(0, 0.1, 200)[:, None]  # a tenth of the way towards someone else
    for noise in (0.05, 0.0):
        seq = (1 - drift) * a + drift * b + noise * rng.standard_normal((200, len(a)))
        seq /= np.linalg.norm(seq, axis=1, keepdims=True)
        pieces = cut_where_look_changes(seq, max_ratio=1.5, min_side=6, min_distance=floor)
        assert len(pieces) == 1 and pieces[0].tolist() == list(range(200))
    assert len(cut_where_look_changes(seq, max_ratio=1.5, min_side=6)) > 1  # the spread alone cuts it


def test_the_thresholds_do_not_depend_on_the_embedders_distance_scale():
    """The same switch seen by a descriptor whose distances are ten times smaller (jitter, change and
    the distance between people alike) is cut at the same box: both tests are relative."""
    rng = np.random.default_rng(2)
    a, b = _people(rng, 2, dim=64)
    base = np.concatenate([_looks(rng, a, 30, 0.0), _looks(rng, b, 30, 0.0)])
    noise = rng.standard_normal(base.shape)
    centre = a + b
    for scale in (1.0, 0.1):
        shrunk = centre + scale * (base - centre) + scale * 0.3 * noise / np.sqrt(base.shape[1])
        seq = shrunk / np.linalg.norm(shrunk, axis=1, keepdims=True)
        floor = 0.2 * look_scale(np.stack([seq[:30].mean(0), seq[30:].mean(0)]))
        assert best_cut(seq, 6)[0] == 30
        assert [len(p) for p in cut_where_look_changes(seq, 1.5, 6, floor)] == [30, 30]


def test_off_short_and_empty_sequences_stay_whole():
    rng = np.random.default_rng(3)
    a, b = _people(rng, 2)
    seq = np.concatenate([_looks(rng, a, 20, 0.05), _looks(rng, b, 20, 0.05)])
    assert [len(p) for p in cut_where_look_changes(seq, 0, 6)] == [40]  # 0: off
    assert [len(p) for p in cut_where_look_changes(seq[:11], 1.5, 6)] == [11]  # no cut leaves 6 each side
    assert best_cut(seq[:11], 6) is None
    assert [len(p) for p in cut_where_look_changes(seq[:0], 1.5, 6)] == [0]


def test_cut_mixed_keeps_long_pieces_and_counts_the_rest():
    rng = np.random.default_rng(4)
    a, b, c = _people(rng, 3)
    mixed = np.concatenate([_looks(rng, a, 30, 0.05), _looks(rng, b, 8, 0.05), _looks(rng, c, 30, 0.05)])
    pure = _looks(rng, a, 20, 0.05)
    keep = [np.arange(68), np.arange(20), np.arange(0)]  # the third track lost every box to the filters
    counts = Counter(tracklets_kept=2)
    out = cut_mixed(keep, [mixed, pure, pure[:0]], FilterConfig(min_length=16), counts)
    assert [(t, int(k[0]), int(k[-1])) for t, k in out] == [(0, 0, 29), (0, 38, 67), (1, 0, 19)]
    assert counts["tracklets_cut"] == 2 and counts["boxes_in_short_pieces"] == 8 and counts["tracklets_kept"] == 3


def test_cut_finds_a_switch_between_two_rendered_people(small_footage):
    """Real rendered crops through the real descriptor: the boxes of one person, then another's, as a
    tracker that swapped them would hand over; the cut falls at the swap, and neither person's boxes
    alone are cut.  Boxes as the filters leave them (inside the frame, the person in full view); the
    distance floor as curation sets it, from the looks of everyone in the video."""
    video = next(v for v in find_videos(small_footage) if v.camera == "cam01")
    gt = read_truth(video.truth)
    x, y, w, h = (gt[c] for c in ("bb_left", "bb_top", "bb_width", "bb_height"))
    gt = gt[(gt["visibility"] >= 0.9) & (x >= 2) & (y >= 2) & (x + w <= 638) & (y + h <= 358)]
    emb = create_embedder("colour_texture")
    looks: dict[int, list[np.ndarray]] = {int(i): [] for i in gt["id"].unique()}
    for f, img in read_frames(video, indices=sorted({int(f) - 1 for f in gt["frame"]})):
        for r in gt[gt["frame"] == f + 1].itertuples():
            box = np.array([[r.bb_left, r.bb_top, r.bb_width, r.bb_height, 1.0]], np.float32)
            looks[int(r.id)].append(emb.embed(img, box)[0])
    floor = FilterConfig().cut_share * look_scale(np.stack([np.mean(v, axis=0) for v in looks.values()]))
    ids = [i for i, v in looks.items() if len(v) >= 30][:2]
    assert len(ids) == 2
    first, second = (np.stack(looks[i][:30]) for i in ids)
    for alone in (first, second):
        assert len(cut_where_look_changes(alone, 1.5, 6, floor)) == 1
    pieces = cut_where_look_changes(np.concatenate([first, second]), 1.5, 6, floor)
    assert len(pieces) == 2 and abs(len(pieces[0]) - 30) <= 2, [len(p) for p in pieces]
