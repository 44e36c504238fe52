"""Leaderboard summaries: which rows count and how they are averaged (hand-computed cases)."""
import json
import math

import pandas as pd
import pytest

from benchmark.config import BenchConfig
from benchmark.report import render, summarise
from benchmark.results import COLUMNS, append_row


def row(dataset, method, mAP, *, trial=0, seed=0, created="2026-01-01T00:00:00+00:00", ap=None, **config_changes):
    cfg = BenchConfig(seed=seed).to_dict()
    for key, value in config_changes.items():
        stage, field = key.split("__")
        cfg[stage][field] = value
    r = {c: None for c in COLUMNS}
    r.update(dataset=dataset, method=method, backbone="resnet50", trial=trial, mAP=mAP, rank1=mAP, rank5=mAP, rank10=mAP, rank20=mAP,
             cmc=[mAP] * 20, rerank=False, options="{}", config=json.dumps(cfg, sort_keys=True), seed=seed, created=created, wall_time_s=30.0,
             device="cpu:2 cores", code_version="0.1.0+gabc", environment=json.dumps({"torch": "2.14.1"}), ap=ap)
    return r


def cell(summary, dataset, method):
    s = summary[(summary.dataset == dataset) & (summary.method == method)]
    assert len(s) == 1
    return s.iloc[0]


def test_seeds_are_averaged_and_an_older_config_is_not():
    rows = [
        row("mars", "gltr", 0.90, seed=0, created="2026-01-01T00:00:00+00:00", agg__epochs=10),  # an older experiment
        row("mars", "gltr", 0.50, seed=0, created="2026-01-02T00:00:00+00:00"),
        row("mars", "gltr", 0.60, seed=1, created="2026-01-02T00:00:00+00:00"),
        row("mars", "gltr", 0.70, seed=2, created="2026-01-02T00:00:00+00:00"),
        # seed 1 again, only faster (an execution setting): the same experiment, its latest row counts
        row("mars", "gltr", 0.65, seed=1, created="2026-01-03T00:00:00+00:00", frame__workers=4),
    ]
    s = cell(summarise(pd.DataFrame(rows)), "mars", "gltr")
    vals = [0.50, 0.65, 0.70]
    mean = sum(vals) / 3
    assert s.mAP == pytest.approx(mean)
    assert s.mAP_std == pytest.approx(math.sqrt(sum((v - mean) ** 2 for v in vals) / 3))
    assert (s.seeds, s.trials, s.runs) == (3, 1, 3)


def test_trials_are_averaged_until_a_new_experiment_replaces_them():
    rows = [row("prid", "avgpool", v, trial=t) for t, v in enumerate([0.2, 0.3, 0.4])]
    s = cell(summarise(pd.DataFrame(rows)), "prid", "avgpool")
    assert s.mAP == pytest.approx(0.3) and s.mAP_std == pytest.approx(math.sqrt(2 / 3) / 10)
    assert (s.seeds, s.trials, s.runs) == (1, 3, 3)
    # a newer config run on trial 0 only: its one number, not a mix of two experiments
    rows.append(row("prid", "avgpool", 0.8, trial=0, created="2026-02-01T00:00:00+00:00", agg__lr=0.1))
    s = cell(summarise(pd.DataFrame(rows)), "prid", "avgpool")
    assert s.mAP == pytest.approx(0.8) and (s.trials, s.runs) == (1, 1)


@pytest.fixture
def report(tmp_path):
    """Two seeds of pyramid_conv and one of avgpool on MARS, one gltr row on PRID, rendered."""
    board = tmp_path / "leaderboard.parquet"
    for seed, v in enumerate([0.5, 0.7]):
        append_row(board, row("mars", "pyramid_conv", v, seed=seed))
    append_row(board, row("mars", "avgpool", 0.4))
    append_row(board, row("prid", "gltr", 0.25))
    return render(board, tmp_path / "report")


def test_report_says_which_cells_average_seeds(report):
    md = report["markdown"].read_text()
    assert "Averaged over seeds: pyramid_conv on mars (2 seeds)." in md
    # Table 2 shape: R1 then mAP per dataset (mars, prid)
    assert "| pyramid_conv | 60.0 ± 10.0 | 60.0 ± 10.0 | – | – |" in md
    assert "| avgpool | 40.0 | 40.0 | – | – |" in md


def test_latex_tables_are_escaped_booktabs(report):
    tex = report["latex"].read_text()
    assert tex.count(r"\begin{tabular}{l") == 2 and tex.count(r"\toprule") == 2 and tex.count(r"\bottomrule") == 2
    assert r"pyramid\_conv & 60.0 $\pm$ 10.0 & 60.0 $\pm$ 10.0 & -- & -- \\" in tex
    assert r"Scores in \%." in tex and "_" not in tex.replace(r"\_", "")


