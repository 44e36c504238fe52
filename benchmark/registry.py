"""The aggregator registry (the timm pattern: register / create / list).

An aggregator is a ``torch.nn.Module`` mapping frame features ``(B, T, d)``
and an optional ``(B, T)`` bool padding mask (True = real frame) to a video
feature ``(B, D)``, with ``out_dim = D``.  The harness adds the classifier and
the loss; methods carry no training code.  Runs of one method are trained
fused (``torch.func.vmap`` over stacked parameters) when its forward allows
it; a module whose forward cannot be vmapped may offer ``vmap_forward(x, mask)``
with the same numbers, else its runs train one by one (a log line says so).

Add a method in three ways:

* in your own code: ``@register_aggregator("mine")`` on a factory
  ``(in_dim, **options) -> nn.Module``, then ``create_aggregator("mine", 128)``;
* from the command line: ``lsvid bench --plugin my_package.my_module`` imports
  a module whose decorators register its methods;
* from an installed package: an entry point in the group ``lsvid.aggregators``
  (``[project.entry-points."lsvid.aggregators"] mine = "my_pkg.aggs"``), loaded
  lazily the first time the registry is listed or asked for a name it lacks.

A name registered twice is an error naming both origins.
"""
from __future__ import annotations

from typing import Any

from protocols.registry import Entry, Registry, RegistryError

ENTRY_POINT_GROUP = "lsvid.aggregators"


REGISTRY = Registry(
    "aggregator",
    builtins=["benchmark.aggregators"],
    entry_point_group=ENTRY_POINT_GROUP,
    duplicate_error=RegistryError,
    unknown_error=RegistryError,
    option_error=RegistryError,
)


def register_aggregator(name: str | None = None):
    """Decorator: register ``factory(in_dim, **options) -> nn.Module`` under ``name``
    (default: the factory's ``__name__``)."""
    return REGISTRY.register(name)


def import_plugin(module: str) -> None:
    """Import ``module`` (``--plugin``) so that its ``@register_aggregator`` calls run."""
    import importlib

    REGISTRY.load_builtins()
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as e:
        raise RegistryError(f"--plugin {module}: module not found ({e}); is it installed or on PYTHONPATH?") from e


def list_aggregators() -> list[str]:
    return REGISTRY.names()


def get_aggregator(name: str) -> Entry:
    return REGISTRY.get(name)


def create_aggregator(name: str, in_dim: int, **options: Any):
    """Build the aggregator ``name`` for ``in_dim``-wide frame features."""
    entry = get_aggregator(name)
    module = REGISTRY.create(name, in_dim, **options)
    out_dim = getattr(module, "out_dim", None)
    if not isinstance(out_dim, int) or out_dim < 1:
        raise RegistryError(f"aggregator '{name}' ({entry.origin}) built a module without a positive integer out_dim")
    return module
