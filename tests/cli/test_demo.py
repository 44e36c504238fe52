"""The README's main command, on a smaller scene so the suite stays quick."""
import json

from click.testing import CliRunner

from lsvid.cli import main
from protocols import read_dataset


def test_demo_runs_end_to_end(tmp_path):
    out = tmp_path / "demo"
    r = CliRunner().invoke(main, ["demo", "--out", str(out), "--identities", "16", "--seconds", "20", "--quiet"])
    assert r.exit_code == 0, r.output
    for step in ("[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]", "curation quality", "HTML report"):
        assert step in r.output
    ds = read_dataset(out / "dataset")
    assert ds.counts()["total"]["tracklets"] > 0 and (ds.tracklets.split == "train").any()
    report = out / "runs" / "report"
    assert (report / "index.html").exists() and (report / "leaderboard.md").exists()
    md = (report / "leaderboard.md").read_text()
    for m in ("avgpool", "dtp", "tsa", "gltr"):
        assert f"| {m} |" in md
    native = json.loads((out / "native_results.json").read_text())
    assert [r["dataset"] for r in native] == ["lsvid", "mars", "dukev", "prid", "ilids"]
    # a second run reuses the footage, the shards and the leaderboard cells
    r2 = CliRunner().invoke(main, ["demo", "--out", str(out), "--identities", "16", "--seconds", "20", "--quiet"])
    assert r2.exit_code == 0 and "already on the leaderboard" in r2.output
