"""End-to-end video training (benchmark.stage_video) and the named recipes (benchmark.recipes)."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from bench_helpers import kill_after_epoch, kill_when
from click.testing import CliRunner

from benchmark.config import BenchConfig, VideoStageConfig
from benchmark.fingerprint import file_sha256
from benchmark.recipes import RECIPES, method_options, recipe_config
from benchmark.stage_video import clip_offsets, epoch_clips, train_video_model
from lsvid.cli import main
from lsvid.toy_native import write_native
from lsvid_core.errors import ConfigError
from protocols import read_dataset
from protocols.datasets import convert

FRAME = {"backbone": "resnet18", "height": 32, "width": 16, "embed_dim": 32}  # the toy frames' own size
VIDEO = {"clip_len": 4, "batch_size": 5, "epochs": 3, "workers": 0, "lr": 0.01}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    base = tmp_path_factory.mktemp("video")
    write_native("mars", base / "native", seed=0, train_ids=6, test_ids=8)
    return convert("mars", base / "native", base / "ds")


class _Draws:
    """A stand-in generator whose uniform draws are given."""

    def __init__(self, u):
        self.u = np.asarray(u, float)

    def random(self, n):
        assert n == len(self.u)
        return self.u


def test_clips_follow_the_released_sampling_rule():
    # 20 frames, clip 16: start = floor(u * (20 - 16)) -> u 0.999 gives 3 (never 4, the released rule's quirk);
    # exactly 16 frames: start 0 whatever u; 5 frames: repeated cyclically 0..4, 0..4, ...
    off, mask = clip_offsets(np.array([20, 16, 5]), 16, _Draws([0.999, 0.7, 0.5]))
    assert off[0].tolist() == list(range(3, 19))
    assert off[1].tolist() == list(range(16))
    assert off[2].tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0]
    assert mask.all()
    off, mask = clip_offsets(np.array([20, 16]), 16, _Draws([0.0, 0.0]))
    assert off[0, 0] == 0 and off[1, -1] == 15


def test_short_sequences_can_be_padded_and_masked_instead():
    off, mask = clip_offsets(np.array([3, 6]), 4, _Draws([0.2, 0.6]), short="pad")
    assert off[0].tolist() == [0, 1, 2, 0] and mask[0].tolist() == [True, True, True, False]
    assert off[1].tolist() == [1, 2, 3, 4] and mask[1].all()  # floor(0.6 * 2) = 1


def test_epoch_clips_depend_on_seed_and_epoch_only():
    cfg = VideoStageConfig(clip_len=4)
    start, length = np.array([0, 10, 30, 31]), np.array([10, 20, 1, 9])
    a = epoch_clips(start, length, cfg, seed=3, epoch=2)
    b = epoch_clips(start, length, cfg, seed=3, epoch=2)
    c = epoch_clips(start, length, cfg, seed=3, epoch=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    order, rows, _ = a
    assert sorted(order.tolist()) == [0, 1, 2, 3]
    for seq, r in zip(order, rows):  # every clip stays inside its own sequence
        assert start[seq] <= r.min() and r.max() < start[seq] + length[seq]


def small(recipe="released", video=None, **frame):
    return recipe_config(recipe, {"frame": {**FRAME, **frame}, "video": {**VIDEO, **(video or {})}, "training": "end_to_end"})


def test_end_to_end_training_learns(dataset, tmp_path):
    """Backbone and aggregator together: the train loss falls and the train accuracy rises well above chance."""
    ds = read_dataset(dataset)
    cfg = small(video={"epochs": 15})
    lines = []
    ckpt, agg = train_video_model("gltr", method_options("released", "gltr"), ds, cfg, out_dir=tmp_path / "run", device=torch.device("cpu"),
                                  seed=0, log=lines.append, progress=False)
    found = [(int(m[1]), float(m[2]), float(m[3]) / 100) for m in (re.search(r"epoch (\d+)/15: loss ([\d.]+), train acc ([\d.]+)%", s) for s in lines) if m]
    first, last = found[0], found[-1]
    assert first[0] == 1 and last[0] == 15
    assert last[1] < 0.5 * first[1], found
    assert last[2] >= 0.5, found  # 6 identities: chance is 1/6
    assert agg.out_dim == 4 * 32 and not agg.training  # released GLTR: the raw feature beside three DTP branches
    from gltr import load_checkpoint

    backbone, extra = load_checkpoint(ckpt, return_extra=True)
    assert extra["stage"] == "video" and extra["config"]["height"] == 32
    assert backbone.config.last_stride == 1 and backbone.config.embed_bn is False


VIDEO_SCRIPT = """
import sys, json, torch
from protocols import read_dataset
from benchmark.recipes import method_options, recipe_config
from benchmark.stage_video import train_video_model
cfg = recipe_config("released", json.loads(sys.argv[3]))
train_video_model("gltr", method_options("released", "gltr"), read_dataset(sys.argv[1]), cfg, out_dir=sys.argv[2], device=torch.device("cpu"), seed=4, progress=False)
"""


@pytest.mark.slow
@pytest.mark.parametrize("where", ["between epochs", "inside an epoch"])
def test_killed_end_to_end_training_resumes_to_the_same_model(dataset, tmp_path, where):
    """SIGKILL mid-training, re-run: the very same backbone checkpoint and aggregator as an uninterrupted run."""
    video = {**VIDEO, "epochs": 3, "checkpoint_minutes": 0.0 if where == "inside an epoch" else 10.0}
    cfg = json.dumps({"frame": FRAME, "video": video, "training": "end_to_end"})
    (tmp_path / "video.py").write_text(VIDEO_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one thread in every run: the same float reduction order
    subprocess.run([sys.executable, str(tmp_path / "video.py"), str(dataset), str(tmp_path / "ref"), cfg], check=True, env=env, capture_output=True)
    cmd = [sys.executable, str(tmp_path / "video.py"), str(dataset), str(tmp_path / "run"), cfg]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    state = tmp_path / "run" / "train_state.pt"
    if where == "inside an epoch":
        kill_when(p, state, lambda st: st["epoch"] == 1 and (st["batch"] or 0) >= 2, "a batch of epoch 2")
    else:
        kill_after_epoch(p, state, 1)
    assert not (tmp_path / "run" / "aggregator.pt").exists(), "the kill should land mid-training"
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
    assert "resuming" in out
    for name in ("backbone.pt", "aggregator.pt"):
        a, b = tmp_path / "run" / name, tmp_path / "ref" / name
        if name == "backbone.pt":
            assert file_sha256(a) == file_sha256(b)
        else:
            sa, sb = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
            assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_bench_with_the_released_recipe_records_it(dataset, tmp_path):
    (tmp_path / "cfg.json").write_text(json.dumps({"frame": FRAME, "video": {**VIDEO, "epochs": 2}, "feature_batch": 64}))
    args = ["bench", "--dataset", str(dataset), "--recipe", "released", "--methods", "gltr,avgpool", "--config", str(tmp_path / "cfg.json"),
            "--out", str(tmp_path / "runs"), "--quiet"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    board = pd.read_parquet(tmp_path / "runs" / "leaderboard.parquet")
    assert sorted(board.method) == ["avgpool", "gltr"]
    assert set(board.recipe) == {"released"} and set(board.training) == {"end_to_end"}
    gltr = board[board.method == "gltr"].iloc[0]
    assert json.loads(gltr.options)["dilations"] == [1, 2, 3]  # the recipe's options, recorded
    assert json.loads(gltr.config)["frame"]["last_stride"] == 1
    assert len(list((tmp_path / "runs" / "mars" / "trial0").glob("video-gltr-*/backbone.pt"))) == 1
    assert not list((tmp_path / "runs" / "mars" / "trial0").glob("frame-*"))  # no stage (a) in end-to-end training
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0 and "already on the leaderboard" in r.output


def test_the_paper_recipe_keeps_every_stored_config_as_it_was():
    """Configs stored before recipes existed keep their hashes: the new fields are left out at their defaults."""
    d = BenchConfig().to_dict()
    assert {"video", "training", "recipe", "ap"}.isdisjoint(d)
    assert {"last_stride", "embed_bn"}.isdisjoint(d["frame"])
    assert recipe_config(None).to_dict() == d
    released = recipe_config("released").to_dict()
    assert released["recipe"] == "released" and released["training"] == "end_to_end" and released["video"]["clip_len"] == 16
    assert released["frame"]["last_stride"] == 1 and released["frame"]["embed_bn"] is False


def test_recipe_options_and_overrides():
    assert method_options("paper", "gltr") == {}
    assert method_options("released", "gltr")["normalize"] == "softmax_unscaled"
    assert method_options("released", "gltr", {"init_std": 0.01})["init_std"] == 0.01  # --option wins
    assert method_options("released", "lstm") == {}
    cfg = recipe_config("released", {"video": {"epochs": 7}})
    assert cfg.video.epochs == 7 and cfg.video.clip_len == 16 and cfg.frame.last_stride == 1
    assert recipe_config(None, {"recipe": "released"}).training == "end_to_end"
    with pytest.raises(ConfigError, match="config file says recipe 'paper'"):
        recipe_config("released", {"recipe": "paper"})
    with pytest.raises(ConfigError, match="not one of paper, released"):
        recipe_config("nope")
    assert set(RECIPES) == {"paper", "released"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--recipe", "nope"], "'nope' is not one of 'paper', 'released'"),
        (["--recipe", "released", "--config", "{cfg}"], "config.video.short: 'loop' is not one of repeat, pad"),
    ],
)
def test_bad_recipe_input_is_refused_before_any_work(dataset, tmp_path, args, message):
    (tmp_path / "cfg.json").write_text(json.dumps({"video": {"short": "loop"}}))
    args = [a.replace("{cfg}", str(tmp_path / "cfg.json")) for a in args]
    r = CliRunner().invoke(main, ["bench", "--dataset", str(dataset), "--out", str(tmp_path / "runs"), *args])
    assert r.exit_code != 0 and message in r.output and "Traceback" not in r.output
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_torchrun_ddp_end_to_end_on_cpu(dataset, tmp_path):
    """torchrun --nproc-per-node 2: end-to-end training under DDP (gloo on CPU), scoring on rank 0 only."""
    (tmp_path / "cfg.json").write_text(json.dumps({"frame": FRAME, "video": {**VIDEO, "epochs": 1}, "feature_batch": 64}))
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "lsvid.cli", "bench", "--recipe", "released",
        "--dataset", str(dataset), "--methods", "avgpool", "--config", str(tmp_path / "cfg.json"), "--out", str(tmp_path / "runs"), "--quiet", "--device", "cpu",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    board = pd.read_parquet(tmp_path / "runs" / "leaderboard.parquet")
    assert board.method.tolist() == ["avgpool"] and board.training.tolist() == ["end_to_end"]  # written once, by rank 0
    assert len(list((tmp_path / "runs" / "mars" / "trial0").glob("video-avgpool-*/backbone.pt"))) == 1
