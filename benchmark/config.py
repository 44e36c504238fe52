"""Small dataclass configs for the two training stages and a benchmark run.

Defaults are the paper's (Li et al., ICCV 2019, Section 4.2).  Every field
travels with the results: a leaderboard row stores the whole config as JSON.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lsvid_core.config import at_least, check, fraction, from_dict, from_file, positive

# settings that change how fast a run goes, never what it learns or scores
FRAME_EXECUTION_FIELDS = ("workers", "decoder", "checkpoint_minutes")
AGG_EXECUTION_FIELDS = ("eval_batch_frames", "checkpoint_every", "jobs")
BENCH_EXECUTION_FIELDS = ("feature_batch",)


def without_execution_fields(section: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in section.items() if k not in names}


def result_settings(config: dict[str, Any]) -> dict[str, Any]:
    """A benchmark config (as stored in a leaderboard row) less its execution
    fields and its seed: two runs with equal result settings are repetitions
    of one experiment."""
    out = without_execution_fields(config, BENCH_EXECUTION_FIELDS + ("seed",))
    if isinstance(out.get("frame"), dict):
        out["frame"] = without_execution_fields(out["frame"], FRAME_EXECUTION_FIELDS)
    if isinstance(out.get("agg"), dict):
        out["agg"] = without_execution_fields(out["agg"], AGG_EXECUTION_FIELDS)
    return out


@dataclass
class FrameStageConfig:
    """Stage (a): the frame CNN trained with softmax over the train identities."""

    backbone: str = "resnet50"
    embed_dim: int = 128
    epochs: int = 20
    lr: float = 0.01
    lr_step: int = 10
    lr_gamma: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    height: int = 256
    width: int = 128
    flip: bool = True
    random_erasing: float = 0.5  # probability per frame; 0 disables
    frames_per_tracklet: int | None = None  # None: every train frame in every epoch
    workers: int | None = None  # decoding threads (or processes); None: a core each but one, at most 16
    decoder: str = "threads"  # threads | processes | nvjpeg (see benchmark.frames)
    checkpoint_minutes: float = 10.0  # a resumable checkpoint inside an epoch at most this often; every epoch's end saves one

    def __post_init__(self) -> None:
        from gltr import list_backbones

        from .frames import DECODERS

        check(self.decoder in DECODERS, "decoder", f"{self.decoder!r} is not one of {', '.join(DECODERS)}")
        check(self.backbone in list_backbones(), "backbone", f"{self.backbone!r} is not one of {', '.join(list_backbones())}")
        at_least(self, ("embed_dim", "lr_step", "batch_size", "frames_per_tracklet"), 1)
        at_least(self, ("height", "width"), 16)
        at_least(self, ("epochs", "workers", "momentum", "weight_decay", "checkpoint_minutes"), 0)
        positive(self, ("lr", "lr_gamma"))
        fraction(self, ("random_erasing",))


@dataclass
class AggregatorStageConfig:
    """Stage (b): an aggregator trained on cached frame features."""

    seq_len: int = 16
    batch_size: int = 10
    epochs: int = 400
    lr: float = 0.01
    lr_step: int = 120
    lr_gamma: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    grad_clip: float = 10.0  # max gradient norm; 0 disables
    eval_batch_frames: int = 65536  # frames per evaluation batch (all frames of each sequence)
    checkpoint_every: int = 10  # epochs between resumable checkpoints
    jobs: int = 1  # methods trained at once, each in its own process (small steps leave a GPU idle)

    def __post_init__(self) -> None:
        at_least(self, ("seq_len", "checkpoint_every", "jobs", "eval_batch_frames", "lr_step"), 1)
        # a batch of one sequence is skipped (it would break BatchNorm statistics): no training at all
        at_least(self, ("batch_size",), 2)
        at_least(self, ("epochs", "momentum", "weight_decay", "grad_clip"), 0)
        positive(self, ("lr", "lr_gamma"))


@dataclass
class BenchConfig:
    """One ``lsvid bench`` run: which methods, how trained, how scored."""

    frame: FrameStageConfig = field(default_factory=FrameStageConfig)
    agg: AggregatorStageConfig = field(default_factory=AggregatorStageConfig)
    seed: int = 0
    metric: str = "euclidean"
    rerank: bool = False
    feature_batch: int = 512  # frames per batch in feature extraction
    ap: str | None = None  # AP definition of the mAP (torchreid | market1501); None: the dataset protocol's

    def __post_init__(self) -> None:
        from protocols.metrics import AP_VARIANTS, METRICS

        check(self.metric in METRICS, "metric", f"{self.metric!r} is not one of {', '.join(METRICS)}")
        check(self.ap is None or self.ap in AP_VARIANTS, "ap", f"{self.ap!r} is not one of {', '.join(AP_VARIANTS)} (or null: the dataset protocol's)")
        at_least(self, ("seed",), 0)
        at_least(self, ("feature_batch",), 1)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["ap"] is None:
            del d["ap"]  # unset, it changes nothing: configs (and their hashes) stay as they were before the field
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchConfig:
        return from_dict(cls, d, "config")

    @classmethod
    def from_file(cls, path: str | Path) -> BenchConfig:
        return from_file(cls, path)
