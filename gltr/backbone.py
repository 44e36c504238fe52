"""Frame backbones: torchvision CNNs ending in a d-dimensional frame embedding.

The paper extracts one 128-d feature per 256x128 frame with ResNet-50
(Table 3 also tries AlexNet and Inception); here any of ResNet-18/34/50/101,
Inception-v3 and AlexNet, followed by ``Linear(feat_dim, d)`` and
``BatchNorm1d(d)`` (or, with ``embed_bn=False``, the plain Linear of the
authors' released code), with an optional identity classifier on the
embedding for softmax training.  Inputs are RGB, normalised with the ImageNet mean and std
(``IMAGENET_MEAN``, ``IMAGENET_STD``), ``(B, 3, 256, 128)``.

Weights never come from the network.  ``weights=`` takes

* a path: a torchvision ImageNet state dict of that architecture (its
  ImageNet classifier is dropped), or a checkpoint of ours
  (:func:`save_checkpoint`, or a raw ``FrameBackbone.state_dict()``);
* ``None`` (default): the torchvision ImageNet file if it is already in the
  torch hub cache (``$TORCH_HOME/hub/checkpoints``), otherwise random
  initialisation and one :class:`RandomInitWarning`;
* ``"imagenet"``: the hub cache file, or ``FileNotFoundError``;
* ``"random"``: random initialisation, silently.

A file of another architecture raises :class:`WeightsMismatchError` naming
the missing, unexpected and mis-shaped keys.

For the GPU: ``model.to(memory_format=torch.channels_last)`` (convolutions
then run channels-last whatever the input's layout) and bf16 autocast.
"""
from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torchvision import models

from gltr.weights import (
    RandomInitWarning,
    WeightsMismatchError,
    find_in_hub_cache,
    fit_state_dict,
    hub_cache_dir,
    read_weights_file,
    strip_prefix,
)
from lsvid_core.errors import ConfigError, MissingInputError, UnknownNameError
from lsvid_core.paths import atomic_write_bytes

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INPUT_SIZE = (256, 128)  # height, width
CHECKPOINT_FORMAT = "gltr.backbone/1"


@dataclass(frozen=True)
class _Spec:
    build: Callable[[], nn.Module]  # the torchvision network, randomly initialised
    feat_dim: int  # width of what feeds its ImageNet classifier
    head: str  # that classifier, replaced by the embedding
    file_only: tuple[str, ...]  # key prefixes of torchvision files that we drop
    torchvision_name: str


def _resnet(name: str, feat_dim: int) -> _Spec:
    return _Spec(lambda: getattr(models, name)(weights=None), feat_dim, "fc", ("fc.",), name)


_SPECS: dict[str, _Spec] = {
    "resnet18": _resnet("resnet18", 512),
    "resnet34": _resnet("resnet34", 512),
    "resnet50": _resnet("resnet50", 2048),
    "resnet101": _resnet("resnet101", 2048),
    # aux_logits=False: the auxiliary head wants 299x299 inputs, the main
    # path ends in adaptive pooling and runs at 256x128.  transform_input
    # maps ImageNet-normalised inputs to the [-1, 1] scale Google's
    # ImageNet weights were trained on.
    "inception_v3": _Spec(
        lambda: models.inception_v3(weights=None, aux_logits=False, init_weights=True, transform_input=True),
        2048, "fc", ("fc.", "AuxLogits."), "inception_v3",
    ),
    # AlexNet keeps its fc6/fc7 (and their dropout): its conv features are
    # weak alone, and fc6 after adaptive pooling accepts 256x128 inputs.
    "alexnet": _Spec(lambda: models.alexnet(weights=None), 4096, "classifier.6", ("classifier.6.",), "alexnet"),
}


def list_backbones() -> list[str]:
    """Names accepted by :func:`build_backbone`."""
    return sorted(_SPECS)


@dataclass(frozen=True)
class BackboneConfig:
    """Everything needed to rebuild a :class:`FrameBackbone` (stored in checkpoints)."""

    name: str = "resnet50"
    embed_dim: int = 128
    num_classes: int | None = None
    last_stride: int = 2  # ResNets only; 1 doubles the final feature map, common in ReID
    # False: the released GLTR code's plain Linear embedding (kaiming fan_out init, zero bias), no BatchNorm1d.
    # Checkpoints written before this field existed load with the default.
    embed_bn: bool = True


