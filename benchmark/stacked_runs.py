"""K stage (b) runs of one architecture as one set of tensors with a leading run axis.

Each run's aggregator (behind its :class:`~benchmark.stage_aggregator.Standardized`
input map) and classifier are stacked parameter by parameter
(``(K, *shape)``), as :func:`torch.func.stack_module_state` does, so that one
forward (``torch.func.vmap`` over the run axis), one backward and one SGD
update serve all K runs.  The runs stay independent: the loss is the sum of
the runs' own losses, so each run's gradient is exactly its own, and gradient
clipping, weight decay, momentum and the learning rate are applied per run.

Classifiers of different widths (datasets with different numbers of train
identities) are padded to the widest with zero rows whose logits are masked
to ``-inf``: they get no gradient and stay zero, and the real classes'
softmax is the run's own.

With ``vectorize=False`` (K must be 1) the run's own modules are called
directly: the arithmetic of a run trained alone, used for methods that
``vmap`` cannot run.
"""
from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

from gltr.conv import MatmulConv1d


class StackedRuns:
    """The stacked parameters, buffers and momentum of K runs, and their training step's arithmetic."""

    def __init__(self, models: Sequence[nn.Module], heads: Sequence[nn.Linear], momenta: Sequence[dict[str, Tensor] | None], *, vectorize: bool) -> None:
        if not vectorize and len(models) != 1:
            raise ValueError("one run at a time without vmap")
        self.models, self.heads, self.vectorize = list(models), list(heads), vectorize
        self.classes = [h.out_features for h in heads]
        cmax = max(self.classes)
        with torch.no_grad():
            self.params = {n: torch.stack([dict(m.named_parameters())[n].detach() for m in models]).clone().requires_grad_()
                           for n, p in models[0].named_parameters() if p.requires_grad}
            self.frozen = {n: torch.stack([dict(m.named_parameters())[n].detach() for m in models]).clone()
                           for n, p in models[0].named_parameters() if not p.requires_grad}
            self.buffers = {n: torch.stack([dict(m.named_buffers())[n] for m in models]).clone() for n, _ in models[0].named_buffers()}
            self.params["head.weight"] = torch.stack([F.pad(h.weight.detach(), (0, 0, 0, cmax - h.out_features)) for h in heads]).requires_grad_()
            self.params["head.bias"] = torch.stack([F.pad(h.bias.detach(), (0, cmax - h.out_features)) for h in heads]).requires_grad_()
        device = self.params["head.weight"].device
        self.class_valid = torch.arange(cmax, device=device)[None, :] < torch.tensor(self.classes, device=device)[:, None]
        self.momentum = {n: torch.stack([_padded_momentum(mo, n, p[k]) for k, mo in enumerate(momenta)]) for n, p in self.params.items()}
        self.base = models[0]
        if vectorize:
            self.base = vmap_template(models[0])
            self._forward = vmap(self._one_run, randomness="error")
        else:
            self._forward = self._first_run

    def __len__(self) -> int:
        return len(self.models)

    def _one_run(self, params: dict[str, Tensor], buffers: dict[str, Tensor], x: Tensor, mask: Tensor) -> Tensor:
        agg = {n: t for n, t in params.items() if not n.startswith("head.")}
        feat = functional_call(self.base, (agg, buffers), (x, mask))  # buffers: with the frozen parameters
        return F.linear(feat, params["head.weight"], params["head.bias"])

    def _first_run(self, params: dict[str, Tensor], buffers: dict[str, Tensor], x: Tensor, mask: Tensor) -> Tensor:
        first = {n: t[0] for n, t in params.items()}
        return self._one_run(first, {n: b[0] for n, b in buffers.items()}, x[0], mask[0])[None]

    def logits(self, x: Tensor, mask: Tensor) -> Tensor:
        """``(K, B, T, d)`` windows and ``(K, B, T)`` masks -> ``(K, B, classes)`` logits, padded classes at ``-inf``.

        Training-mode buffers (BatchNorm running statistics) are updated in place in the stack."""
        buffers = {**self.buffers, **self.frozen}
        logits = self._forward(self.params, buffers, x, mask)
        return logits.float().masked_fill(~self.class_valid[:, None, :], float("-inf"))

    @torch.no_grad()
    def sgd_step(self, lr: Tensor, *, momentum: float, weight_decay: float, grad_clip: float) -> None:
        """Per run: clip the gradient norm to ``grad_clip`` (0: off), then SGD with momentum and weight
        decay (PyTorch's formulation: ``buf = m * buf + (g + wd * p)``, ``p -= lr * buf``) at its own ``lr[k]``.

        Every operation is elementwise or a reduction within one run; five passes over the
        stacked parameters in all (the update is memory-bound: K runs' weights, gradients and
        momenta)."""
        names = list(self.params)
        params = [self.params[n] for n in names]
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        if grad_clip > 0:
            norms = torch.stack([g.flatten(1).norm(dim=1) for g in grads], dim=1).norm(dim=1)  # (K,): each run's total norm
            coef = (grad_clip / (norms + 1e-6)).clamp(max=1.0)
            torch._foreach_mul_(grads, [_per_run(coef, g) for g in grads])
        if weight_decay:
            torch._foreach_add_(grads, params, alpha=weight_decay)
        bufs = [self.momentum[n] for n in names]
        torch._foreach_mul_(bufs, momentum)
        torch._foreach_add_(bufs, grads)
        torch._foreach_addcmul_(params, bufs, [_per_run(-lr, b) for b in bufs])

    def zero_grad(self) -> None:
        for p in self.params.values():
            p.grad = None

    @torch.no_grad()
    def unstack(self, k: int) -> dict[str, Tensor]:
        """Copy run ``k``'s slice back into its own modules; returns its momentum (by parameter name)."""
        model, head, c = self.models[k], self.heads[k], self.classes[k]
        own = dict(model.named_parameters())
        for n, t in self.params.items():
            if not n.startswith("head."):
                own[n].copy_(t[k])
        for n, t in self.frozen.items():
            own[n].copy_(t[k])
        own_buf = dict(model.named_buffers())
        for n, t in self.buffers.items():
            own_buf[n].copy_(t[k])
        head.weight.copy_(self.params["head.weight"][k, :c])
        head.bias.copy_(self.params["head.bias"][k, :c])
        mom = {n: t[k].clone() for n, t in self.momentum.items()}
        mom["head.weight"], mom["head.bias"] = mom["head.weight"][:c].clone(), mom["head.bias"][:c].clone()
        return mom


