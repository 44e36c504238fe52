"""Dataset folders: round trip, each schema violation named, all-or-nothing writes."""
import json

import numpy as np
import pandas as pd
import pytest

from protocols import SchemaError, read_dataset, tables_from_sequences, write_dataset
from protocols.dataset import write_tables


def sequences():
    return [
        {"person_id": 7, "camera_id": 1, "split": "train", "paths": ["a/0.jpg", "a/1.jpg"]},
        {"person_id": 9, "camera_id": 1, "split": "train", "paths": ["d/0.jpg"]},
        {"person_id": 8, "camera_id": 2, "split": "query", "paths": ["b/0.jpg"], "source_id": 1},
        {"person_id": 8, "camera_id": 2, "split": "gallery", "paths": ["b/0.jpg"], "source_id": 1},
        {"person_id": 8, "camera_id": 3, "split": "gallery", "paths": ["c/0.jpg", "c/1.jpg", "c/2.jpg"], "source_id": 2},
    ]


@pytest.fixture
def tables():
    return tables_from_sequences(sequences())


def test_round_trip_and_counts(tmp_path, tables):
    tr, fr = tables
    out = write_dataset(tmp_path / "ds", tr, fr, {"name": "tiny", "protocol": {"name": "tiny", "junk_pids": [-1]}})
    ds = read_dataset(out)
    assert ds.tracklets["tracklet_id"].tolist() == [0, 1, 2, 3, 4]
    assert ds.tracklets["num_frames"].tolist() == [2, 1, 1, 1, 3]
    assert ds.frames["frame_index"].tolist() == [0, 1, 0, 0, 0, 0, 1, 2]
    assert ds.tracklets["source_id"].isna().tolist() == [True, True, False, False, False]
    assert str(ds.tracklets["tracklet_id"].dtype) == "int64" and str(ds.tracklets["camera_id"].dtype) == "int32"
    assert ds.protocol.junk_pids == (-1,)
    c = json.loads((out / "dataset.json").read_text())["counts"]
    # the query copy of a gallery sequence is one sequence in the totals
    assert c["total"] == {"tracklets": 4, "identities": 3, "frames": 7, "cameras": 3}
    assert c["gallery"] == {"tracklets": 2, "identities": 1, "frames": 4}
    assert [p.name for p in ds.frame_paths([4])] == ["0.jpg", "1.jpg", "2.jpg"]


def broken(tr, fr, what):
    tr, fr = tr.copy(), fr.copy()
    if what == "dup_id":
        tr.loc[1, "tracklet_id"] = 0
    elif what == "bad_split":
        tr["split"] = tr["split"].astype(object)
        tr.loc[2, "split"] = "test"
    elif what == "missing_col":
        tr = tr.drop(columns=["camera_id"])
    elif what == "wrong_type":
        tr["person_id"] = tr["person_id"].astype(str)
    elif what == "empty":
        tr.loc[3, "num_frames"] = 0
    elif what == "orphan_frame":
        fr.loc[len(fr)] = [99, 0, "z.jpg"]
    elif what == "no_frames":
        fr = fr[fr["tracklet_id"] != 3]
    elif what == "frame_order":
        fr.loc[6, "frame_index"] = 2
        fr.loc[7, "frame_index"] = 1
    elif what == "null":
        tr["person_id"] = tr["person_id"].astype("Int64")
        tr.loc[2, "person_id"] = pd.NA
    elif what == "count_mismatch":
        tr.loc[0, "num_frames"] = 5
    return tr, fr


