"""The authors' released architecture (ljn114514/GLTR) built from options, and
the defaults (the paper's text) left as they were.

Reference computations here are written with plain torch ops from the
description of the released code, not by calling the modules' own paths.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from benchmark.registry import RegistryError, create_aggregator
from gltr import (
    GLTR,
    DilatedTemporalPyramid,
    DTPOnly,
    ParallelTemporalConv,
    TemporalSelfAttention,
    TSAOnly,
    build_backbone,
    load_checkpoint,
    save_checkpoint,
)
from lsvid_core.errors import ConfigError

RELEASED_DTP = {"dilations": [1, 2, 3], "bias": False, "activation": "none", "concat_input": True, "init_std": 0.001}
RELEASED_TSA = {"normalize": "softmax_unscaled", "qk_bn_relu": False, "out_bn": True}
RELEASED = {**RELEASED_DTP, **RELEASED_TSA}
MakeBatch = Callable[..., tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]]  # conftest's padded_batch


def count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def released_dtp(dim: int = 128) -> DilatedTemporalPyramid:
    return DilatedTemporalPyramid(dim, **RELEASED_DTP)


def released_tsa(channels: int = 512) -> TemporalSelfAttention:
    return TemporalSelfAttention(channels, **RELEASED_TSA)


def reference_dtp(dtp: DilatedTemporalPyramid, x: torch.Tensor) -> torch.Tensor:
    """``[x, conv_d1(x), conv_d2(x), conv_d3(x)]`` with F.conv1d: no bias, no activation."""
    branches = [F.conv1d(x, c.weight, dilation=r, padding=r) for c, r in zip(dtp.branches, (1, 2, 3))]
    return torch.cat([x, *branches], dim=1)


def set_out_bn(tsa: TemporalSelfAttention) -> None:
    """Nonzero gamma/beta and running statistics, so TSA is no longer the identity."""
    bn = tsa.out_norm
    assert bn is not None
    with torch.no_grad():
        bn.weight.normal_(0, 1)
        bn.bias.normal_(0, 1)
        bn.running_mean.normal_(0, 0.1)
        bn.running_var.uniform_(0.5, 2.0)


def reference_nonlocal(tsa: TemporalSelfAttention, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A non-local block in eval mode: ``z = BN(W softmax(theta^T phi) g) + x``.

    Returns ``z`` (B, C, T) and the attention ``(B, t, s)``: row t, softmax over keys s.
    """
    def conv1x1(m: nn.Conv1d, h: torch.Tensor) -> torch.Tensor:
        return torch.einsum("oc,bct->bot", m.weight[:, :, 0], h) + m.bias[None, :, None]

    theta, phi, g = conv1x1(tsa.query, x), conv1x1(tsa.key, x), conv1x1(tsa.value, x)
    f = torch.einsum("bit,bis->bts", theta, phi)  # no 1/sqrt(d)
    attn = torch.softmax(f, dim=-1)
    y = torch.einsum("bts,bis->bit", attn, g)
    wy = conv1x1(tsa.out, y)
    bn = tsa.out_norm
    normed = (wy - bn.running_mean[None, :, None]) / torch.sqrt(bn.running_var[None, :, None] + bn.eps)
    return normed * bn.weight[None, :, None] + bn.bias[None, :, None] + x, attn


# --- DTP ------------------------------------------------------------------


def test_released_dtp_is_input_then_three_plain_dilated_convolutions() -> None:
    dtp = released_dtp()
    assert dtp.out_dim == 512 and dtp.receptive_fields == (3, 5, 7)
    assert all(c.bias is None for c in dtp.branches) and dtp.norms is None
    assert count(dtp) == 3 * 128 * 128 * 3 == 147456
    x = torch.randn(2, 128, 11)
    with torch.no_grad():
        y = dtp(x)
        assert y.shape == (2, 512, 11)
        assert torch.equal(y[:, :128], x)
        expected = reference_dtp(dtp, x)
    for n in range(4):
        torch.testing.assert_close(y[:, 128 * n : 128 * (n + 1)], expected[:, 128 * n : 128 * (n + 1)], msg=f"block {n}")


@pytest.mark.parametrize("t", [1, 2, 5])
def test_released_dtp_shorter_than_its_receptive_field(t: int) -> None:
    dtp = released_dtp(8)
    x = torch.randn(3, 8, t)
    with torch.no_grad():
        torch.testing.assert_close(dtp(x), reference_dtp(dtp, x))


