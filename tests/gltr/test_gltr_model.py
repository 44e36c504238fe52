"""GLTR (Eq. 4) and its ablations as aggregators: shapes for every T, padded
batches against sequences alone, the attention mask, parameter counts,
gradients, and temporal pyramid pooling."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gltr import GLTR, DTPOnly, PyramidConv, TemporalPyramidPooling, TSAOnly

D = 8


def aggregators() -> dict[str, torch.nn.Module]:
    return {
        "gltr": GLTR(D),
        "gltr_bn": GLTR(D, activation="bn_relu", value_bn_relu=True),
        "gltr_mean_norm": GLTR(D, normalize="mean"),
        "dtp": DTPOnly(D),
        "tsa": TSAOnly(D),
        "pyramid_conv": PyramidConv(D),
        "pyramid_conv_tsa": PyramidConv(D, use_tsa=True),
        "tpp_avg": TemporalPyramidPooling(D),
        "tpp_max": TemporalPyramidPooling(D, mode="max"),
    }


def with_nonzero_w(model: torch.nn.Module) -> torch.nn.Module:
    """Leave TSA's identity start, so that tests exercise the attention."""
    tsa = getattr(model, "tsa", None)
    if tsa is not None:
        torch.nn.init.normal_(tsa.out.weight, std=0.2)
        torch.nn.init.normal_(tsa.out.bias, std=0.2)
    return model


def test_out_dims() -> None:
    expected = {  # N = 3 branches / levels (1, 2, 4 bins)
        "gltr": 3 * D, "gltr_bn": 3 * D, "gltr_mean_norm": 3 * D, "dtp": 3 * D, "tsa": D,
        "pyramid_conv": 3 * D, "pyramid_conv_tsa": 3 * D, "tpp_avg": 7 * D, "tpp_max": 7 * D,
    }
    for name, model in aggregators().items():
        assert model.out_dim == expected[name], name
    assert GLTR(128, num_branches=4).out_dim == 512


def test_shapes_for_t_1_to_200() -> None:
    model = with_nonzero_w(GLTR(D)).eval()
    with torch.no_grad():
        for t in range(1, 201):
            u, m = model(torch.randn(2, t, D), return_attention=True)
            assert u.shape == (2, 3 * D) and m.shape == (2, t, t), t
            assert torch.isfinite(u).all()


@pytest.mark.parametrize("name", list(aggregators()))
def test_padded_batch_equals_each_sequence_alone(name: str, padded_batch) -> None:
    """Lengths below, at and above the largest dilation (4) and receptive field (9)."""
    model = with_nonzero_w(aggregators()[name]).eval()
    x, mask, singles = padded_batch([1, 2, 4, 5, 9, 16, 33], D, pad_to=40)
    with torch.no_grad():
        batched = model(x, mask)
        assert torch.isfinite(batched).all()
        for i, s in enumerate(singles):
            torch.testing.assert_close(batched[i : i + 1], model(s), rtol=1e-5, atol=1e-5, msg=f"{name} T={s.shape[1]}")


def test_real_frames_may_sit_anywhere_as_one_run() -> None:
    model = with_nonzero_w(GLTR(D)).eval()
    seq = torch.randn(1, 6, D)
    x = torch.full((1, 15, D), float("nan"))
    x[0, 5:11] = seq[0]
    mask = torch.zeros(1, 15, dtype=torch.bool)
    mask[0, 5:11] = True
    with torch.no_grad():
        torch.testing.assert_close(model(x, mask), model(seq), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["gltr", "gltr_bn", "tsa", "tpp_avg"])
def test_training_mode_ignores_padding_content_and_amount(name: str, padded_batch) -> None:
    """In training, BatchNorm uses batch statistics; they must come from real
    frames only, so neither what nor how much padding there is matters."""
    model = with_nonzero_w(aggregators()[name]).train()
    x, mask, _ = padded_batch([3, 7, 12], D, fill=0.0)
    y = model(x, mask)
    x_more = torch.cat([x.masked_fill(~mask[..., None], 123.0), torch.full((3, 10, D), -7.0)], dim=1)
    mask_more = torch.cat([mask, torch.zeros(3, 10, dtype=torch.bool)], dim=1)
    torch.testing.assert_close(model(x_more, mask_more), y, rtol=1e-5, atol=1e-5)


