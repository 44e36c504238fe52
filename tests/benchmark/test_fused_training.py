"""Fused stage (b) training: many runs in one stacked step give each run what it gets alone."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from bench_helpers import kill_when, runs, toy

from benchmark.aggregators import BASELINES
from benchmark.config import AggregatorStageConfig
from benchmark.fused_embedding import embed_runs
from benchmark.fused_training import train_aggregators
from benchmark.stage_aggregator import SequenceIndex, embed_sequences

CPU = torch.device("cpu")
# methods whose forward has no batched matrix product: vmap runs the very same kernels, so fused is bit-exact
EXACT = {"avgpool", "maxpool", "tpp"}


def assert_same_models(fused, alone, exact: bool) -> None:
    for f, a in zip(fused, alone):
        fs, as_ = f.state_dict(), a.state_dict()
        assert fs.keys() == as_.keys()
        for k in fs:
            if exact or not fs[k].is_floating_point():
                torch.testing.assert_close(fs[k], as_[k], rtol=0, atol=0, msg=k)
            else:
                torch.testing.assert_close(fs[k], as_[k], rtol=1e-4, atol=2e-5, msg=k)


@pytest.mark.parametrize("method", BASELINES)
def test_fused_runs_equal_each_run_trained_alone(method, tmp_path):
    # three trials of one dataset (own features, own seeds) and a second dataset of another size and
    # class count: four runs, one stack, each moving through its own epochs
    a, fa = toy(40, 8, 0)
    _, fb = toy(40, 8, 1)
    c, fc = toy(27, 5, 2)
    specs = [(a, fa, 0), (a, fb, 1), (a, fa, 2), (c, fc, 3)]
    cfg = AggregatorStageConfig(epochs=3, lr_step=2, checkpoint_every=1)
    lines: list[str] = []
    fused = train_aggregators(runs(method, tmp_path / "fused", specs), cfg, device=CPU, log=lines.append, progress=False)
    alone = train_aggregators(runs(method, tmp_path / "alone", specs), cfg, device=CPU, log=lines.append, progress=False, fuse=False)
    trainable = any(p.requires_grad for p in fused[0].parameters())
    assert (f"stage (b) {method}: 4 runs fused in one step" in lines) == trainable, lines
    assert_same_models(fused, alone, exact=method in EXACT)
    for (ds, feats, _), f, al in zip(specs, fused, alone):
        rows = np.arange(len(ds.tracklets))
        vf = embed_sequences(f, feats, SequenceIndex.of(ds), rows, device=CPU)
        va = embed_sequences(al, feats, SequenceIndex.of(ds), rows, device=CPU)
        np.testing.assert_allclose(vf, va, rtol=1e-4, atol=1e-4 if method not in EXACT else 0)
    # evaluation fused too: the three runs on dataset a (two on the same features) in one vmapped pass,
    # and the two on the same features with those features shared, each giving what it gives alone
    rows, index = np.arange(len(a.tracklets)), SequenceIndex.of(a)
    for picked in ([0, 1, 2], [0, 2]):
        together = embed_runs([fused[k] for k in picked], [specs[k][1] for k in picked], index, rows, device=CPU, max_frames=300, stacked=True, log=lines.append)
        for k, v in zip(picked, together):
            np.testing.assert_allclose(v, embed_sequences(fused[k], specs[k][1], index, rows, device=CPU), rtol=1e-4, atol=1e-4)
    assert not any("cannot be embedded together" in line for line in lines), lines
    if trainable:  # and the runs did learn: not four copies of one model, not the initial weights
        w = [dict(m.named_parameters()) for m in fused]
        name = next(n for n, p in w[0].items() if p.requires_grad and p.dim() > 1)
        assert not torch.equal(w[0][name], w[1][name])


def test_fused_runs_differ_from_one_another_only_by_their_own_settings(tmp_path):
    """A run's result does not depend on which other runs share its stack."""
    a, fa = toy(40, 8, 0)
    _, fb = toy(40, 8, 1)
    cfg = AggregatorStageConfig(epochs=2, checkpoint_every=1)
    pair = train_aggregators(runs("dtp", tmp_path / "pair", [(a, fa, 0), (a, fb, 5)]), cfg, device=CPU, log=lambda s: None, progress=False)
    trio = train_aggregators(runs("dtp", tmp_path / "trio", [(a, fa, 0), (a, fa, 9), (a, fa, 3)]), cfg, device=CPU, log=lambda s: None, progress=False)
    for k, v in pair[0].state_dict().items():
        torch.testing.assert_close(trio[0].state_dict()[k], v, rtol=1e-5, atol=1e-6)


