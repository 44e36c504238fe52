"""lsvid bench end to end on a small generated dataset; the cache and resume guarantees."""
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
from bench_helpers import kill_after_epoch, kill_when
from click.testing import CliRunner

from benchmark.aggregators import BASELINES
from benchmark.config import AggregatorStageConfig, BenchConfig
from benchmark.feature_cache import StaleCacheError, extract_features, open_cache
from benchmark.stage_aggregator import SequenceIndex, train_aggregator
from benchmark.stage_frame import train_frame_model
from lsvid.cli import main
from lsvid.toy_native import write_native
from protocols import read_dataset
from protocols.datasets import convert

SMALL = {
    "frame": {"backbone": "resnet18", "epochs": 1, "height": 64, "width": 32, "batch_size": 32, "workers": 0},
    "agg": {"epochs": 2, "checkpoint_every": 1},
    "feature_batch": 64,
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    base = tmp_path_factory.mktemp("bench")
    write_native("mars", base / "native", seed=0, train_ids=6, test_ids=8)
    return convert("mars", base / "native", base / "ds")


def small_config(**agg):
    cfg = BenchConfig.from_dict(json.loads(json.dumps(SMALL)))
    for k, v in agg.items():
        setattr(cfg.agg, k, v)
    return cfg


def test_bench_every_method_then_leaderboard(dataset, tmp_path):
    (tmp_path / "cfg.json").write_text(json.dumps(SMALL))
    args = ["bench", "--dataset", str(dataset), "--methods", ",".join(BASELINES), "--config", str(tmp_path / "cfg.json"), "--out", str(tmp_path / "runs"), "--quiet", "--seed", "3"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    board = pd.read_parquet(tmp_path / "runs" / "leaderboard.parquet")
    assert sorted(board.method) == sorted(BASELINES)
    for _, row in board.iterrows():
        assert 0 <= row.mAP <= 1 and 0 <= row.rank1 <= row.rank5 <= row.rank20 <= 1
        assert len(row.cmc) == 20 and row.seed == 3 and row.trial == 0
        assert json.loads(row.config)["frame"]["backbone"] == "resnet18"
        assert row.device.startswith("cpu") and row.code_version and row.wall_time_s > 0
    # a second run has nothing left to do
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0 and "already on the leaderboard" in r.output
    assert len(pd.read_parquet(tmp_path / "runs" / "leaderboard.parquet")) == len(BASELINES)
    r = CliRunner().invoke(main, ["leaderboard", "--runs", str(tmp_path / "runs")])
    assert r.exit_code == 0, r.output
    rep = tmp_path / "runs" / "report"
    md = (rep / "leaderboard.md").read_text()
    assert "Table 2" in md and "Table 4" in md and "| gltr |" in md
    html = (rep / "index.html").read_text()
    assert "<table>" in html and "cmc_mars.png" in html and "strips_mars_gltr.png" in html
    import cv2

    strip = cv2.imread(str(rep / "strips_mars_gltr.png"))
    assert strip is not None and strip.shape[0] > 100 and strip.shape[1] > 300


def test_cache_is_reused_and_mismatch_refused(dataset, tmp_path):
    ds = read_dataset(dataset)
    dev = torch.device("cpu")
    cfg = small_config()
    ckpt = train_frame_model(ds, cfg.frame, out_dir=tmp_path / "frame", device=dev, progress=False, log=lambda s: None)
    c1 = extract_features(ds, ckpt, tmp_path / "cache", device=dev, batch_size=50, workers=0, progress=False, log=lambda s: None)
    assert c1.features.shape == (len(ds.frames), 128) and np.isfinite(c1.features).all()
    idx = pd.read_parquet(c1.folder / "index.parquet")
    assert idx.tracklet_id.tolist() == ds.frames.tracklet_id.tolist()
    mtime = (c1.folder / "features.npy").stat().st_mtime_ns
    c2 = extract_features(ds, ckpt, tmp_path / "cache", device=dev, batch_size=50, workers=0, progress=False, log=lambda s: None)
    assert c2.folder == c1.folder and (c1.folder / "features.npy").stat().st_mtime_ns == mtime
    # another checkpoint is another cache, and opening the old one for it is refused
    other = tmp_path / "other.pt"
    shutil.copy(ckpt, other)
    with open(other, "ab") as f:
        f.write(b"\0")
    from benchmark.stage_frame import file_sha256

    with pytest.raises(StaleCacheError, match="built from checkpoint"):
        open_cache(c1.folder, dataset_sha=c1.manifest["dataset_sha256"], checkpoint_sha=file_sha256(other), num_frames=len(ds.frames))
    with pytest.raises(StaleCacheError, match="the dataset changed"):
        open_cache(c1.folder, dataset_sha="0" * 64, checkpoint_sha=c1.manifest["checkpoint_sha256"], num_frames=len(ds.frames))
    # a truncated feature file is caught too
    m = json.loads((c1.folder / "manifest.json").read_text())
    m["shape"] = [m["shape"][0] + 1, m["shape"][1]]
    (c1.folder / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(StaleCacheError, match="manifest says"):
        extract_features(ds, ckpt, tmp_path / "cache", device=dev, progress=False, log=lambda s: None)


def test_other_seeds_and_configs_never_reuse_each_others_models(dataset, tmp_path):
    """One run directory, several settings: each stage reuses only work of its own settings."""
    runs = tmp_path / "runs"

    def bench(seed: int, **changes) -> pd.Series:
        cfg = json.loads(json.dumps(SMALL))
        for key, value in changes.items():
            stage, field = key.split("__")
            cfg[stage][field] = value
        (tmp_path / "cfg.json").write_text(json.dumps(cfg))
        args = ["bench", "--dataset", str(dataset), "--methods", "dtp", "--config", str(tmp_path / "cfg.json"), "--out", str(runs), "--quiet", "--seed", str(seed)]
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, r.output
        return pd.read_parquet(runs / "leaderboard.parquet").iloc[-1]

    def folders(prefix: str) -> int:
        return len(list((runs / "mars" / "trial0").glob(f"{prefix}-*")))

    a = bench(0)
    b = bench(1)  # another seed: its own frame CNN and aggregator, not seed 0's
    assert (folders("frame"), folders("dtp")) == (2, 2)
    assert a.checkpoint_sha256 != b.checkpoint_sha256 and a.run_folder != b.run_folder
    c = bench(0, agg__epochs=3)  # stage (b) changed: seed 0's frame CNN is reused, dtp retrained
    assert (folders("frame"), folders("dtp")) == (2, 3)
    assert c.checkpoint_sha256 == a.checkpoint_sha256 and c.run_folder != a.run_folder
    d = bench(0, agg__checkpoint_every=2, frame__workers=1)  # execution settings only: both models reused
    assert (folders("frame"), folders("dtp")) == (2, 3)
    assert d.run_folder == a.run_folder and d.mAP == a.mAP and d.config_hash != a.config_hash
    spec = json.loads((runs / a.run_folder / "run.json").read_text())
    assert spec["method"] == "dtp" and spec["seed"] == 0 and spec["config"]["epochs"] == SMALL["agg"]["epochs"]


def test_several_seeds_in_one_command_are_averaged_on_the_leaderboard(dataset, tmp_path):
    (tmp_path / "cfg.json").write_text(json.dumps(SMALL))
    runs = tmp_path / "runs"
    args = ["bench", "--dataset", str(dataset), "--methods", "avgpool", "--config", str(tmp_path / "cfg.json"), "--out", str(runs), "--quiet"]
    r = CliRunner().invoke(main, [*args, "--seed", "4", "--seed", "5", "--seed", "4"])
    assert r.exit_code == 0, r.output
    assert "2 new leaderboard rows" in r.output  # a repeated seed runs once
    board = pd.read_parquet(runs / "leaderboard.parquet")
    assert sorted(board.seed) == [4, 5] and board.checkpoint_sha256.nunique() == 2
    assert CliRunner().invoke(main, ["leaderboard", "--runs", str(runs)]).exit_code == 0
    md = (runs / "report" / "leaderboard.md").read_text()
    assert "Averaged over seeds: avgpool on mars (2 seeds)." in md
    mean, std = 100 * board.mAP.mean(), 100 * board.mAP.std(ddof=0)
    assert f"{mean:.1f} ± {std:.1f}" in md


def test_methods_trained_in_parallel_processes_score_as_one_by_one(dataset, tmp_path):
    (tmp_path / "cfg.json").write_text(json.dumps(SMALL))
    methods = "dtp,lstm,gltr"

    def bench(out: str, *extra: str) -> pd.DataFrame:
        args = ["bench", "--dataset", str(dataset), "--methods", methods, "--config", str(tmp_path / "cfg.json"), "--out", str(tmp_path / out), "--quiet", *extra]
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, r.output
        return r.output, pd.read_parquet(tmp_path / out / "leaderboard.parquet").set_index("method").sort_index()

    _, serial = bench("serial")
    out, parallel = bench("parallel", "--jobs", "2")
    assert "stage (b): 3 groups of runs in 2 processes" in out
    assert list(parallel.index) == sorted(methods.split(","))
    for m in parallel.index:
        assert parallel.loc[m, "mAP"] == pytest.approx(serial.loc[m, "mAP"], abs=1e-3)
        assert parallel.loc[m, "config_hash"] != serial.loc[m, "config_hash"]  # the config (jobs) is recorded
        assert (tmp_path / "parallel" / parallel.loc[m, "run_folder"] / "topk.npz").exists()
    assert CliRunner().invoke(main, ["bench", "--dataset", str(dataset), "--jobs", "0"]).exit_code == 2


def test_a_stage_folder_of_other_settings_is_refused(dataset, tmp_path):
    from benchmark.runtime import StaleRunError

    ds = read_dataset(dataset)
    feats = torch.from_numpy(np.random.default_rng(0).normal(size=(len(ds.frames), 16)).astype(np.float32))
    kw = dict(device=torch.device("cpu"), out_dir=tmp_path / "agg", progress=False, log=lambda s: None)
    train_aggregator("dtp", {}, ds, feats, SequenceIndex.of(ds), AggregatorStageConfig(epochs=2), seed=0, **kw)
    # the same settings: the finished model is reused
    train_aggregator("dtp", {}, ds, feats, SequenceIndex.of(ds), AggregatorStageConfig(epochs=2), seed=0, **kw)
    with pytest.raises(StaleRunError, match=r"config\.epochs: 2 -> 5"):
        train_aggregator("dtp", {}, ds, feats, SequenceIndex.of(ds), AggregatorStageConfig(epochs=5), seed=0, **kw)
    with pytest.raises(StaleRunError, match=r"seed: 0 -> 1"):
        train_aggregator("dtp", {}, ds, feats, SequenceIndex.of(ds), AggregatorStageConfig(epochs=2), seed=1, **kw)
    with pytest.raises(StaleRunError, match="features"):
        train_aggregator("dtp", {}, ds, feats + 1, SequenceIndex.of(ds), AggregatorStageConfig(epochs=2), seed=0, **kw)
    # a folder from before run.json existed cannot be checked, so it is refused rather than trusted
    (tmp_path / "agg" / "run.json").unlink()
    with pytest.raises(StaleRunError, match="no run.json"):
        train_aggregator("dtp", {}, ds, feats, SequenceIndex.of(ds), AggregatorStageConfig(epochs=2), seed=0, **kw)
    cfg = small_config()
    train_frame_model(ds, cfg.frame, out_dir=tmp_path / "frame", device=torch.device("cpu"), seed=0, progress=False, log=lambda s: None)
    cfg.frame.epochs = 2
    with pytest.raises(StaleRunError, match=r"config\.epochs: 1 -> 2"):
        train_frame_model(ds, cfg.frame, out_dir=tmp_path / "frame", device=torch.device("cpu"), seed=0, progress=False, log=lambda s: None)


def test_divergence_and_nan_features_stop_with_a_clear_error(dataset, tmp_path):
    from benchmark.runtime import NonFiniteError
    from gltr import load_checkpoint, save_checkpoint

    ds = read_dataset(dataset)
    dev = torch.device("cpu")
    quiet = dict(device=dev, progress=False, log=lambda s: None)
    feats = torch.from_numpy(np.random.default_rng(0).normal(size=(len(ds.frames), 16)).astype(np.float32))
    # stage (b): an absurd learning rate without clipping blows up within a few epochs
    cfg = AggregatorStageConfig(epochs=20, checkpoint_every=2, lr=1e3, grad_clip=0)
    with pytest.raises(NonFiniteError, match=r"stage \(b\) dtp diverged: the training loss is nan in epoch \d+"):
        train_aggregator("dtp", {}, ds, feats, SequenceIndex.of(ds), cfg, out_dir=tmp_path / "b", **quiet)
    assert not (tmp_path / "b" / "aggregator.pt").exists()
    state = tmp_path / "b" / "train_state.pt"
    if state.exists():  # what is kept to resume from is finite
        assert all(torch.isfinite(v).all() for v in torch.load(state, weights_only=False)["agg"].values() if v.is_floating_point())
    # stage (b) on features holding a NaN: refused before training, naming the frame
    bad = feats.clone()
    bad[7, 3] = float("nan")
    fr = ds.frames.iloc[7]
    with pytest.raises(NonFiniteError, match=f"row 7 \\(tracklet {fr.tracklet_id}, frame {fr.frame_index}\\)"):
        train_aggregator("dtp", {}, ds, bad, SequenceIndex.of(ds), AggregatorStageConfig(epochs=2), out_dir=tmp_path / "b2", **quiet)
    # stage (a): the same with the frame CNN; no backbone is written
    fcfg = small_config().frame
    fcfg.lr = 1e6
    with pytest.raises(NonFiniteError, match=r"stage \(a\) diverged"):
        train_frame_model(ds, fcfg, out_dir=tmp_path / "a", **quiet)
    assert not (tmp_path / "a" / "backbone.pt").exists()
    # extraction with NaN weights: the frame is named and the cache never completes
    ckpt = train_frame_model(ds, small_config().frame, out_dir=tmp_path / "a_ok", **quiet)
    model, extra = load_checkpoint(ckpt, return_extra=True)
    with torch.no_grad():
        next(p for n, p in model.named_parameters() if n.endswith("weight")).fill_(float("nan"))
    save_checkpoint(model, tmp_path / "nan.pt", extra=extra)
    with pytest.raises(NonFiniteError, match=r"non-finite features \(first at .*\.jpg"):
        extract_features(ds, tmp_path / "nan.pt", tmp_path / "cache", batch_size=50, workers=0, **quiet)
    assert not list((tmp_path / "cache").glob("*/manifest.json"))


@pytest.mark.parametrize(("config", "message"), [
    ({"agg": {"epochs": "10"}}, 'config.agg.epochs: expected int, got "10"'),
    ({"frame": {"flip": 0}}, "config.frame.flip: expected bool, got 0"),
    ({"frame": {"random_erasing": "0.5"}}, "config.frame.random_erasing: expected float"),
    ({"agg": {"jobs": 0}}, "agg.jobs: must be at least 1"),
    ({"agg": {"epoch": 3}}, "unknown field(s) ['epoch']"),
])
def test_a_bad_config_file_is_refused_naming_the_field(dataset, tmp_path, config, message):
    (tmp_path / "cfg.json").write_text(json.dumps(config))
    r = CliRunner().invoke(main, ["bench", "--dataset", str(dataset), "--config", str(tmp_path / "cfg.json"), "--out", str(tmp_path / "runs"), "--quiet"])
    assert r.exit_code == 1 and message in r.output, r.output
    assert not (tmp_path / "runs").exists()  # refused before anything was written


def test_missing_frame_is_named(dataset, tmp_path):
    native = tmp_path / "native"
    write_native("dukev", native, seed=2)
    ds_path = convert("dukev", native, tmp_path / "ds")
    victim = sorted(native.rglob("*.jpg"))[0]
    victim.write_bytes(b"not an image")
    (tmp_path / "cfg.json").write_text(json.dumps(SMALL))
    r = CliRunner().invoke(main, ["bench", "--dataset", str(ds_path), "--methods", "avgpool", "--config", str(tmp_path / "cfg.json"), "--out", str(tmp_path / "runs"), "--quiet"])
    assert r.exit_code != 0 and victim.name in r.output and "not a readable image" in r.output


RESUME_SCRIPT = """
import sys, torch, numpy as np
from protocols import read_dataset
from benchmark.config import AggregatorStageConfig
from benchmark.stage_aggregator import SequenceIndex, train_aggregator
ds = read_dataset(sys.argv[1])
feats = torch.from_numpy(np.load(sys.argv[2]))
cfg = AggregatorStageConfig(epochs=int(sys.argv[4]), checkpoint_every=1, batch_size=4)
train_aggregator("gltr", {}, ds, feats, SequenceIndex.of(ds), cfg, device=torch.device("cpu"), out_dir=sys.argv[3], seed=1, progress=False, log=print)
"""


def test_killed_training_resumes_to_the_same_model(dataset, tmp_path):
    ds = read_dataset(dataset)
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(len(ds.frames), 16)).astype(np.float32)
    np.save(tmp_path / "f.npy", feats)
    epochs = 30
    # uninterrupted reference
    cfg = AggregatorStageConfig(epochs=epochs, checkpoint_every=1, batch_size=4)
    ref = train_aggregator("gltr", {}, ds, torch.from_numpy(feats), SequenceIndex.of(ds), cfg, device=torch.device("cpu"), out_dir=tmp_path / "ref", seed=1, progress=False, log=lambda s: None)
    # a run killed mid-way (SIGKILL: no chance to clean up), then re-run
    (tmp_path / "resume.py").write_text(RESUME_SCRIPT)
    cmd = [sys.executable, str(tmp_path / "resume.py"), str(dataset), str(tmp_path / "f.npy"), str(tmp_path / "run"), str(epochs)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    state = tmp_path / "run" / "train_state.pt"
    kill_after_epoch(p, state, 2)
    assert state.exists() and not (tmp_path / "run" / "aggregator.pt").exists(), "the kill should land mid-training"
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    assert "resuming after epoch" in out
    resumed = torch.load(tmp_path / "run" / "aggregator.pt", weights_only=True)
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(resumed[k], v, rtol=0, atol=0)


HELD_SCRIPT = """
import sys, time, torch, numpy as np
from pathlib import Path
from protocols import read_dataset
from benchmark.config import AggregatorStageConfig
from benchmark.registry import register_aggregator
from benchmark.stage_aggregator import SequenceIndex, train_aggregator

class Held(torch.nn.Module):
    # mean pooling that, while training, holds on until the test creates the file argv[4]
    def __init__(self, d):
        super().__init__()
        self.lin, self.out_dim = torch.nn.Linear(d, d), d
    def forward(self, x, mask=None):
        t0 = time.time()
        while self.training and not Path(sys.argv[4]).exists() and time.time() - t0 < 120:
            time.sleep(0.02)
        return self.lin(x.mean(1))

register_aggregator("held")(lambda in_dim: Held(in_dim))
ds = read_dataset(sys.argv[1])
cfg = AggregatorStageConfig(epochs=2, checkpoint_every=1, batch_size=4)
train_aggregator("held", {}, ds, torch.from_numpy(np.load(sys.argv[2])), SequenceIndex.of(ds), cfg, device=torch.device("cpu"), out_dir=sys.argv[3], progress=False, log=print)
"""


def test_a_second_process_waits_for_the_first_and_reuses_its_model(dataset, tmp_path):
    """Two runs sharing a run directory (e.g. one per GPU) never train the same stage side by side."""
    import fcntl

    ds = read_dataset(dataset)
    np.save(tmp_path / "f.npy", np.random.default_rng(0).normal(size=(len(ds.frames), 16)).astype(np.float32))
    (tmp_path / "train.py").write_text(HELD_SCRIPT)
    go = tmp_path / "go"
    cmd = [sys.executable, "-u", str(tmp_path / "train.py"), str(dataset), str(tmp_path / "f.npy"), str(tmp_path / "run"), str(go)]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    second = None
    try:
        deadline = time.time() + 300
        while time.time() < deadline and first.poll() is None:  # until the first holds the folder
            try:
                with open(tmp_path / "run" / ".lock") as f:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(f, fcntl.LOCK_UN)
            except BlockingIOError:
                break
            except FileNotFoundError:
                pass
            time.sleep(0.02)
        assert first.poll() is None, first.communicate()[0]
        second = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        waited = second.stdout.readline()
        assert "another process is working here; waiting for it to finish" in waited, waited + second.communicate()[0]
    finally:
        go.touch()
    out_first = first.communicate(timeout=600)[0]
    out_second = second.communicate(timeout=600)[0]
    assert first.returncode == 0 and second.returncode == 0, out_first + out_second
    assert "epochs in" in out_first and "epochs in" not in out_second  # the second trained nothing


def test_torchrun_ddp_stage_a_on_cpu(dataset, tmp_path):
    """torchrun --nproc-per-node 2: stage (a) under DDP (gloo on CPU), the rest on rank 0."""
    (tmp_path / "cfg.json").write_text(json.dumps(SMALL))
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "lsvid.cli", "bench",
        "--dataset", str(dataset), "--methods", "avgpool,dtp", "--config", str(tmp_path / "cfg.json"), "--out", str(tmp_path / "runs"), "--quiet", "--device", "cpu",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    board = pd.read_parquet(tmp_path / "runs" / "leaderboard.parquet")
    assert sorted(board.method) == ["avgpool", "dtp"]  # written once, by rank 0
    assert len(list((tmp_path / "runs" / "mars" / "trial0").glob("frame-*/backbone.pt"))) == 1
    assert "2 new leaderboard rows" in r.stdout and "0 new leaderboard rows" in r.stdout


FRAME_SCRIPT = """
import sys, json, torch
from protocols import read_dataset
from benchmark.config import FrameStageConfig
from benchmark.stage_frame import train_frame_model
cfg = FrameStageConfig(**json.loads(sys.argv[3]))
train_frame_model(read_dataset(sys.argv[1]), cfg, out_dir=sys.argv[2], device=torch.device("cpu"), seed=5, progress=False)
"""


def test_killed_frame_training_resumes_to_the_same_checkpoint(dataset, tmp_path):
    from benchmark.stage_frame import file_sha256

    fcfg = {**SMALL["frame"], "epochs": 4, "frames_per_tracklet": 3}
    (tmp_path / "frame.py").write_text(FRAME_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the same thread count in every run: same float reduction order
    subprocess.run([sys.executable, str(tmp_path / "frame.py"), str(dataset), str(tmp_path / "ref"), json.dumps(fcfg)], check=True, env=env, capture_output=True)
    ref = tmp_path / "ref" / "backbone.pt"
    cmd = [sys.executable, str(tmp_path / "frame.py"), str(dataset), str(tmp_path / "run"), json.dumps(fcfg)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    kill_after_epoch(p, tmp_path / "run" / "train_state.pt", 1)
    assert not (tmp_path / "run" / "backbone.pt").exists(), "the kill should land mid-training"
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
    assert "resuming" in out
    assert file_sha256(tmp_path / "run" / "backbone.pt") == file_sha256(ref)


def test_killed_frame_training_resumes_inside_an_epoch(dataset, tmp_path):
    """A kill between two batches of one epoch: the re-run continues from that batch
    (same frames, same augmentation draws) to the very same checkpoint."""
    from benchmark.stage_frame import file_sha256

    fcfg = {**SMALL["frame"], "epochs": 2, "batch_size": 8, "checkpoint_minutes": 0}
    (tmp_path / "frame.py").write_text(FRAME_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(tmp_path / "frame.py"), str(dataset), str(tmp_path / "ref"), json.dumps(fcfg)], check=True, env=env, capture_output=True)
    cmd = [sys.executable, str(tmp_path / "frame.py"), str(dataset), str(tmp_path / "run"), json.dumps(fcfg)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    kill_when(p, tmp_path / "run" / "train_state.pt", lambda st: st["epoch"] == 1 and (st["batch"] or 0) >= 2, "a batch of epoch 2")
    assert not (tmp_path / "run" / "backbone.pt").exists(), "the kill should land mid-training"
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
    assert "in epoch 2/2 after batch" in out
    assert file_sha256(tmp_path / "run" / "backbone.pt") == file_sha256(tmp_path / "ref" / "backbone.pt")


def test_one_command_fills_several_datasets_and_seeds_with_fused_stage_b(dataset, tmp_path):
    """--dataset repeated and --seed repeated: one row per (dataset, method, trial, seed), as separate
    commands give, with the stage (b) runs of each method trained in one stack."""
    native = tmp_path / "native"
    write_native("dukev", native, seed=4)
    duke = convert("dukev", native, tmp_path / "duke")
    (tmp_path / "cfg.json").write_text(json.dumps(SMALL))
    common = ["--methods", "dtp,avgpool", "--config", str(tmp_path / "cfg.json"), "--quiet"]
    both = ["bench", "--dataset", str(dataset), "--dataset", str(duke), "--seed", "0", "--seed", "1", "--out", str(tmp_path / "both"), *common]
    r = CliRunner().invoke(main, both)
    assert r.exit_code == 0, r.output
    assert "stage (b) dtp: 4 runs fused in one step" in r.output
    board = pd.read_parquet(tmp_path / "both" / "leaderboard.parquet")
    assert sorted(zip(board.dataset, board.method, board.seed)) == sorted(
        (d, m, s) for d in ("mars", "dukev") for m in ("dtp", "avgpool") for s in (0, 1))
    for ds_path, name in ((dataset, "mars"), (duke, "dukev")):
        r = CliRunner().invoke(main, ["bench", "--dataset", str(ds_path), "--seed", "1", "--no-fuse", "--out", str(tmp_path / name), *common])
        assert r.exit_code == 0 and "fused" not in r.output, r.output
        alone = pd.read_parquet(tmp_path / name / "leaderboard.parquet").set_index("method")
        fused = board[(board.dataset == name) & (board.seed == 1)].set_index("method")
        for m in ("dtp", "avgpool"):
            assert fused.loc[m, "mAP"] == pytest.approx(alone.loc[m, "mAP"], abs=1e-3)
            assert fused.loc[m, "checkpoint_sha256"] == alone.loc[m, "checkpoint_sha256"]  # the same stage (a) features
    r = CliRunner().invoke(main, both)  # nothing left to do
    assert r.exit_code == 0 and r.output.count("already on the leaderboard") == 4, r.output