def test_provenance_names_what_computed_each_cell(report):
    from benchmark.report import experiment_key

    md = report["markdown"].read_text()
    key = experiment_key(json.dumps(BenchConfig().to_dict(), sort_keys=True), "{}")
    # two seeds of 30 s each
    assert f"| mars | pyramid_conv | resnet50 | {key} | torchreid | 1 | 2 | cpu:2 cores | 0.1.0+gabc | 2.14.1 | 60 s |" in md
    assert "<h2>Provenance</h2>" in report["html"].read_text()


def test_a_leaderboard_from_before_the_newer_columns_still_renders(tmp_path):
    old = pd.DataFrame([row("mars", "gltr", 0.5)]).drop(columns=["run_folder", "environment"])
    old.to_parquet(tmp_path / "leaderboard.parquet", index=False)
    md = render(tmp_path / "leaderboard.parquet", tmp_path / "report")["markdown"].read_text()
    assert "| gltr | 50.0 | 50.0 |" in md
    assert "| cpu:2 cores | 0.1.0+gabc | ? |" in md  # no environment recorded then


def test_rows_of_two_ap_definitions_are_never_averaged():
    # the same config scored twice, the second time under the trapezoid AP (a dataset protocol's change)
    rows = [
        row("mars", "gltr", 0.50, seed=0, ap="torchreid"),
        row("mars", "gltr", 0.60, seed=1, ap="torchreid"),
        row("mars", "gltr", 0.40, seed=0, ap="market1501", created="2026-01-02T00:00:00+00:00"),
    ]
    s = cell(summarise(pd.DataFrame(rows)), "mars", "gltr")
    assert s.mAP == pytest.approx(0.40) and (s.runs, s.seeds) == (1, 1) and s.ap == "market1501"
    # and the other way round: the torchreid rows are the latest, the trapezoid row is left out
    rows[2]["created"] = "2025-12-31T00:00:00+00:00"
    s = cell(summarise(pd.DataFrame(rows)), "mars", "gltr")
    assert s.mAP == pytest.approx(0.55) and s.runs == 2 and s.ap == "torchreid"


def test_rows_from_before_the_ap_column_count_as_torchreid(tmp_path):
    old = pd.DataFrame([row("mars", "gltr", 0.5), row("mars", "gltr", 0.7, seed=1)]).drop(columns=["ap"])
    old.to_parquet(tmp_path / "leaderboard.parquet", index=False)
    s = cell(summarise(pd.read_parquet(tmp_path / "leaderboard.parquet")), "mars", "gltr")
    assert s.ap == "torchreid" and s.runs == 2
    # with a new torchreid row of the same config, all three are one experiment
    append_row(tmp_path / "leaderboard.parquet", row("mars", "gltr", 0.9, seed=2, ap="torchreid"))
    from benchmark.results import read_leaderboard

    s = cell(summarise(read_leaderboard(tmp_path / "leaderboard.parquet")), "mars", "gltr")
    assert s.mAP == pytest.approx(0.7) and s.runs == 3


def test_report_states_the_ap_definition_of_each_cell(tmp_path):
    board = tmp_path / "leaderboard.parquet"
    append_row(board, row("mars", "gltr", 0.4, ap="market1501"))
    append_row(board, row("prid", "gltr", 0.3, ap="torchreid"))
    out = render(board, tmp_path / "report")
    md = out["markdown"].read_text()
    assert "cells use different AP definitions (market1501, torchreid" in md
    assert "| mars | gltr | resnet50 |" in md and "| market1501 | 1 | 1 |" in md and "| torchreid | 1 | 1 |" in md
    assert "<th>AP</th>" in out["html"].read_text()
    one = tmp_path / "one.parquet"
    append_row(one, row("mars", "gltr", 0.4, ap="market1501"))
    md = render(one, tmp_path / "report1")["markdown"].read_text()
    assert "mAP: market1501 AP (the trapezoid rule of the official Market-1501/MARS MATLAB evaluation) in every cell." in md


def test_has_cell_tells_ap_definitions_apart(tmp_path):
    from benchmark.results import has_cell

    board = tmp_path / "leaderboard.parquet"
    r = row("mars", "gltr", 0.4)  # ap None: a row from before the column, scored as torchreid
    r.update(dataset_sha256="abc", config_hash="h1")
    append_row(board, r)
    key = dict(dataset_sha256="abc", method="gltr", trial=0, config_hash="h1", rerank=False)
    assert has_cell(board, **key) and has_cell(board, **key, ap="torchreid")
    assert not has_cell(board, **key, ap="market1501")
