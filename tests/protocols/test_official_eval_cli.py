"""`--eval official` on the command line (lsvid evaluate, lsvid bench) and in BenchConfig."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from lsvid.cli import main
from lsvid_core.errors import ConfigError
from protocols import read_dataset, write_dataset
from protocols.evaluation import evaluate_dataset


@pytest.fixture(scope="module")
def duke(tmp_path_factory):
    """A tiny converted DukeMTMC-VideoReID whose first query was given an id nobody else has
    (so one query of five is unanswerable), and random features of random lengths for it."""
    from lsvid.toy_native import write_native

    root = tmp_path_factory.mktemp("official")
    write_native("dukev", root / "native", seed=0)
    r = CliRunner().invoke(main, ["convert", "--dataset", "dukev", "--root", str(root / "native"), "--out", str(root / "conv")])
    assert r.exit_code == 0, r.output
    conv = read_dataset(root / "conv")
    tr = conv.tracklets.copy()
    tr.loc[tr.index[tr["split"] == "query"][0], "person_id"] = 99999
    write_dataset(root / "ds", tr, conv.frames, conv.meta)
    n = len(pd.read_parquet(root / "ds" / "tracklets.parquet"))
    rng = np.random.default_rng(3)
    feats = (rng.normal(size=(n, 6)) * rng.uniform(0.1, 10.0, (n, 1))).astype(np.float32)
    np.save(root / "f.npy", feats)
    return root, feats


def invoke(args):
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in r.output, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    return r


def test_cli_evaluate_official(duke):
    root, feats = duke
    base = ["evaluate", "--dataset", root / "ds", "--features", root / "f.npy"]
    r = invoke(base + ["--eval", "official", "--json-out", root / "off.json"])
    assert r.exit_code == 0, r.output
    assert "AP: market1501 (the official setting's definition)" in r.output
    assert "evaluation: official (L2-normalised features, euclidean distance" in r.output
    off = json.loads((root / "off.json").read_text())
    assert off["eval"] == "official" and off["ap"] == "market1501"
    t = off["trials"][0]
    assert (t["setting"], t["ap_variant"], t["unanswerable"]) == ("official", "market1501", "zero")
    # the same numbers as the library, and as pre-normalised features under the default rule, divided by all queries
    ds = read_dataset(root / "ds", frames=False)
    lib = evaluate_dataset(ds, feats, setting="official")[0].result
    assert t["mAP"] == pytest.approx(lib.mAP) and t["rank1"] == pytest.approx(lib.rank(1))
    pre = evaluate_dataset(ds, feats / np.linalg.norm(feats, axis=1, keepdims=True), ap="market1501")[0].result
    share = pre.num_valid_queries / pre.num_queries
    assert (t["num_valid_queries"], t["num_queries"]) == (pre.num_valid_queries, pre.num_queries) == (4, 5)
    assert t["mAP"] == pytest.approx(pre.mAP * share) and t["rank1"] == pytest.approx(pre.rank(1) * share)
    r = invoke(base + ["--json-out", root / "dflt.json"])
    assert r.exit_code == 0 and "evaluation:" not in r.output
    assert json.loads((root / "dflt.json").read_text())["eval"] == "default"


def test_cli_evaluate_refuses_a_bad_or_conflicting_setting(duke):
    root, _ = duke
    base = ["evaluate", "--dataset", root / "ds", "--features", root / "f.npy"]
    r = invoke(base + ["--eval", "nope"])
    assert r.exit_code == 2 and "nope" in r.output and "official" in r.output
    r = invoke(base + ["--eval", "official", "--ap", "torchreid"])
    assert r.exit_code == 2 and "torchreid" in r.output and "market1501" in r.output
    r = invoke(base + ["--eval", "official", "--metric", "cosine"])
    assert r.exit_code == 2 and "cosine" in r.output and "euclidean" in r.output


def test_cli_bench_refuses_a_bad_setting(tmp_path):
    r = invoke(["bench", "--dataset", tmp_path, "--methods", "avgpool", "--out", tmp_path / "runs", "--eval", "nope"])
    assert r.exit_code == 2 and "nope" in r.output
    assert not (tmp_path / "runs").exists()


def test_bench_option_reaches_the_config():
    from lsvid.commands.bench import bench_config

    assert bench_config(None, None, None, None, None, False).eval == "default"
    assert bench_config(None, None, None, None, None, False, setting="official").eval == "official"


def test_bench_config_eval_field():
    from benchmark.config import BenchConfig

    with pytest.raises(ConfigError, match="eval: 'nope' is not one of default, official"):
        BenchConfig(eval="nope")
    # hash stability: the default is not stored, so configs from before the field keep their hashes
    assert "eval" not in BenchConfig().to_dict() and "eval" not in json.loads(BenchConfig().to_json())
    off = BenchConfig(eval="official")
    assert off.to_dict()["eval"] == "official" and off.to_json() != BenchConfig().to_json()
    assert BenchConfig.from_dict(off.to_dict()) == off
    # the official setting fixes metric and AP: a conflict is refused before any training
    with pytest.raises(ConfigError, match="metric: 'cosine' conflicts with eval 'official'"):
        BenchConfig(eval="official", metric="cosine")
    with pytest.raises(ConfigError, match="ap: 'torchreid' conflicts with eval 'official'"):
        BenchConfig(eval="official", ap="torchreid")
    assert BenchConfig(eval="official", ap="market1501").ap == "market1501"
