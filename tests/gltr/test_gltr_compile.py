"""Ready for the GPU, checked on the CPU: whole-graph tracing (no Python
control flow on tensor values, no loops over time or batch), torch.compile
output equal to eager, bf16 autocast."""
from __future__ import annotations

import pytest
import torch

from gltr import GLTR, DTPOnly, PyramidConv, TemporalPyramidPooling, TSAOnly, lengths_to_mask

D = 16


def nonzero_w(model: torch.nn.Module) -> torch.nn.Module:
    if getattr(model, "tsa", None) is not None:
        torch.nn.init.normal_(model.tsa.out.weight, std=0.2)
    return model


def inputs() -> tuple[torch.Tensor, torch.Tensor]:
    mask = lengths_to_mask(torch.tensor([16, 9, 3, 1]))
    return torch.randn(4, 16, D), mask


@pytest.mark.parametrize(
    "make",
    [
        lambda: GLTR(D, activation="bn_relu", value_bn_relu=True),
        lambda: GLTR(D, normalize="none"),
        lambda: TemporalPyramidPooling(D, mode="max"),
    ],
)
def test_traces_as_one_graph_in_training_with_mask(make) -> None:
    """``fullgraph=True`` fails on any graph break; ``aot_eager`` also traces
    the backward, without the C++ compile time of inductor."""
    torch._dynamo.reset()
    model = nonzero_w(make()).train()
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    x, mask = inputs()
    x.requires_grad_(True)
    y_compiled = compiled(x, mask)
    (grad_compiled,) = torch.autograd.grad(y_compiled.square().sum(), x)
    y_eager = model(x, mask)  # BatchNorm running stats move again; outputs use batch stats
    (grad_eager,) = torch.autograd.grad(y_eager.square().sum(), x)
    torch.testing.assert_close(y_compiled, y_eager, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad_compiled, grad_eager, rtol=1e-4, atol=1e-5)


@pytest.mark.slow  # inductor compiles C++ kernels: ~20 s on 2 CPU cores
def test_inductor_compile_changes_no_output() -> None:
    torch._dynamo.reset()
    model = nonzero_w(GLTR(D)).eval()
    x, mask = inputs()
    compiled = torch.compile(model, fullgraph=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x, mask), model(x, mask), rtol=1e-5, atol=1e-5)
        u, m = compiled(x, mask, return_attention=True)
        u_ref, m_ref = model(x, mask, return_attention=True)
    torch.testing.assert_close(u, u_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(m, m_ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "make",
    [
        lambda: GLTR(D),
        lambda: GLTR(D, activation="bn_relu", value_bn_relu=True, normalize="mean"),
        lambda: DTPOnly(D),
        lambda: TSAOnly(D),
        lambda: PyramidConv(D, use_tsa=True),
        lambda: TemporalPyramidPooling(D),
    ],
)
def test_bf16_autocast(make) -> None:
    model = nonzero_w(make())
    x, mask = inputs()
    x.requires_grad_(True)
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = model(x, mask)
    y.float().square().sum().backward()
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    x = x.detach()
    model.eval()
    with torch.no_grad():
        ref = model(x, mask)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(x, mask)
    assert torch.isfinite(low).all()
    # bf16 keeps 8 bits of mantissa: a few percent of the feature's scale.
    assert (low.float() - ref).abs().max() <= 0.05 * ref.abs().max()