class FrameBackbone(nn.Module):
    """CNN trunk -> ``Linear`` -> ``BatchNorm1d``: ``(B, 3, H, W)`` -> ``(B, embed_dim)``.

    ``config.embed_bn=False`` drops the BatchNorm1d (``bn`` is then an
    identity without state) and initialises the Linear as the authors'
    released code (``ljn114514/GLTR``, ``resnet.py``) does: weight
    ``kaiming_normal_(mode="fan_out")``, bias zero.

    Built randomly initialised; use :func:`build_backbone` for weights.
    ``classify(embedding)`` gives identity logits when ``num_classes`` is set.
    """

    def __init__(self, config: BackboneConfig) -> None:
        super().__init__()
        if config.name not in _SPECS:
            raise UnknownNameError(f"unknown backbone {config.name!r}; available: {', '.join(list_backbones())}")
        if config.last_stride not in (1, 2):
            raise ConfigError(f"last_stride must be 1 or 2, got {config.last_stride}")
        spec = _SPECS[config.name]
        self.config = config
        self.name = config.name
        self.embed_dim = config.embed_dim
        self.num_classes = config.num_classes
        self.feat_dim = spec.feat_dim
        self.body = spec.build()
        parent, _, leaf = spec.head.rpartition(".")
        setattr(self.body.get_submodule(parent), leaf, nn.Identity())
        if config.last_stride == 1:
            if not config.name.startswith("resnet"):
                raise ConfigError(f"last_stride=1 is only defined for ResNets, not {config.name}")
            for m in self.body.layer4[0].modules():  # type: ignore[union-attr]
                if isinstance(m, nn.Conv2d) and m.stride == (2, 2):
                    m.stride = (1, 1)
        self.embed = nn.Linear(spec.feat_dim, config.embed_dim)
        self.bn: nn.Module = nn.BatchNorm1d(config.embed_dim) if config.embed_bn else nn.Identity()
        if not config.embed_bn:
            nn.init.kaiming_normal_(self.embed.weight, mode="fan_out")
            nn.init.zeros_(self.embed.bias)
        self.classifier: nn.Linear | None = None
        if config.num_classes:
            self.classifier = nn.Linear(config.embed_dim, config.num_classes)
            # Small logits at start: softmax over thousands of ids begins near uniform.
            nn.init.normal_(self.classifier.weight, std=0.001)
            nn.init.zeros_(self.classifier.bias)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, 3, H, W)`` frames -> ``(B, embed_dim)`` embeddings."""
        return self.bn(self.embed(torch.flatten(self.body(x), 1)))

    def classify(self, embedding: Tensor) -> Tensor:
        """``(B, embed_dim)`` -> ``(B, num_classes)`` identity logits."""
        if self.classifier is None:
            raise RuntimeError(f"{self.name} backbone was built without num_classes, so it has no classifier")
        return self.classifier(embedding)


def build_backbone(
    name: str = "resnet50",
    *,
    embed_dim: int = 128,
    num_classes: int | None = None,
    weights: str | os.PathLike | None = None,
    last_stride: int = 2,
    embed_bn: bool = True,
) -> FrameBackbone:
    """Build a frame backbone; ``weights`` as in the module docstring,
    ``last_stride`` and ``embed_bn`` as in :class:`BackboneConfig`."""
    model = FrameBackbone(BackboneConfig(name, embed_dim, num_classes, last_stride, embed_bn))
    if isinstance(weights, str) and weights == "random":
        return model
    if weights is None or (isinstance(weights, str) and weights == "imagenet"):
        files = hub_filenames(name)
        path = find_in_hub_cache(files)
        if path is None:
            where = f"{hub_cache_dir()} (one of: {', '.join(files)})"
            if weights == "imagenet":
                raise MissingInputError(
                    f"no ImageNet weights for {name} in {where}; place the torchvision file there "
                    "or pass weights=<path to a local file>"
                )
            warnings.warn(
                f"{name}: RANDOM INITIALISATION - no weights given and none in the torch hub cache {where}. "
                "Pass weights=<local file>, or weights='random' to silence this warning.",
                RandomInitWarning,
                stacklevel=2,
            )
            return model
        weights = path
    load_weights(model, weights)
    return model


def hub_filenames(name: str) -> list[str]:
    """Torchvision's ImageNet file names for ``name``, oldest recipe first
    (IMAGENET1K_V1 is what 2019 papers, GLTR included, started from)."""
    enum = models.get_model_weights(_SPECS[name].torchvision_name)
    return [Path(w.url).name for w in enum]


def load_weights(model: FrameBackbone, path: str | os.PathLike) -> None:
    """Load a local weights file into ``model``: a torchvision state dict (into
    the trunk) or one of ours (everything; the classifier only where its
    number of identities matches, since a classifier over another identity
    set means nothing)."""
    source = f"weights file {path}"
    obj = read_weights_file(path)
    if isinstance(obj, Mapping) and obj.get("format") == CHECKPOINT_FORMAT:
        if obj["config"]["name"] != model.name:
            raise WeightsMismatchError(f"{source} holds a {obj['config']['name']} checkpoint, not {model.name}")
        saved_bn = obj["config"].get("embed_bn", True)  # absent in checkpoints older than the option
        if saved_bn != model.config.embed_bn:
            raise WeightsMismatchError(
                f"{source} was saved with embed_bn={saved_bn}, the model is built with embed_bn={model.config.embed_bn}"
            )
        obj = obj["state_dict"]
    elif isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, Tensor) for v in obj.values()):
        raise WeightsMismatchError(f"{source} is not a state dict (a mapping of names to tensors)")
    state = strip_prefix(obj, "module.")  # saved from a DDP-wrapped model
    if any(k.startswith("body.") for k in state):
        own = model.state_dict()
        state = {
            k: v for k, v in state.items()
            if not k.startswith("classifier.") or (k in own and own[k].shape == v.shape)
        }
        fit_state_dict(model, state, source=source, optional=("classifier.",))
    else:
        drop = _SPECS[model.name].file_only
        state = {k: v for k, v in state.items() if not k.startswith(drop)}
        fit_state_dict(model.body, state, source=f"{source} (torchvision format, {model.name} trunk)")


def save_checkpoint(model: FrameBackbone, path: str | os.PathLike, extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``model`` with its config (and ``extra``: plain Python values) to ``path``.

    The same weights, config and extra give the same bytes, so a file hash
    identifies a model: tensors are stored on the CPU with canonical strides
    (``.contiguous()`` would keep channels-last strides of 1x1 kernels), and
    the archive is built in memory (torch names its records after the file,
    which would tie the bytes to the file name).  The write is atomic.
    """
    path = Path(path)
    _check_plain(dict(extra or {}), "extra")
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": _stored_config(model.config),
        "state_dict": {
            k: v.detach().cpu().clone(memory_format=torch.contiguous_format) for k, v in model.state_dict().items()
        },
        "extra": dict(extra or {}),
    }
    buffer = io.BytesIO()  # saved to memory first, so the bytes do not depend on the file's name
    torch.save(payload, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def _stored_config(config: BackboneConfig) -> dict[str, Any]:
    """The config as a checkpoint keeps it: ``embed_bn`` only when off, so a default backbone's
    checkpoint has the bytes (and hash, the feature cache's key) it had before the option existed."""
    d = asdict(config)
    if d["embed_bn"]:
        del d["embed_bn"]
    return d


def _check_plain(value: Any, where: str) -> None:
    """Fail at save time, not at load time: ``torch.load(weights_only=True)``
    refuses anything but plain Python values and tensors (a ``Path`` in
    ``extra`` would make the checkpoint unreadable)."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"{where}: key {k!r} is a {type(k).__name__}; use str or int keys")
            _check_plain(v, f"{where}[{k!r}]")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
    elif not (value is None or isinstance(value, (str, int, float, bool, Tensor))):
        raise TypeError(f"{where} is a {type(value).__name__}; checkpoints hold plain values only (str() it)")


def load_checkpoint(
    path: str | os.PathLike, *, return_extra: bool = False
) -> FrameBackbone | tuple[FrameBackbone, dict[str, Any]]:
    """Rebuild the backbone saved by :func:`save_checkpoint` (strictly: every
    key must fit).  With ``return_extra``, also the ``extra`` dict."""
    obj = read_weights_file(path)
    if not isinstance(obj, Mapping) or obj.get("format") != CHECKPOINT_FORMAT:
        raise WeightsMismatchError(f"{path} is not a gltr backbone checkpoint (format {CHECKPOINT_FORMAT})")
    model = FrameBackbone(BackboneConfig(**obj["config"]))
    fit_state_dict(model, obj["state_dict"], source=f"checkpoint {path}")
    return (model, dict(obj.get("extra", {}))) if return_extra else model
