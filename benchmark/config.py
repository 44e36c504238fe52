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
AGG_EXECUTION_FIELDS = ("eval_batch_frames", "checkpoint_every", "jobs", "fuse", "cuda_graphs")
BENCH_EXECUTION_FIELDS = ("feature_batch",)
VIDEO_EXECUTION_FIELDS = ("workers", "decoder", "checkpoint_minutes")

# Fields added after configs were first stored (leaderboard rows, run.json): a stored config leaves them
# out while they hold these values, so every config stored before them keeps its hash and run folders.
ADDED_LATER: dict[str, dict[str, Any]] = {
    "frame": {"last_stride": 2, "embed_bn": True},
    "agg": {"fuse": True, "cuda_graphs": True},
    "bench": {"ap": None, "training": "two_stage", "recipe": "paper", "eval": "default"},
}


def stored(section: dict[str, Any], kind: str) -> dict[str, Any]:
    """``section`` less its :data:`ADDED_LATER` fields of ``kind`` that hold their old values."""
    later = ADDED_LATER[kind]
    return {k: v for k, v in section.items() if not (k in later and v == later[k])}


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
    if isinstance(out.get("video"), dict):
        out["video"] = without_execution_fields(out["video"], VIDEO_EXECUTION_FIELDS)
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
    last_stride: int = 2  # ResNets: 1 keeps layer4 at 16x8 (the released GLTR code), 2 is torchvision's
    embed_bn: bool = True  # BatchNorm after the embedding Linear (the released code has none)

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
        check(self.last_stride in (1, 2), "last_stride", f"must be 1 or 2, got {self.last_stride!r}")


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
    jobs: int = 1  # groups of runs trained at once, each in its own process (small steps leave a GPU idle)
    fuse: bool = True  # train the runs sharing an architecture (trials, seeds, datasets) in one stacked step
    cuda_graphs: bool = True  # on CUDA, capture the training step in a CUDA graph and replay it

    def __post_init__(self) -> None:
        at_least(self, ("seq_len", "checkpoint_every", "jobs", "eval_batch_frames", "lr_step"), 1)
        # a batch of one sequence is skipped (it would break BatchNorm statistics): no training at all
        at_least(self, ("batch_size",), 2)
        at_least(self, ("epochs", "momentum", "weight_decay", "grad_clip"), 0)
        positive(self, ("lr", "lr_gamma"))


SHORT_CLIPS = ("repeat", "pad")


@dataclass
class VideoStageConfig:
    """End-to-end training: backbone and aggregator trained together on clips.

    Defaults are the GLTR authors' released ``train.py``: one clip of 16
    adjacent frames per sequence per epoch, batches of 10 sequences, softmax
    through BatchNorm -> ReLU -> Dropout 0.5 -> Linear, SGD lr 0.01 (every
    parameter alike) x0.1 every 120 epochs, momentum 0.9, weight decay 5e-4,
    501 epochs, no augmentation, sequences shorter than a clip repeated
    cyclically.  The frame size, backbone and embedding come from ``frame``.
    """

    clip_len: int = 16
    batch_size: int = 10  # sequences per step (clip_len frames each)
    epochs: int = 501
    lr: float = 0.01
    lr_step: int = 120
    lr_gamma: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    head: str = "bn_relu_dropout"  # the classifier the harness adds: linear | bn_relu_dropout
    dropout: float = 0.5  # bn_relu_dropout only
    short: str = "repeat"  # sequences shorter than clip_len: repeat (cyclically) | pad (mask the padding)
    flip: bool = False
    random_erasing: float = 0.0
    workers: int | None = None  # decoding threads; None: a core each but one, at most 16
    decoder: str = "threads"
    checkpoint_minutes: float = 10.0  # a resumable checkpoint inside an epoch at most this often

    def __post_init__(self) -> None:
        from .frames import DECODERS
        from .heads import HEADS

        check(self.head in HEADS, "head", f"{self.head!r} is not one of {', '.join(HEADS)}")
        check(self.short in SHORT_CLIPS, "short", f"{self.short!r} is not one of {', '.join(SHORT_CLIPS)}")
        check(self.decoder in DECODERS, "decoder", f"{self.decoder!r} is not one of {', '.join(DECODERS)}")
        at_least(self, ("clip_len", "lr_step"), 1)
        at_least(self, ("batch_size",), 2)  # a lone sequence would break the head's BatchNorm
        at_least(self, ("epochs", "workers", "momentum", "weight_decay", "checkpoint_minutes"), 0)
        positive(self, ("lr", "lr_gamma"))
        fraction(self, ("random_erasing",))
        check(0.0 <= self.dropout < 1.0, "dropout", f"must be in [0, 1), got {self.dropout!r}")


TRAININGS = ("two_stage", "end_to_end")


@dataclass
class BenchConfig:
    """One ``lsvid bench`` run: which methods, how trained, how scored."""

    frame: FrameStageConfig = field(default_factory=FrameStageConfig)
    agg: AggregatorStageConfig = field(default_factory=AggregatorStageConfig)
    video: VideoStageConfig = field(default_factory=VideoStageConfig)
    training: str = "two_stage"  # two_stage: stages (a) then (b); end_to_end: backbone and aggregator together (video)
    recipe: str = "paper"  # the named recipe these settings started from (benchmark.recipes), recorded with each result
    seed: int = 0
    metric: str = "euclidean"
    rerank: bool = False
    feature_batch: int = 512  # frames per batch in feature extraction
    ap: str | None = None  # AP definition of the mAP (torchreid | market1501); None: the dataset protocol's
    eval: str = "default"  # evaluation setting (protocols.evaluation.EVAL_SETTINGS): default | official (the MATLAB scripts')

    def __post_init__(self) -> None:
        from protocols.evaluation import EVAL_SETTINGS
        from protocols.metrics import AP_VARIANTS, METRICS

        check(self.metric in METRICS, "metric", f"{self.metric!r} is not one of {', '.join(METRICS)}")
        check(self.ap is None or self.ap in AP_VARIANTS, "ap", f"{self.ap!r} is not one of {', '.join(AP_VARIANTS)} (or null: the dataset protocol's)")
        check(self.eval in EVAL_SETTINGS, "eval", f"{self.eval!r} is not one of {', '.join(EVAL_SETTINGS)}")
        fixed = EVAL_SETTINGS[self.eval]  # refused now rather than after training: a setting's own metric and AP
        check(fixed.metric in (None, self.metric), "metric", f"{self.metric!r} conflicts with eval {self.eval!r}, which scores with {fixed.metric!r}")
        check(fixed.ap is None or self.ap in (None, fixed.ap), "ap", f"{self.ap!r} conflicts with eval {self.eval!r}, which scores with {fixed.ap!r}")
        from .recipes import RECIPES

        check(self.training in TRAININGS, "training", f"{self.training!r} is not one of {', '.join(TRAININGS)}")
        check(self.recipe in RECIPES, "recipe", f"{self.recipe!r} is not one of {', '.join(RECIPES)}")
        at_least(self, ("seed",), 0)
        at_least(self, ("feature_batch",), 1)

    def to_dict(self) -> dict[str, Any]:
        d = stored(asdict(self), "bench")
        d["frame"] = stored(d["frame"], "frame")
        d["agg"] = stored(d["agg"], "agg")
        if self.training == "two_stage":
            del d["video"]  # not used: two-stage configs (and their hashes) stay as they were before it
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BenchConfig:
        return from_dict(cls, d, "config")

    @classmethod
    def from_file(cls, path: str | Path) -> BenchConfig:
        return from_file(cls, path)
