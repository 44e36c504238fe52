"""MOT files (lsvid.mot): the layout other tools read, and reading theirs."""
from __future__ import annotations

import pandas as pd
import pytest

from lsvid.mot import (
    MOT_COLUMNS,
    format_mot,
    mot_frame,
    read_mot,
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
    (tmp_path / "det.txt").write_text("1,-1,10.5,20.25,30,80,0.9,-1,-1,-1\n2,-1,11,21,30,80,0.8,-1,-1,-1\n")
    det = read_mot(tmp_path / "det.txt")
    assert det["bb_left"].tolist() == [10.5, 11.0] and det["visibility"].tolist() == [1.0, 1.0]
    (tmp_path / "six.txt").write_text("3,1,1,2,3,4\n")
    six = read_mot(tmp_path / "six.txt")
    assert six.loc[0, ["conf", "class", "visibility"]].tolist() == [1, 1, 1.0]
    (tmp_path / "empty.txt").write_text("")
    assert read_mot(tmp_path / "empty.txt").empty


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