def test_released_dtp_padded_batch_matches_singles(padded_batch: MakeBatch) -> None:
    dtp = released_dtp(16)
    x, mask, singles = padded_batch([7, 3, 1], 16)
    with torch.no_grad():
        y = dtp(x.transpose(1, 2), mask)
        assert torch.equal(y.masked_fill(mask[:, None, :], 0), torch.zeros_like(y))  # padding is zero, not NaN
        for i, s in enumerate(singles):
            n = s.shape[1]
            torch.testing.assert_close(y[i : i + 1, :, :n], dtp(s.transpose(1, 2)))


def test_concat_input_keeps_the_raw_input_before_any_activation() -> None:
    dtp = DilatedTemporalPyramid(6, 2, concat_input=True)  # ReLU branches, biased
    x = -torch.rand(1, 6, 5) - 0.1  # all negative: a ReLU would zero them
    with torch.no_grad():
        y = dtp(x)
    assert dtp.out_dim == 18 and y.shape == (1, 18, 5)
    assert torch.equal(y[:, :6], x)
    assert (y[:, 6:] >= 0).all()
    assert dtp.receptive_fields == (3, 5)


def test_init_std_draws_branch_weights_from_a_narrow_normal() -> None:
    dtp = DilatedTemporalPyramid(128, init_std=0.001)  # biased branches: biases start at zero
    for conv in dtp.branches:
        w = conv.weight.detach()
        assert w.std().item() == pytest.approx(0.001, rel=0.03)
        assert abs(w.mean().item()) < 5e-5
        assert torch.equal(conv.bias.detach(), torch.zeros(128))
    # PyTorch's default (kaiming uniform, fan_in 384) is some 30 times wider.
    default = DilatedTemporalPyramid(128)
    assert all(c.weight.std().item() > 0.02 for c in default.branches)
    assert all(c.bias.abs().sum() > 0 for c in default.branches)


@pytest.mark.parametrize("bad", [0.0, -0.1])
def test_init_std_must_be_positive(bad: float) -> None:
    with pytest.raises(ConfigError, match="init_std"):
        DilatedTemporalPyramid(8, init_std=bad)


def test_bn_relu_branches_stay_bias_free_and_bias_false_removes_it_otherwise() -> None:
    assert all(c.bias is None for c in ParallelTemporalConv(4, [3], [1], activation="bn_relu", bias=True).branches)
    assert all(c.bias is None for c in ParallelTemporalConv(4, [3], [1], activation="relu", bias=False).branches)
    assert all(c.bias is not None for c in ParallelTemporalConv(4, [3], [1], activation="relu").branches)


# --- TSA ------------------------------------------------------------------


def test_released_tsa_parameters_and_keys() -> None:
    tsa = released_tsa()
    assert count(tsa) == 3 * (512 * 256 + 256) + (256 * 512 + 512) + 2 * 512
    assert list(tsa.state_dict()) == [
        "query.weight", "query.bias", "key.weight", "key.bias", "value.weight", "value.bias",
        "out.weight", "out.bias",
        "out_norm.weight", "out_norm.bias", "out_norm.running_mean", "out_norm.running_var",
        "out_norm.num_batches_tracked",
    ]
    # W keeps PyTorch's init; the BatchNorm after it starts at zero.
    assert tsa.out.weight.abs().sum() > 0 and tsa.out.bias.abs().sum() > 0
    assert torch.equal(tsa.out_norm.weight.detach(), torch.zeros(512))
    assert torch.equal(tsa.out_norm.bias.detach(), torch.zeros(512))


@pytest.mark.parametrize("train", [False, True])
def test_fresh_released_tsa_is_exactly_the_identity(train: bool, padded_batch: MakeBatch) -> None:
    tsa = released_tsa(32).train(train)
    for t in (1, 2, 9):
        x = torch.randn(3, 32, t)
        assert torch.equal(tsa(x), x)
        y, m = tsa(x, return_attention=True)
        assert torch.equal(y, x) and m.shape == (3, t, t)
    x, mask, _ = padded_batch([6, 2, 4], 32)
    x = x.transpose(1, 2)
    y = tsa(x, mask)
    assert torch.equal(y, x.masked_fill(~mask[:, None, :], 0))