def vmap_template(model: nn.Module) -> nn.Module:
    """A copy of ``model`` on the meta device for ``functional_call`` under ``vmap`` (the stacked
    tensors are supplied at each call): the aggregator's vmap-able forward where it has one, and
    its convolutions as matrix products (:class:`~gltr.conv.MatmulConv1d`)."""
    base = copy.deepcopy(model).to("meta")
    for m in base.modules():
        if hasattr(type(m), "vectorized"):  # Standardized: the aggregator's vmap_forward; TSA: attention without the fused kernel
            m.vectorized = True
        if type(m) is nn.Conv1d and MatmulConv1d.handles(m):
            m.__class__ = MatmulConv1d
    return base


def _per_run(v: Tensor, like: Tensor) -> Tensor:
    """``(K,)`` -> broadcastable against ``like`` ``(K, ...)``."""
    return v.reshape((-1,) + (1,) * (like.dim() - 1)).to(like.dtype)


def _padded_momentum(momentum: dict[str, Tensor] | None, name: str, like: Tensor) -> Tensor:
    """A run's saved momentum for ``name`` (zero-padded to the stacked classifier's width), or zeros for a fresh run."""
    if momentum is None or name not in momentum:
        return torch.zeros_like(like)
    m = momentum[name].to(like.device, like.dtype)
    rows = like.shape[0] - m.shape[0]  # a classifier narrower than the stack's widest gets zero rows
    return F.pad(m, (0, rows) if m.dim() == 1 else (0, 0, 0, rows)) if rows else m
