"""``--blur-faces``: OpenCV's Haar cascades on real faces (ultralytics' zidane.jpg and bus.jpg), the
head-region fallback of small crops, what the cascades cannot see on CCTV-sized people (PETS 2009, from
../shared/data, skipped without it), and ``lsvid curate --blur-faces`` end to end."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from lsvid import faces
from lsvid.cli import main
from lsvid.shard import _faces, blur_faces
from lsvid_core.errors import MissingDependencyError

#: x, y, w, h of the two faces of zidane.jpg (Ancelotti's, frontal; Zidane's, turned and shouting)
ZIDANE_FACES = [(918, 108, 152, 152), (584, 277, 125, 125)]
ANCELOTTI = (751, 45, 394, 661)  # his person box
#: the two pedestrians of bus.jpg facing the camera, and the one whose head is turned
BUS_FACING = [(50, 398, 191, 507), (224, 408, 117, 449)]
BUS_TURNED = (671, 380, 135, 500)


def asset(name: str) -> np.ndarray:
    import ultralytics

    path = Path(ultralytics.__file__).parent / "assets" / name
    if not path.is_file():
        pytest.skip(f"{path}: not shipped with this ultralytics")
    return cv2.imread(str(path))


def shared_data() -> Path:
    """``../shared/data`` beside the repository root (the folder holding pyproject.toml)."""
    here = Path(__file__).resolve()
    root = next((p for p in here.parents if (p / "pyproject.toml").is_file()), here.parents[2])
    return (root / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="module")
def cascade():
    return _faces()


def crop_of(img: np.ndarray, box) -> np.ndarray:
    x, y, w, h = box
    return img[y:y + h, x:x + w]


def change(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pixel, the largest change over the three channels."""
    return np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2)


def test_both_faces_of_zidane_are_blurred_and_little_else(cascade):
    img = asset("zidane.jpg")
    out = faces.blur_faces(img, cascade, upper=1.0)  # the whole picture searched, not a person crop's upper half
    assert out.shape == img.shape and out.dtype == np.uint8
    for x, y, w, h in ZIDANE_FACES:
        inner = (slice(y + 10, y + h - 10), slice(x + 10, x + w - 10))
        assert np.abs(out[inner].astype(int) - img[inner]).mean() > 12, (x, y)  # measured 33 and 22 grey levels
    assert (change(out, img) > 0).mean() < 0.08  # measured 5% of the picture touched


def test_a_person_crop_has_its_face_blurred(cascade):
    img = asset("zidane.jpg")
    crop = crop_of(img, ANCELOTTI)
    out = blur_faces(crop, cascade)
    fx, fy, fw, fh = ZIDANE_FACES[0]
    x, y = fx - ANCELOTTI[0], fy - ANCELOTTI[1]
    face = (slice(y + 10, y + fh - 10), slice(x + 10, x + fw - 10))
    assert np.abs(out[face].astype(int) - crop[face]).mean() > 12
    changed = change(out, crop) > 0
    assert changed.mean() < 0.15  # measured 9%
    assert not changed[crop.shape[0] // 2:].any()  # only the upper half is searched; nothing below it moves
    assert np.array_equal(crop, crop_of(img, ANCELOTTI))  # the input is left as it was


def test_the_cascades_find_faces_on_crops_200_px_tall_and_more_only(cascade):
    """The numbers lsvid.faces documents: the facing pedestrians of bus.jpg, resized to a crop height."""
    img = asset("bus.jpg")
    for box in BUS_FACING:
        crop = crop_of(img, box)
        found = {}
        for height in (400, 300, 240, 200, 160, 120, 80):
            small = cv2.resize(crop, (max(int(round(crop.shape[1] * height / crop.shape[0])), 1), height), interpolation=cv2.INTER_AREA)
            found[height] = len(faces.find_faces(small, cascade))
        assert sum(found[h] > 0 for h in (400, 300, 240, 200)) >= 3 and not any(found[h] for h in (160, 120, 80)), (box, found)
    assert len(faces.find_faces(crop_of(img, BUS_TURNED), cascade)) == 0  # a turned head: not a face to them


def test_a_small_crop_without_a_face_has_its_head_region_blurred(cascade):
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (80, 36, 3), dtype=np.uint8)  # CCTV-sized: the cascades cannot find a face here
    out = blur_faces(crop, cascade)
    band = round(80 * faces.HEAD_FRACTION)
    assert band == 16
    assert np.abs(out[:band].astype(int) - crop[:band]).mean() > 30  # noise, blurred hard
    assert np.array_equal(out[band:], crop[band:])
    assert np.array_equal(blur_faces(crop[:1, :1], cascade).shape, (1, 1, 3))  # a 1-pixel crop is fine too
    # the same content as a tall crop (no face found, above SMALL_CROP): left alone
    tall = cv2.resize(crop, (36 * 4, 80 * 4), interpolation=cv2.INTER_NEAREST)
    assert tall.shape[0] >= faces.SMALL_CROP
    assert np.array_equal(blur_faces(tall, cascade), tall)


