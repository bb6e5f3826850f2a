"""The TCN: receptive field (formula vs gradient support), gLN/cLN against their formulas, causality."""

import pytest
import torch
import torch.nn.functional as F

from tasnet_edu.errors import CourseError
from tasnet_edu.tcn import (
    TCN,
    Conv1DBlock,
    CumulativeLayerNorm,
    GlobalLayerNorm,
    depthwise_conv,
    make_norm,
    receptive_field,
)


def _input_support(net, channels: int, frames: int, t: int) -> torch.Tensor:
    """Which input frames the output frame ``t`` depends on (non-zero gradient), as a bool (frames,)."""
    x = torch.randn(1, channels, frames, requires_grad=True)
    net(x)[0, :, t].sum().backward()
    return x.grad[0].abs().sum(0) > 0


@pytest.mark.parametrize("P, X, R", [(3, 3, 1), (3, 4, 2), (2, 3, 2), (5, 2, 3)])
def test_receptive_field_formula_matches_gradient_support(P, X, R):
    torch.manual_seed(0)
    # Batch norm in eval mode is a per-channel affine map, so only the convolutions spread information.
    net = TCN(B=4, H=6, Sc=3, P=P, X=X, R=R, norm="BN").eval()
    rf = receptive_field(P, X, R)
    frames = rf + 40
    support = _input_support(net, 4, frames, frames // 2)
    assert int(support.sum()) == rf == net.receptive_field
    idx = support.nonzero().squeeze(1)
    assert int(idx[-1] - idx[0]) + 1 == rf  # one contiguous window


def test_receptive_field_values_and_bad_input():
    assert receptive_field(3, 8, 3) == 1531
    assert receptive_field(2, 1, 1) == 2
    for bad in [(0, 8, 3), (3, 0, 3), (3, 8, 1.5)]:
        with pytest.raises(CourseError, match="receptive_field"):
            receptive_field(*bad)


def _with_random_affine(norm):
    torch.manual_seed(0)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 2)
        norm.bias.normal_()
    return norm


def test_global_layer_norm_is_the_mean_var_formula():
    norm = _with_random_affine(GlobalLayerNorm(5))
    x = 3 * torch.randn(4, 5, 37) + 1
    mean = x.mean(dim=(1, 2), keepdim=True)
    var = ((x - mean) ** 2).mean(dim=(1, 2), keepdim=True)
    expected = (x - mean) / torch.sqrt(var + norm.eps) * norm.weight[:, None] + norm.bias[:, None]
    torch.testing.assert_close(norm(x), expected, rtol=1e-5, atol=1e-5)


def test_cumulative_layer_norm_uses_past_frames_only():
    norm = _with_random_affine(CumulativeLayerNorm(3))
    x = 2 * torch.randn(2, 3, 20) + 0.5
    out = norm(x)
    for k in range(20):
        past = x[..., : k + 1]
        mean = past.mean(dim=(1, 2), keepdim=True)
        var = past.var(dim=(1, 2), unbiased=False, keepdim=True)
        expected = (x[..., k : k + 1] - mean) / torch.sqrt(var + norm.eps) * norm.weight[:, None] + norm.bias[
            :, None
        ]
        torch.testing.assert_close(out[..., k : k + 1], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("norm, causal", [("cLN", True), ("gLN", False)])
def test_norm_causality(norm, causal):
    torch.manual_seed(0)
    layer = make_norm(norm, 4)
    x = torch.randn(1, 4, 30)
    y = x.clone()
    y[..., 20:] += 5 * torch.randn(1, 4, 10)
    past_equal = torch.allclose(layer(x)[..., :20], layer(y)[..., :20])
    assert past_equal == causal


def test_make_norm_rejects_unknown():
    with pytest.raises(CourseError, match="norm must be one of"):
        make_norm("LN", 4)


@pytest.mark.parametrize("P", [2, 3, 4])
@pytest.mark.parametrize("dilation", [1, 3, 50])
@pytest.mark.parametrize("causal", [False, True])
def test_depthwise_conv_matches_grouped_conv1d(P, dilation, causal):
    torch.manual_seed(0)
    H, frames = 6, 40
    weight = torch.randn(H, 1, P, requires_grad=True)
    bias = torch.randn(H, requires_grad=True)
    x = torch.randn(2, H, frames, requires_grad=True)
    total = (P - 1) * dilation
    left = total if causal else (P - 1) // 2 * dilation
    expected = F.conv1d(F.pad(x, (left, total - left)), weight, bias, dilation=dilation, groups=H)
    out = depthwise_conv(x, weight, bias, dilation, causal)
    torch.testing.assert_close(out, expected)
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, (x, weight, bias), g)
    expected_grads = torch.autograd.grad(expected, (x, weight, bias), g)
    for a, b in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(a, b)


def test_block_computes_the_papers_block():
    torch.manual_seed(0)
    block = Conv1DBlock(B=4, H=8, Sc=5, P=3, dilation=2)
    x = torch.randn(2, 4, 33)
    y = block.norm1(block.prelu1(block.conv_in(x)))
    y = F.conv1d(y, block.dconv.weight, block.dconv.bias, padding=2, dilation=2, groups=8)
    y = block.norm2(block.prelu2(y))
    res, skip = block(x)
    torch.testing.assert_close(res, x + block.res(y))
    torch.testing.assert_close(skip, block.skip(y))


def test_block_shapes_and_last_block_has_no_residual():
    block = Conv1DBlock(B=4, H=8, Sc=5, P=3, dilation=2)
    res, skip = block(torch.randn(2, 4, 33))
    assert res.shape == (2, 4, 33) and skip.shape == (2, 5, 33)
    tcn = TCN(B=4, H=8, Sc=5, P=3, X=3, R=2)
    assert [b.dilation for b in tcn.blocks] == [1, 2, 4, 1, 2, 4]
    assert all(b.res is not None for b in tcn.blocks[:-1]) and tcn.blocks[-1].res is None
    assert tcn(torch.randn(2, 4, 33)).shape == (2, 5, 33)


def test_causal_block_refuses_gln():
    with pytest.raises(CourseError, match="gLN"):
        Conv1DBlock(B=4, H=8, Sc=5, P=3, dilation=1, norm="gLN", causal=True)


def test_causal_tcn_never_looks_ahead():
    torch.manual_seed(0)
    net = TCN(B=4, H=6, Sc=3, P=3, X=3, R=2, norm="cLN", causal=True)
    frames, t = 60, 30
    support = _input_support(net, 4, frames, t)
    assert not support[t + 1 :].any()
    assert support[t]
    # cLN makes the output depend on *all* past frames, beyond the convolutions' receptive field.
    assert support[: t + 1].all()