def test_released_tsa_matches_a_non_local_block_by_hand() -> None:
    tsa = released_tsa(64).eval()
    set_out_bn(tsa)
    x = torch.randn(2, 64, 7)
    with torch.no_grad():
        expected, attn = reference_nonlocal(tsa, x)
        assert not torch.allclose(expected, x, atol=1e-2)  # the check below is not the identity's
        y, m = tsa(x, return_attention=True)
        torch.testing.assert_close(y, expected, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(m, attn.transpose(1, 2))  # M[s, t]: the paper's orientation
        torch.testing.assert_close(tsa(x), expected, rtol=1e-4, atol=1e-5)  # fused path, scale=1


def test_released_tsa_padded_batch_matches_singles(padded_batch: MakeBatch) -> None:
    tsa = released_tsa(16).eval()
    set_out_bn(tsa)
    x, mask, singles = padded_batch([5, 1, 3], 16)
    with torch.no_grad():
        y = tsa(x.transpose(1, 2), mask)
        y_m, _ = tsa(x.transpose(1, 2), mask, return_attention=True)
        assert not y.isnan().any()
        for i, s in enumerate(singles):
            n = s.shape[1]
            alone, _ = reference_nonlocal(tsa, s.transpose(1, 2))
            torch.testing.assert_close(y[i : i + 1, :, :n], alone, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(y_m[i : i + 1, :, :n], alone, rtol=1e-4, atol=1e-5)
            assert torch.equal(y[i, :, n:], torch.zeros_like(y[i, :, n:]))


def test_released_tsa_batchnorm_statistics_skip_padding_in_training(padded_batch: MakeBatch) -> None:
    """Training mode: padding must not enter the statistics of the BatchNorm
    after W (W's bias makes padded steps of ``W y`` nonzero)."""
    tsa = released_tsa(16).train()
    set_out_bn(tsa)
    x, mask, singles = padded_batch([6, 6, 6], 16, pad_to=10)
    y = tsa(x.transpose(1, 2), mask)
    unpadded = tsa(torch.cat(singles).transpose(1, 2))
    torch.testing.assert_close(y[:, :, :6], unpadded, rtol=1e-4, atol=1e-5)
    assert torch.equal(y[:, :, 6:], torch.zeros(3, 16, 4))


def test_softmax_unscaled_differs_from_softmax_by_the_scale_only() -> None:
    unscaled = TemporalSelfAttention(32, normalize="softmax_unscaled", qk_bn_relu=False).eval()
    scaled = TemporalSelfAttention(32, normalize="softmax", qk_bn_relu=False).eval()
    scaled.load_state_dict(unscaled.state_dict())
    x = torch.randn(2, 32, 6)
    with torch.no_grad():
        logits = torch.einsum("bks,bkt->bst", unscaled.key(x), unscaled.query(x))  # C^T B
        _, m_un = unscaled(x, return_attention=True)
        _, m_sc = scaled(x, return_attention=True)
    torch.testing.assert_close(m_un, torch.softmax(logits, dim=1))
    torch.testing.assert_close(m_sc, torch.softmax(logits / 16 ** 0.5, dim=1))
    assert not torch.allclose(m_un, m_sc, atol=1e-3)


def test_qk_bn_relu_false_makes_query_and_key_plain_biased_convolutions() -> None:
    tsa = TemporalSelfAttention(12, qk_bn_relu=False)
    for m in (tsa.query, tsa.key, tsa.value):
        assert isinstance(m, nn.Conv1d) and m.bias is not None  # a plain convolution (gltr.conv computes width 1 as a matmul)
    assert count(tsa) == 3 * (12 * 6 + 6) + (6 * 12 + 12)
    assert tsa.out_norm is None and torch.equal(tsa.out.weight.detach(), torch.zeros(12, 6, 1))


def test_out_bn_keeps_eval_identity_with_other_normalisations() -> None:
    for normalize in ("softmax", "mean", "none"):
        tsa = TemporalSelfAttention(8, normalize=normalize, out_bn=True).eval()
        x = torch.randn(2, 8, 5)
        assert torch.equal(tsa(x), x), normalize


# --- GLTR end to end ---------------------------------------------------------


def test_released_gltr_at_init_is_the_mean_of_the_dtp_output(padded_batch: MakeBatch) -> None:
    model = GLTR(128, **RELEASED)
    assert model.out_dim == 512
    x, mask, singles = padded_batch([8, 5], 128)
    for train in (True, False):
        model.train(train)
        with torch.no_grad():
            u = model(x, mask)
            for i, s in enumerate(singles):
                expected = reference_dtp(model.local, s.transpose(1, 2)).mean(dim=-1)
                torch.testing.assert_close(u[i : i + 1], expected)


def test_released_gltr_padded_batch_equals_each_sequence_alone(padded_batch: MakeBatch) -> None:
    model = GLTR(32, **RELEASED).eval()
    set_out_bn(model.tsa)
    x, mask, singles = padded_batch([9, 4, 1], 32)
    with torch.no_grad():
        u = model(x, mask)
        u_m, m = model(x, mask, return_attention=True)
        alone = torch.cat([model(s) for s in singles])
    assert u.shape == (3, 128)
    assert not torch.allclose(u, torch.cat([reference_dtp(model.local, s.transpose(1, 2)).mean(-1) for s in singles]))
    torch.testing.assert_close(u, alone, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(u_m, alone, rtol=1e-4, atol=1e-5)
    assert torch.equal(m[1, 4:], torch.zeros(5, 9))  # padded keys get no weight


def test_released_gltr_gradients() -> None:
    """With BN gamma = 0, the first backward reaches DTP (through the residual)
    and TSA's BatchNorm only; after one step everything else learns, except
    three biases whose effect cancels in training mode: the key bias (a
    constant added to every logit of a query, which the softmax ignores) and
    the value and W biases (constant over frames, removed by BatchNorm's
    batch centring)."""
    model = GLTR(32, **RELEASED).train()
    x = torch.randn(4, 8, 32)
    model(x).pow(2).sum().backward()
    first_live = {"tsa.out_norm.weight", "tsa.out_norm.bias"}
    for name, p in model.named_parameters():
        live = name.startswith("local.") or name in first_live
        assert (p.grad.abs().sum() > 0) == live, name
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    model.zero_grad()
    model(x).pow(2).sum().backward()
    cancelled = {"tsa.key.bias", "tsa.value.bias", "tsa.out.bias"}
    scale = max(p.grad.abs().max().item() for p in model.parameters())
    for name, p in model.named_parameters():
        g = p.grad.abs().max().item()
        assert (g < 1e-4 * scale) if name in cancelled else (g > 1e-3 * scale), (name, g, scale)


def test_ablations_take_the_released_options() -> None:
    dtp = DTPOnly(128, **RELEASED_DTP)
    assert dtp.out_dim == 512 and dtp.tsa is None and dtp.local.dilations == (1, 2, 3)
    tsa = TSAOnly(128, **RELEASED_TSA)
    assert tsa.out_dim == 128 and tsa.local is None and tsa.tsa.out_norm is not None
    assert tsa.tsa.normalize == "softmax_unscaled" and isinstance(tsa.tsa.query, nn.Conv1d)


def test_dilations_only_for_the_dtp_local_block() -> None:
    with pytest.raises(ConfigError, match="dilations"):
        GLTR(16, local="conv", dilations=[1, 2, 3])
    with pytest.raises(ConfigError, match="dilations"):
        GLTR(16, local="none", dilations=[1, 2, 3])


# --- registry ---------------------------------------------------------------


def test_registry_builds_the_released_aggregators_from_json_options() -> None:
    model = create_aggregator("gltr", 128, **RELEASED)
    assert model.out_dim == 512 and model.local.dilations == (1, 2, 3)
    assert create_aggregator("dtp", 128, **RELEASED_DTP).out_dim == 512
    assert create_aggregator("tsa", 128, **RELEASED_TSA, value_bn_relu=False).out_dim == 128
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 5, 128)).shape == (2, 512)


@pytest.mark.parametrize("name", ["gltr", "dtp", "tsa"])
def test_registry_still_refuses_unknown_options(name: str) -> None:
    with pytest.raises(RegistryError, match="no option 'dilation'"):
        create_aggregator(name, 128, dilation=[1, 2, 3])


def test_registry_refuses_an_option_value_of_the_wrong_type() -> None:
    with pytest.raises(RegistryError, match="init_std"):
        create_aggregator("dtp", 128, init_std="small")


# --- backbone ---------------------------------------------------------------


def test_backbone_without_embed_bn_is_a_plain_kaiming_linear() -> None:
    model = build_backbone("resnet18", weights="random", embed_bn=False).eval()
    assert model.config.embed_bn is False
    assert not any(isinstance(m, nn.BatchNorm1d) for m in model.modules())
    assert not any(k.startswith("bn.") for k in model.state_dict())
    assert torch.equal(model.embed.bias.detach(), torch.zeros(128))
    # kaiming_normal_ fan_out on a (128, 512) weight: std sqrt(2 / 128)
    assert model.embed.weight.std().item() == pytest.approx((2 / 128) ** 0.5, rel=0.05)
    x = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.embed(torch.flatten(model.body(x), 1)))