class NotVmappable(torch.nn.Module):
    """Mean pooling behind a Linear, with a host read in its forward (vmap refuses .item())."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.lin, self.out_dim = torch.nn.Linear(d, d), d

    def forward(self, x, mask=None):
        if float(x.abs().max().item()) < 0:  # never true; only the .item() matters
            return x[:, 0]
        return self.lin(x.mean(1))


def test_a_plugin_that_cannot_be_fused_trains_one_by_one_and_says_so(tmp_path):
    from benchmark.registry import REGISTRY, register_aggregator

    if "not_vmappable" not in REGISTRY.names():
        register_aggregator("not_vmappable")(lambda in_dim: NotVmappable(in_dim))
    a, fa = toy(40, 8, 0)
    specs = [(a, fa, 0), (a, fa, 1)]
    cfg = AggregatorStageConfig(epochs=2, checkpoint_every=1)
    lines: list[str] = []
    models = train_aggregators(runs("not_vmappable", tmp_path / "f", specs), cfg, device=CPU, log=lines.append, progress=False)
    said = [s for s in lines if "cannot be fused" in s]
    assert said and "not_vmappable" in said[0] and "one by one" in said[0] and ".item()" in said[0], lines
    alone = train_aggregators(runs("not_vmappable", tmp_path / "a", specs), cfg, device=CPU, log=lines.append, progress=False, fuse=False)
    assert_same_models(models, alone, exact=True)  # the fallback is the lone run itself
    rows, index = np.arange(len(a.tracklets)), SequenceIndex.of(a)
    lines.clear()
    together = embed_runs(models, [fa, fa], index, rows, device=CPU, stacked=True, log=lines.append)
    assert any("2 runs cannot be embedded together" in s and "one by one" in s for s in lines), lines
    for m, v in zip(models, together):
        np.testing.assert_array_equal(v, embed_sequences(m, fa, index, rows, device=CPU))


FUSED_SCRIPT = """
import sys, torch
sys.path.insert(0, sys.argv[2])
from bench_helpers import toy, runs
from benchmark.config import AggregatorStageConfig
from benchmark.fused_training import train_aggregators
from pathlib import Path
a, fa = toy(40, 8, 0)
_, fb = toy(40, 8, 1)
c, fc = toy(27, 5, 2)
cfg = AggregatorStageConfig(epochs=int(sys.argv[3]), checkpoint_every=1, lr_step=4)
models = train_aggregators(runs("gltr", Path(sys.argv[1]), [(a, fa, 0), (a, fb, 1), (c, fc, 2)]), cfg, device=torch.device("cpu"), log=print, progress=False)
"""


def test_a_killed_fused_run_resumes_to_the_same_models(tmp_path):
    epochs = 12
    script = tmp_path / "fused.py"
    script.write_text(FUSED_SCRIPT)
    here = str(Path(__file__).parent)
    ref = subprocess.run([sys.executable, str(script), str(tmp_path / "ref"), here, str(epochs)], capture_output=True, text=True, check=True)
    assert "3 runs fused" in ref.stdout
    cmd = [sys.executable, str(script), str(tmp_path / "run"), here, str(epochs)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    states = [tmp_path / "run" / f"run{k}" / "train_state.pt" for k in range(3)]
    kill_when(p, states[0], lambda st: st["epoch"] >= 3 and all(s.exists() for s in states), "epoch 3 of every run")
    assert not (tmp_path / "run" / "run0" / "aggregator.pt").exists(), "the kill should land mid-training"
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    assert "resuming after epoch" in out
    for k in range(3):
        resumed = torch.load(tmp_path / "run" / f"run{k}" / "aggregator.pt", weights_only=True)
        uninterrupted = torch.load(tmp_path / "ref" / f"run{k}" / "aggregator.pt", weights_only=True)
        for name, v in uninterrupted.items():
            torch.testing.assert_close(resumed[name], v, rtol=1e-5, atol=1e-6, msg=name)



@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: the training step is captured in a CUDA graph only there")
@pytest.mark.parametrize("method", ["gltr", "lstm", "dtp"])
def test_cuda_graph_replay_equals_eager_steps(method, tmp_path):
    """On CUDA the fused step is captured once and replayed; it must train what eager steps train."""
    from dataclasses import replace

    dev = torch.device("cuda")
    a, fa = toy(40, 8, 0)
    c, fc = toy(27, 5, 2)
    specs = [(a, fa.to(dev), 0), (a, fa.to(dev), 1), (c, fc.to(dev), 3)]
    cfg = AggregatorStageConfig(epochs=3, lr_step=2, checkpoint_every=1)
    lines: list[str] = []
    graphed = train_aggregators(runs(method, tmp_path / "graph", specs), cfg, device=dev, log=lines.append, progress=False)
    eager = train_aggregators(runs(method, tmp_path / "eager", specs), replace(cfg, cuda_graphs=False), device=dev, log=lines.append, progress=False)
    assert not any("capture failed" in s for s in lines), lines
    for g, e in zip(graphed, eager):
        for k, v in e.state_dict().items():
            torch.testing.assert_close(g.state_dict()[k], v, rtol=1e-3, atol=1e-4, msg=k)