@pytest.mark.parametrize(
    "what,file,column,row,text",
    [
        ("dup_id", "tracklets.parquet", "tracklet_id", 1, "not unique"),
        ("bad_split", "tracklets.parquet", "split", 2, "'test' is not one of"),
        ("missing_col", "tracklets.parquet", "camera_id", None, "required column is missing"),
        ("wrong_type", "tracklets.parquet", "person_id", None, "expected int"),
        ("empty", "tracklets.parquet", "num_frames", 3, "empty"),
        ("orphan_frame", "frames.parquet", "tracklet_id", 8, "no row in tracklets.parquet"),
        ("no_frames", "tracklets.parquet", "num_frames", 3, "has no frames"),
        ("frame_order", "frames.parquet", "frame_index", 6, "should be 1"),
        ("null", "tracklets.parquet", "person_id", 2, "null value"),
        ("count_mismatch", "tracklets.parquet", "num_frames", 0, "declares num_frames=5"),
    ],
)
def test_each_violation_names_file_column_row(tmp_path, tables, what, file, column, row, text):
    tr, fr = broken(*tables, what)
    with pytest.raises(SchemaError) as ei:
        write_dataset(tmp_path / "ds", tr, fr, {"name": "x"})
    e = ei.value
    assert e.file.endswith(file) and e.column == column and e.row == row
    assert text in str(e)
    # nothing half-written, no temporary left behind
    assert list(tmp_path.iterdir()) == []


def test_read_validates_a_tampered_file(tmp_path, tables):
    out = write_dataset(tmp_path / "ds", *tables, {"name": "x"})
    tr = pd.read_parquet(out / "tracklets.parquet")
    tr.loc[2, "split"] = "queries"
    tr.to_parquet(out / "tracklets.parquet")
    with pytest.raises(SchemaError, match=r"tracklets.parquet, column 'split', row 2"):
        read_dataset(out)
    (out / "frames.parquet").write_bytes(b"PAR1 truncated")
    with pytest.raises(SchemaError, match="frames.parquet: not a readable Parquet"):
        read_dataset(out, validate=False)


def test_missing_pieces(tmp_path, tables):
    with pytest.raises(FileNotFoundError, match="not a dataset folder"):
        read_dataset(tmp_path / "nope")
    out = write_dataset(tmp_path / "ds", *tables, {"name": "x"})
    (out / "dataset.json").write_text("{ not json")
    with pytest.raises(SchemaError, match="dataset.json: not valid JSON"):
        read_dataset(out)
    (out / "dataset.json").write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(SchemaError, match="schema_version 99"):
        read_dataset(out)


def test_existing_folder_is_kept_unless_overwrite(tmp_path, tables):
    out = write_dataset(tmp_path / "ds", *tables, {"name": "first"})
    with pytest.raises(FileExistsError):
        write_dataset(out, *tables, {"name": "second"})
    # a failing overwrite leaves the old dataset as it was
    with pytest.raises(SchemaError):
        write_dataset(out, *broken(*tables, "dup_id"), {"name": "second"}, overwrite=True)
    assert read_dataset(out).name == "first"
    write_dataset(out, *tables, {"name": "second"}, overwrite=True)
    assert read_dataset(out).name == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_write_tables_marks_completion_with_dataset_json_last(tmp_path, tables):
    folder = tmp_path / "cur"
    folder.mkdir()
    write_tables(folder, *tables, {"name": "x"})
    before = (folder / "dataset.json").read_text()
    with pytest.raises(SchemaError):
        write_tables(folder, *broken(*tables, "bad_split"), {"name": "y"})
    # validation happens before anything is touched
    assert (folder / "dataset.json").read_text() == before


def test_trials(tmp_path, tables):
    tr, fr = tables
    trials = pd.DataFrame(
        {"trial": np.repeat([0, 1], 5), "tracklet_id": np.tile(np.arange(5), 2), "split": ["train", "train", "query", "gallery", "gallery", "query", "train", "train", "train", "gallery"]}
    )
    out = write_dataset(tmp_path / "ds", tr, fr, {"name": "x"}, trials=trials)
    ds = read_dataset(out)
    assert ds.num_trials == 2
    assert ds.for_trial(1).tracklets["split"].tolist() == ["query", "train", "train", "train", "gallery"]
    with pytest.raises(ValueError, match="trial 5 does not exist"):
        ds.for_trial(5)
    partial = trials[trials.index != 7]
    with pytest.raises(SchemaError, match="trial 1 assigns 4 of 5"):
        write_dataset(tmp_path / "ds2", tr, fr, {"name": "x"}, trials=partial)