def test_embed_bn_false_survives_a_checkpoint_round_trip(tmp_path: Path) -> None:
    model = build_backbone("resnet18", num_classes=3, weights="random", embed_bn=False).eval()
    path = save_checkpoint(model, tmp_path / "plain.pth")
    loaded = load_checkpoint(path).eval()
    assert loaded.config == model.config and loaded.config.embed_bn is False
    assert isinstance(loaded.bn, nn.Identity)
    x = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    # Loading it as weights needs a backbone built the same way.
    assert build_backbone("resnet18", weights=path, embed_bn=False).config.embed_bn is False
    with pytest.raises(ValueError, match="saved with embed_bn=False, the model is built with embed_bn=True"):
        build_backbone("resnet18", weights=path)


def test_checkpoint_written_before_embed_bn_loads_with_the_batchnorm(tmp_path: Path) -> None:
    model = build_backbone("resnet18", weights="random")
    path = save_checkpoint(model, tmp_path / "new.pth")
    payload = torch.load(path, weights_only=True)
    # a default backbone's checkpoint is written as before the option: without the key, same bytes
    assert "embed_bn" not in payload["config"]
    old = tmp_path / "old.pth"
    torch.save(payload, old)
    loaded = load_checkpoint(old)
    assert loaded.config.embed_bn is True and isinstance(loaded.bn, nn.BatchNorm1d)
    assert build_backbone("resnet18", weights=old).config.embed_bn is True


