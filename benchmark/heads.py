"""The identity classifier the harness puts on a video feature while training (methods carry none).

``linear`` is stage (b)'s (a plain ``Linear`` in PyTorch's default
initialisation).  ``bn_relu_dropout`` is the released GLTR code's training
head (``resnet.py``: ``feat_bn`` -> ReLU -> ``Dropout(0.5)`` -> ``classifier``,
the classifier's weight drawn with std 0.001 and its bias zero); it is only
used in training, so the video feature scored is the aggregator's output.
"""
from __future__ import annotations

from torch import nn

from lsvid_core.errors import ConfigError

HEADS = ("linear", "bn_relu_dropout")


def make_head(kind: str, in_dim: int, num_classes: int, *, dropout: float = 0.5) -> nn.Module:
    """The classifier ``kind`` from ``in_dim``-wide video features to ``num_classes`` identities."""
    if kind == "linear":
        return nn.Linear(in_dim, num_classes)
    if kind != "bn_relu_dropout":
        raise ConfigError(f"head {kind!r} is not one of {', '.join(HEADS)}")
    classifier = nn.Linear(in_dim, num_classes)
    nn.init.normal_(classifier.weight, std=0.001)
    nn.init.zeros_(classifier.bias)
    return nn.Sequential(nn.BatchNorm1d(in_dim), nn.ReLU(inplace=True), nn.Dropout(dropout), classifier)