def test_return_attention() -> None:
    model = with_nonzero_w(GLTR(D)).eval()
    x = torch.randn(3, 10, D)
    mask = torch.ones(3, 10, dtype=torch.bool)
    mask[1, 6:] = False
    u, m = model(x, mask, return_attention=True)
    torch.testing.assert_close(u, model(x, mask))
    assert m.shape == (3, 10, 10)
    torch.testing.assert_close(m[1, :6, :6].sum(dim=0), torch.ones(6))
    assert torch.equal(m[1, 6:], torch.zeros(4, 10))
    with pytest.raises(ValueError, match="no TSA"):
        DTPOnly(D)(x, return_attention=True)


def test_gltr_is_eq4_over_its_blocks() -> None:
    """u = mean_t TSA(DTP(F))_t, composed by hand from the blocks."""
    model = with_nonzero_w(GLTR(D)).eval()
    x = torch.randn(2, 11, D)
    with torch.no_grad():
        expected = model.tsa(model.local(x.transpose(1, 2))).mean(dim=2)
        torch.testing.assert_close(model(x), expected)


def test_fresh_gltr_equals_dtp_only_with_the_same_dtp() -> None:
    """TSA starts as the identity, so training GLTR starts from DTP-only."""
    gltr, dtp = GLTR(D).eval(), DTPOnly(D).eval()
    dtp.local.load_state_dict(gltr.local.state_dict())
    x = torch.randn(4, 13, D)
    assert torch.equal(gltr(x), dtp(x))


def test_tsa_only_is_blind_to_frame_order() -> None:
    model = with_nonzero_w(TSAOnly(D)).eval()
    x = torch.randn(2, 12, D)
    with torch.no_grad():
        torch.testing.assert_close(model(x[:, torch.randperm(12)]), model(x), rtol=1e-5, atol=1e-5)
        # DTP is not: it sees local order.
        dtp = DTPOnly(D).eval()
        assert (dtp(x[:, torch.randperm(12)]) - dtp(x)).abs().max() > 1e-3


@pytest.mark.parametrize("d,n,w,alpha", [(128, 3, 3, 2), (16, 2, 5, 4)])
def test_parameter_counts(d: int, n: int, w: int, alpha: int) -> None:
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    c = n * d
    r = c // alpha
    dtp = n * (w * d * d + d)
    tsa = lambda ch, red: 2 * (ch * red + 2 * red) + (ch * red + red) + (red * ch + ch)  # noqa: E731
    assert count(GLTR(d, n, w, alpha)) == dtp + tsa(c, r)
    assert count(DTPOnly(d, n, w)) == dtp
    assert count(TSAOnly(d, alpha)) == tsa(d, d // alpha)
    assert count(TemporalPyramidPooling(d)) == 0


def test_gradients_reach_every_parameter_once_w_is_nonzero() -> None:
    for model in (GLTR(D, activation="bn_relu", value_bn_relu=True), GLTR(D), PyramidConv(D, use_tsa=True)):
        with_nonzero_w(model).train()
        x = torch.randn(4, 10, D, requires_grad=True)
        mask = torch.ones(4, 10, dtype=torch.bool)
        mask[2, 7:] = False
        model(x, mask).pow(2).sum().backward()
        for name, p in model.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        assert torch.equal(x.grad[2, 7:], torch.zeros(3, D))  # padding receives no gradient


def test_invalid_configurations() -> None:
    with pytest.raises(ValueError, match="local"):
        GLTR(D, local="lstm")
    with pytest.raises(ValueError, match="mean pooling"):
        GLTR(D, local="none", use_tsa=False)
    with pytest.raises(ValueError, match=r"\(B, T, 8\)"):
        GLTR(D)(torch.randn(2, D, 5).transpose(0, 2))


@pytest.mark.parametrize("mode", ["avg", "max"])
@pytest.mark.parametrize("t", [1, 2, 3, 5, 8, 13])
def test_tpp_equals_adaptive_pooling_of_each_level(mode: str, t: int) -> None:
    tpp = TemporalPyramidPooling(D, bins=[1, 2, 4], mode=mode)
    x = torch.randn(3, t, D)
    pool = F.adaptive_avg_pool1d if mode == "avg" else F.adaptive_max_pool1d
    # Level by level, segment by segment, D features each.
    expected = torch.cat([pool(x.transpose(1, 2), n).transpose(1, 2).reshape(3, -1) for n in (1, 2, 4)], dim=1)
    torch.testing.assert_close(tpp(x), expected)