# --- defaults unchanged -----------------------------------------------------

# Recorded from the code before these options existed.
DEFAULT_DTP_KEYS = [
    ("branches.0.weight", (128, 128, 3)), ("branches.0.bias", (128,)),
    ("branches.1.weight", (128, 128, 3)), ("branches.1.bias", (128,)),
    ("branches.2.weight", (128, 128, 3)), ("branches.2.bias", (128,)),
]


def default_tsa_keys(c: int, r: int, prefix: str = "") -> list[tuple[str, tuple[int, ...]]]:
    bn = [("weight", (r,)), ("bias", (r,)), ("running_mean", (r,)), ("running_var", (r,)), ("num_batches_tracked", ())]
    keys = []
    for proj in ("query", "key"):
        keys += [(f"{proj}.conv.weight", (r, c, 1))] + [(f"{proj}.bn.{k}", s) for k, s in bn]
    keys += [("value.weight", (r, c, 1)), ("value.bias", (r,)), ("out.weight", (c, r, 1)), ("out.bias", (c,))]
    return [(prefix + k, s) for k, s in keys]


def keys_and_shapes(m: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in m.state_dict().items()]


def test_default_state_dict_keys_are_unchanged() -> None:
    assert keys_and_shapes(DilatedTemporalPyramid(128)) == DEFAULT_DTP_KEYS
    assert keys_and_shapes(TemporalSelfAttention(384)) == default_tsa_keys(384, 192)
    gltr_keys = [("local." + k, s) for k, s in DEFAULT_DTP_KEYS] + default_tsa_keys(384, 192, "tsa.")
    assert keys_and_shapes(GLTR(128)) == gltr_keys
    assert keys_and_shapes(create_aggregator("gltr", 128)) == gltr_keys
    assert keys_and_shapes(create_aggregator("dtp", 128)) == [("local." + k, s) for k, s in DEFAULT_DTP_KEYS]
    assert keys_and_shapes(create_aggregator("tsa", 128)) == default_tsa_keys(128, 64, "tsa.")
    head = [k for k, _ in keys_and_shapes(build_backbone("resnet18", weights="random")) if not k.startswith("body.")]
    assert head == ["embed.weight", "embed.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
                    "bn.num_batches_tracked"]


def test_defaults_are_the_paper_values() -> None:
    """A default GLTR is, weight for weight and number for number, the one built
    with the paper's values spelt out (same seed: same initialisation)."""
    paper = {"dilations": [1, 2, 4], "bias": True, "activation": "relu", "concat_input": False, "init_std": None,
             "normalize": "softmax", "qk_bn_relu": True, "out_bn": False, "value_bn_relu": False}
    torch.manual_seed(3)
    default = GLTR(16).eval()
    torch.manual_seed(3)
    spelt = GLTR(16, **paper).eval()
    for (k, a), (k2, b) in zip(default.state_dict().items(), spelt.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b), k
    assert default.out_dim == 48 and default.local.dilations == (1, 2, 4) and default.tsa.out_norm is None
    with torch.no_grad():
        torch.nn.init.normal_(default.tsa.out.weight, std=0.1)
        spelt.tsa.out.weight.copy_(default.tsa.out.weight)
        x = torch.randn(2, 7, 16)
        assert torch.equal(default(x), spelt(x))
