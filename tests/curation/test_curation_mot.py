"""MOT files (lsvid.mot): the layout other tools read, and reading theirs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lsvid.mot import (
    DET_COLUMNS,
    MOT_COLUMNS,
    considered,
    format_detections,
    format_mot,
    mot_frame,
    read_detections,
    read_mot,
    read_truth,
    truth_benchmark,
    write_detections,
    write_mot,
)
from lsvid_core.errors import InputError, MissingInputError
from lsvid_core.paths import atomic_write_text


def test_mot_round_trip_and_layout(tmp_path):
    df = mot_frame([(2, 7, 10, 20, 30, 80, 1, 1, 0.5), (1, 3, 0, 5, 12, 40, 0, 1, 0.0), (1, 7, 11, 20, 30, 81, 1, 1, 1.0)])
    path = write_mot(df, tmp_path / "gt.txt")
    assert path.read_text().splitlines() == ["1,3,0,5,12,40,0,1,0.000", "1,7,11,20,30,81,1,1,1.000", "2,7,10,20,30,80,1,1,0.500"]
    assert path.read_text() == format_mot(df)
    back = read_mot(path)
    assert list(back.columns) == list(MOT_COLUMNS)
    assert back.equals(df)
    assert [p.name for p in tmp_path.iterdir()] == ["gt.txt"]  # no temporary file left beside it


def test_reads_detection_and_result_files(tmp_path):
    """read_mot, the reader before files were told apart: ground truth as before, detection scores as floats."""
    (tmp_path / "det.txt").write_text("1,-1,10.5,20.25,30,80,0.9,-1,-1,-1\n2,-1,11,21,30,80,0.8,-1,-1,-1\n")
    det = read_mot(tmp_path / "det.txt")
    assert det["bb_left"].tolist() == [10.5, 11.0] and det["visibility"].tolist() == [1.0, 1.0]
    assert det["conf"].tolist() == [0.9, 0.8]  # once cast to int: every score 0
    (tmp_path / "six.txt").write_text("3,1,1,2,3,4\n")
    six = read_mot(tmp_path / "six.txt")
    assert six.loc[0, ["conf", "class", "visibility"]].tolist() == [1, 1, 1.0]
    (tmp_path / "empty.txt").write_text("")
    assert read_mot(tmp_path / "empty.txt").empty


def test_detection_files_keep_their_float_scores_through_a_round_trip(tmp_path):
    rows = pd.DataFrame({"frame": [2, 1, 1], "id": [-1, -1, -1], "bb_left": [11.0, 10.5, 300.125], "bb_top": [21.0, 20.25, 4.0],
                         "bb_width": [30.0, 30.0, 12.5], "bb_height": [80.0, 80.0, 40.0], "conf": [0.998383, 0.500353, -1.25]})
    path = write_detections(rows, tmp_path / "det.txt")
    assert path.read_text().splitlines()[0] == "1,-1,10.5,20.25,30,80,0.500353,-1,-1,-1"
    back = read_detections(path)
    assert list(back.columns) == list(DET_COLUMNS) and back["conf"].dtype == np.float64
    assert back.equals(rows.sort_values("frame", kind="stable").reset_index(drop=True))
    assert format_detections(back) == path.read_text()  # the same bytes again
    (tmp_path / "six.txt").write_text("4,-1,1,2,3,4\n")
    assert read_detections(tmp_path / "six.txt")["conf"].tolist() == [1.0]
    (tmp_path / "empty.txt").write_text("")
    assert read_detections(tmp_path / "empty.txt").empty and list(read_detections(tmp_path / "empty.txt").columns) == list(DET_COLUMNS)


@pytest.mark.parametrize("text,rules,cls,vis", [
    ("1,5,10,20,30,80,0,1,0.25\n1,6,50,20,30,80,1,7,1\n", "MOT17", [1, 7], [0.25, 1.0]),  # MOT16/17/20
    ("1,5,10,20,30.5,80.25,0,-4.1,-7.3,0\n1,6,50,20,30,80,1,-1,-1,-1\n", "MOT15", [1, 1], [1.0, 1.0]),  # MOT15: consider, wx, wy, z
    ("1,5,10,20,30,80,0\n1,6,50,20,30,80,1\n", "MOT15", [1, 1], [1.0, 1.0]),
])
def test_truth_layouts_keep_the_consider_flag(tmp_path, text, rules, cls, vis):
    (tmp_path / "gt.txt").write_text(text)
    gt = read_truth(tmp_path / "gt.txt")
    assert gt["conf"].tolist() == [0, 1] and gt["class"].tolist() == cls and gt["visibility"].tolist() == vis
    assert truth_benchmark(tmp_path / "gt.txt") == rules
    assert considered(gt).tolist() == [False, cls[1] == 1]  # consider 0 never counts; nor does class 7 (static person)


def test_a_detection_file_is_not_taken_for_truth(tmp_path):
    (tmp_path / "det.txt").write_text("1,-1,10,20,30,80,0.9,-1,-1,-1\n")
    with pytest.raises(InputError, match=r"det.txt: every id is -1: a detection file"):
        read_truth(tmp_path / "det.txt")
    (tmp_path / "res.txt").write_text("1,3,10,20,30,80,0.87,-1,-1,-1\n")
    with pytest.raises(InputError, match=r"res.txt: line 1: consider flag .* 0.87 is not an integer .* detection file"):
        read_truth(tmp_path / "res.txt")
    (tmp_path / "vis.txt").write_text("1,3,10,20,30,80,1,1,1.5\n")
    with pytest.raises(InputError, match=r"vis.txt: line 1: visibility 1.5"):
        read_truth(tmp_path / "vis.txt")
    (tmp_path / "wide.txt").write_text("1,3,10,20,30,80,1,1,1,0,0\n")
    with pytest.raises(InputError, match=r"wide.txt: .* at most 10 columns"):
        read_detections(tmp_path / "wide.txt")


def test_bad_mot_files_are_named(tmp_path):
    (tmp_path / "bad.txt").write_text("1,2,3\n")
    with pytest.raises(InputError, match="bad.txt"):
        read_mot(tmp_path / "bad.txt")
    (tmp_path / "words.txt").write_text("frame,id,left,top,width,height\n")
    with pytest.raises(InputError, match="words.txt.*not a MOT file"):
        read_mot(tmp_path / "words.txt")
    with pytest.raises(MissingInputError, match="missing.txt"):
        read_mot(tmp_path / "missing.txt")
    with pytest.raises(InputError, match="missing"):
        write_mot(pd.DataFrame({"frame": [1]}), tmp_path / "x.txt")


def test_atomic_text_replaces_whole_files(tmp_path):
    path = atomic_write_text(tmp_path / "a.txt", "one\ntwo\n")
    atomic_write_text(path, "three\n")
    assert path.read_bytes() == b"three\n" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]
