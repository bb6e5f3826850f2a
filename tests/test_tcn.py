"""The TCN: receptive field (formula vs gradient support), gLN/cLN against their formulas, causality."""

import pytest
import torch
import torch.nn.functional as F

from tasnet_edu.errors import CourseError
from tasnet_edu.tcn import (
    TCN,
    BlockSpec,
    Conv1DBlock,
    CumulativeLayerNorm,
    DepthwiseConv,
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


# --- each layer's stream and description ---------------------------------------------------------------

CHUNKS = [1, 3, 7, 1, 20, 2, 6]  # frames per call: one at a time, a few, more than a dilated history


def streamed(layer_stream, x: torch.Tensor) -> torch.Tensor:
    """Run a layer's stream on one example ``x (channels, frames)`` in chunks of ``CHUNKS`` frames; the
    outputs concatenated (a block's skip output: the second of its two)."""
    outs, start = [], 0
    for n in CHUNKS:
        out = layer_stream(x[:, start:start + n])
        outs.append(out[1] if isinstance(out, tuple) else out)
        start += n
    return torch.cat(outs, dim=-1)


def _causal_block(residual=True) -> Conv1DBlock:
    torch.manual_seed(0)
    block = Conv1DBlock(B=4, H=8, Sc=5, P=3, dilation=4, norm="cLN", causal=True, residual=residual)
    with torch.no_grad():
        for name, p in block.named_parameters():
            if "norm" in name or "prelu" in name:
                p.add_(0.3 * torch.randn_like(p))
    return block.eval()


def test_cumulative_norm_streams_as_it_normalises():
    norm = _with_random_affine(CumulativeLayerNorm(6))
    x = 3 * torch.randn(6, sum(CHUNKS)) + 1
    with torch.inference_mode():
        torch.testing.assert_close(streamed(norm.stream(), x), norm(x[None])[0])


@pytest.mark.parametrize("norm, message", [("gLN", "gLN cannot stream"), ("BN", "BN is not streamed here")])
def test_other_norms_refuse_to_stream(norm, message):
    with pytest.raises(CourseError, match=message):
        make_norm(norm, 4).stream()


@pytest.mark.parametrize("P, dilation", [(2, 1), (3, 4), (4, 9)])
def test_causal_depthwise_conv_streams_as_it_convolves(P, dilation):
    torch.manual_seed(0)
    conv = DepthwiseConv(6, P, dilation, causal=True)
    x = torch.randn(6, sum(CHUNKS))
    with torch.inference_mode():
        torch.testing.assert_close(streamed(conv.stream(), x), conv(x[None])[0])
    with pytest.raises(CourseError, match=f"looks {(P - 1 - (P - 1) // 2) * dilation} frames ahead"):
        DepthwiseConv(6, P, dilation, causal=False).stream()


@pytest.mark.parametrize("residual", [True, False])
def test_block_streams_as_it_computes(residual):
    block = _causal_block(residual)
    x = torch.randn(4, sum(CHUNKS))
    stream, outs, start = block.stream(), [], 0
    with torch.inference_mode():
        for n in CHUNKS:
            outs.append(stream(x[:, start:start + n]))
            start += n
        res, skip = block(x[None])
    torch.testing.assert_close(torch.cat([o[1] for o in outs], -1), skip[0])
    if residual:
        torch.testing.assert_close(torch.cat([o[0] for o in outs], -1), res[0])
    else:
        assert res is None and all(o[0] is None for o in outs)


def test_tcn_streams_as_it_computes():
    torch.manual_seed(0)
    tcn = TCN(B=4, H=6, Sc=3, P=3, X=3, R=2, norm="cLN", causal=True).eval()
    x = torch.randn(4, sum(CHUNKS))
    with torch.inference_mode():
        torch.testing.assert_close(streamed(tcn.stream(), x), tcn(x[None])[0])


def test_block_description_is_its_weights():
    block = _causal_block()
    spec = block.describe()
    assert isinstance(spec, BlockSpec) and spec.sizes == dict(B=4, H=8, Sc=5, P=3)
    assert (spec.depthwise.dilation, spec.depthwise.causal, spec.pointwise_norm.kind) == (4, True, "cLN")
    state = block.state_dict()
    for tensor, name in [(spec.pointwise.weight, "conv_in.weight"), (spec.pointwise_slope, "prelu1.weight"),
                         (spec.pointwise_norm.gain, "norm1.weight"), (spec.depthwise.bias, "dconv.bias"),
                         (spec.depthwise_norm.bias, "norm2.bias"), (spec.residual_conv.weight, "res.weight"),
                         (spec.skip_conv.bias, "skip.bias")]:
        assert tensor.data_ptr() == state[name].data_ptr(), name  # a view of the weight, not a copy
    assert TCN(B=4, H=6, Sc=3, P=3, X=2, R=1).describe()[-1].residual_conv is None


def test_batch_norm_description_folds_its_statistics():
    """At inference batch norm is the affine its description gives (running statistics folded in)."""
    torch.manual_seed(0)
    bn = make_norm("BN", 5)
    bn.train()(3 * torch.randn(8, 5, 40) + 2)  # running statistics away from 0 and 1
    spec, x = bn.eval().describe(), torch.randn(2, 5, 9)
    assert spec.kind == "BN"
    torch.testing.assert_close(bn(x), (x * spec.gain[:, None] + spec.bias[:, None]).float())