def test_a_small_crop_whose_face_is_found_gets_that_face_blurred_not_the_band(cascade):
    img = asset("zidane.jpg")
    crop = crop_of(img, ANCELOTTI)
    small = cv2.resize(crop, (119, 200), interpolation=cv2.INTER_AREA)
    found = faces.find_faces(small, cascade)
    assert len(found) and (found[:, 1] < 0.2 * 200).any()
    out = blur_faces(small, cascade)
    outside = np.ones(small.shape[:2], bool)
    for fx, fy, fw, fh in found.tolist():
        outside[fy:fy + fh, fx:fx + fw] = False
    assert (change(out, small)[~outside] > 0).any()
    assert not (change(out, small)[outside] > 0).any()  # the rest of the head band is left as it was


def test_cctv_sized_people_are_too_small_for_the_cascades(cascade):
    """PETS 2009 S2.L1 truth boxes (68-116 px tall): the cascades find no face, so the fallback is what blurs."""
    folder = shared_data() / "footage" / "pets09_s2l1"
    if not (folder / "vtest.avi").is_file():
        pytest.skip(f"real footage not found under {folder} (see shared/data/README.md)")
    gt = pd.read_csv(folder / "gt_frames_1-69.txt", header=None)
    gt = gt[gt[6] != 0]
    cap = cv2.VideoCapture(str(folder / "vtest.avi"))
    frames = [cap.read()[1] for _ in range(69)]
    cap.release()
    found = blurred = 0
    for _, r in gt.iterrows():
        x, y, w, h = (int(v) for v in r[[2, 3, 4, 5]])
        crop = frames[int(r[0]) - 1][y:y + h, x:x + w]
        found += len(faces.find_faces(crop, cascade)) > 0
        band = max(int(round(crop.shape[0] * faces.HEAD_FRACTION)), 1)
        out = blur_faces(crop, cascade)
        blurred += bool((change(out[:band], crop[:band]) > 0).any()) and np.array_equal(out[band:], crop[band:])
    assert len(gt) == 337 and found <= 3, found  # measured: none
    assert blurred >= 330, blurred  # every head band blurred, nothing else touched


def test_an_opencv_without_cascades_is_a_clear_error(monkeypatch):
    monkeypatch.delattr(cv2, "CascadeClassifier")
    with pytest.raises(MissingDependencyError, match=r"opencv-python<5"):
        _faces()


def test_curate_blur_faces_end_to_end(small_footage, tmp_path):
    args = ["curate", str(small_footage), "--detector", "truth", "--quiet"]
    plain = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "plain")])
    blurred = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "blurred"), "--blur-faces"])
    assert plain.exit_code == 0 and blurred.exit_code == 0, plain.output + blurred.output
    fa = pd.read_parquet(tmp_path / "plain" / "frames.parquet")
    fb = pd.read_parquet(tmp_path / "blurred" / "frames.parquet")
    pd.testing.assert_frame_equal(fa, fb)  # the same boxes: only the saved pixels differ
    assert json.loads((tmp_path / "blurred" / "dataset.json").read_text())["build"]["config"]["blur_faces"] is True
    n = 0
    for path in fa["path"].sample(min(40, len(fa)), random_state=0):
        a, b = cv2.imread(str(tmp_path / "plain" / path)), cv2.imread(str(tmp_path / "blurred" / path))
        assert a.shape == b.shape and a.shape[0] < faces.SMALL_CROP  # synthetic people: small crops, the fallback
        band = max(int(round(a.shape[0] * faces.HEAD_FRACTION)), 1)
        # JPEG codes 16x16 blocks: those wholly below the band are the same bytes (but for the decoder's
        # chroma interpolation across the block edge)
        below = -(-band // 16) * 16 + 8
        assert np.array_equal(a[below:], b[below:])
        n += int((change(a[:band], b[:band]) > 10).mean() > 0.05)
    assert n >= 30, n  # the head band of (nearly) every crop changed visibly
