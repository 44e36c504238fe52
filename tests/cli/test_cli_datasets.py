"""The command line: every subcommand has --help; convert/validate/evaluate as a user runs them."""
import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from lsvid.cli import COMMANDS, main
from lsvid.toy_native import write_native


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_subcommand_has_help(name):
    r = CliRunner().invoke(main, [name, "--help"])
    assert r.exit_code == 0, r.output
    assert "Usage: main " + name in r.output or f"Usage: lsvid {name}" in r.output or "Usage:" in r.output


def test_console_script_help_is_fast_and_lists_commands():
    out = subprocess.run([sys.executable, "-m", "lsvid.cli", "--help"], capture_output=True, text=True, check=True).stdout
    for name in COMMANDS:
        assert name in out
    # the entry point must not pull torch in just to print help
    code = "import sys, lsvid.cli; lsvid.cli.main(['--help'], standalone_mode=False); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip().endswith("False")


def test_convert_validate_evaluate(tmp_path):
    write_native("ilids", tmp_path / "native", seed=0)
    run = CliRunner().invoke
    r = run(main, ["convert", "--dataset", "ilids", "--root", str(tmp_path / "native"), "--out", str(tmp_path / "ds")])
    assert r.exit_code == 0, r.output
    assert "10 trial(s)" in r.output and "query" in r.output
    r = run(main, ["validate", str(tmp_path / "ds"), "--check-files"])
    assert r.exit_code == 0 and "valid" in r.output
    victim = sorted((tmp_path / "native").rglob("*.png"))[5]
    victim.unlink()
    r = run(main, ["validate", str(tmp_path / "ds"), "--check-files"])
    assert r.exit_code != 0 and "1 frame files" in r.output and victim.name in r.output
    victim.write_bytes(b"")
    # features that put each person at its own point: perfect retrieval in every trial
    import pandas as pd

    tr = pd.read_parquet(tmp_path / "ds" / "tracklets.parquet")
    feats = np.eye(1000)[tr.person_id.to_numpy() % 1000][:, :400].astype(np.float32)
    np.savez(tmp_path / "f.npz", tracklet_id=tr.tracklet_id.to_numpy()[::-1], features=feats[::-1])
    r = run(main, ["evaluate", "--dataset", str(tmp_path / "ds"), "--features", str(tmp_path / "f.npz"), "--json-out", str(tmp_path / "r.json")])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["summary"]["trials"] == 10 and res["summary"]["mAP"] == pytest.approx(1.0)
    assert "mean over 10 trials" in r.output


def test_convert_errors_exit_nonzero_and_write_nothing(tmp_path):
    write_native("lsvid", tmp_path / "native", seed=0)
    (tmp_path / "native" / "LS-VID" / "test" / "data" / "info_test.mat").write_bytes(b"\x89HDF\r\n garbage")
    r = CliRunner().invoke(main, ["convert", "--dataset", "lsvid", "--root", str(tmp_path / "native"), "--out", str(tmp_path / "ds")])
    assert r.exit_code != 0
    assert "info_test.mat" in r.output and "not a readable MATLAB" in r.output
    assert not (tmp_path / "ds").exists()
    r = CliRunner().invoke(main, ["convert", "--dataset", "mars", "--root", str(tmp_path / "native"), "--out", str(tmp_path / "ds"), "--seed", "3"])
    assert r.exit_code != 0 and "--dataset prid only" in r.output


def test_evaluate_refuses_misaligned_features(tmp_path):
    write_native("dukev", tmp_path / "native", seed=0)
    CliRunner().invoke(main, ["convert", "--dataset", "dukev", "--root", str(tmp_path / "native"), "--out", str(tmp_path / "ds")])
    np.save(tmp_path / "f.npy", np.zeros((3, 4), np.float32))
    r = CliRunner().invoke(main, ["evaluate", "--dataset", str(tmp_path / "ds"), "--features", str(tmp_path / "f.npy")])
    assert r.exit_code != 0 and "one row per tracklet" in r.output
    bad = np.zeros((30, 4), np.float32)
    bad[1, 2] = np.nan
    import pandas as pd

    n = len(pd.read_parquet(tmp_path / "ds" / "tracklets.parquet"))
    bad = np.resize(bad, (n, 4))
    np.save(tmp_path / "f.npy", bad)
    r = CliRunner().invoke(main, ["evaluate", "--dataset", str(tmp_path / "ds"), "--features", str(tmp_path / "f.npy")])
    assert r.exit_code != 0 and "NaN" in r.output
