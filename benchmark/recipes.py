"""The named recipes: the settings a benchmark run starts from, chosen by ``lsvid bench --recipe``.

* ``paper`` (the default): GLTR as the paper's text describes it (Li et al.,
  ICCV 2019, Sections 3-4): two stages -- the frame CNN trained alone (stage
  (a)), then each aggregator on its cached frame features (stage (b)) --,
  DTP dilations ``2^(n-1)`` with a ReLU per branch, TSA with a scaled softmax,
  ResNet-50 with torchvision's last stride 2 and a BatchNorm after the
  embedding, flip and random erasing in stage (a).  Each of these choices is
  recorded in the docstrings of :mod:`gltr`.
* ``released``: what the authors' released code (``ljn114514/GLTR``:
  ``train.py``, ``resnet.py``, ``NonLocalBlock1D.py``) does instead --
  end-to-end training of backbone and aggregator on 16-frame clips
  (:mod:`benchmark.stage_video`, :class:`~benchmark.config.VideoStageConfig`),
  ResNet-50 with last stride 1 and a plain ``Linear(2048, 128)``, DTP with
  dilations 1, 2, 3, no bias, no activation and the raw frame features
  concatenated with its branches (512-d), TSA as a non-local block (plain
  query/key/value convolutions, an unscaled softmax over keys, BatchNorm after
  the output convolution starting at zero), and the BatchNorm -> ReLU ->
  Dropout -> Linear head.  Every method is trained the same way; the released
  code's baseline is ResNet-50 with average pooling (``avgpool``).

A recipe is data, not code: a partial :class:`~benchmark.config.BenchConfig`
that a ``--config`` file and the command-line options override, and options
for registered aggregators that ``--option`` overrides.  The recipe's name is
recorded in every leaderboard row it produces.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from lsvid_core.errors import ConfigError

# GLTR as ``resnet.py`` builds it: DTP's feat1..feat3 (bias-free, std 0.001, dilations 1-3) beside the raw
# feature, then NonLocalBlock1D(512)
RELEASED_DTP = {"dilations": [1, 2, 3], "bias": False, "activation": "none", "concat_input": True, "init_std": 0.001}
RELEASED_TSA = {"normalize": "softmax_unscaled", "qk_bn_relu": False, "out_bn": True}


@dataclass(frozen=True)
class Recipe:
    """A named starting point: partial config (JSON shape of BenchConfig) and per-method options."""

    name: str
    summary: str
    config: dict[str, Any] = field(default_factory=dict)
    method_options: dict[str, dict[str, Any]] = field(default_factory=dict)


RECIPES: dict[str, Recipe] = {
    "paper": Recipe("paper", "the paper's text: two stages, DTP dilations 1/2/4 with ReLU, scaled TSA, last stride 2"),
    "released": Recipe(
        "released",
        "the authors' released code: end-to-end on 16-frame clips, DTP 1/2/3 + raw features (512-d), non-local TSA, last stride 1",
        config={
            "recipe": "released",
            "training": "end_to_end",
            "frame": {"backbone": "resnet50", "embed_dim": 128, "height": 256, "width": 128, "last_stride": 1, "embed_bn": False},
        },
        method_options={
            "gltr": {**RELEASED_DTP, **RELEASED_TSA},
            "dtp": dict(RELEASED_DTP),
            "tsa": dict(RELEASED_TSA),
        },
    ),
}


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ConfigError(f"--recipe {name!r}: not one of {', '.join(RECIPES)}")
    return RECIPES[name]


def merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` on top, nested sections merged key by key."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def recipe_config(name: str | None, data: dict[str, Any] | None = None):
    """The BenchConfig of recipe ``name`` with ``data`` (a ``--config`` file's contents) on top.

    ``name`` None takes the file's own ``recipe`` field, else ``paper``; a
    file naming another recipe than ``name`` is refused rather than mixed."""
    from .config import BenchConfig

    data = dict(data or {})
    in_file = data.get("recipe")
    if name is not None and in_file is not None and in_file != name:
        raise ConfigError(f"--recipe {name} but the config file says recipe {in_file!r}; give one of them")
    recipe = get_recipe(name or in_file or "paper")
    return BenchConfig.from_dict(merged(recipe.config, {**data, "recipe": recipe.name}))


def method_options(recipe: str, method: str, given: dict[str, Any] | None = None) -> dict[str, Any]:
    """The options ``method`` runs with under ``recipe``: the recipe's, then ``given`` (``--option``) on top."""
    return {**get_recipe(recipe).method_options.get(method, {}), **(given or {})}
