"""Exercises of chapter 07 (the dilated TCN).

1. ``check_receptive_field(fn)``: the receptive field of a TCN, in frames, from P, X and R.
2. ``check_cumulative_layer_norm(fn)``: cLN without gain and bias, from its definition.
3. ``check_global_layer_norm(fn)``: gLN without gain and bias: one mean and variance per utterance.
4. ``check_causal_depthwise_conv(fn)``: a dilated depthwise convolution padded so it sees no future frame.
5. ``check_conv1d_block(fn)``: one convolutional block's forward pass from its ``BlockSpec`` and your norms.
6. ``check_tcn(fn, conv1d_block)``: a TCN stacked from your block, its receptive field measured by gradient.

The blocks are handed over as their declared weights (``Conv1DBlock.describe()``, a ``tcn.BlockSpec``), the
same record the ONNX writer reads: the exercises never reach into a block's submodules.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tasnet_edu.tcn import (
    TCN,
    BlockSpec,
    Conv1DBlock,
    CumulativeLayerNorm,
    GlobalLayerNorm,
    NormSpec,
    depthwise_conv,
    receptive_field,
)


# --- 1. receptive field ---------------------------------------------------------------------------------
def _solution_receptive_field(P: int, X: int, R: int) -> int:
    """Each block with dilation d adds (P−1)·d frames; one repeat's dilations sum to 2^X − 1."""
    return 1 + R * (P - 1) * sum(2**i for i in range(X))


def check_receptive_field(fn) -> None:
    """``fn(P, X, R) -> frames``: how many encoder frames one output frame of the TCN sees."""
    for P, X, R in ((3, 8, 3), (3, 1, 1), (2, 4, 2), (5, 6, 1), (3, 10, 4)):
        expected, got = receptive_field(P, X, R), int(fn(P, X, R))
        assert got == expected, (
            f"for P={P}, X={X}, R={R} the TCN sees {expected} frames, you gave {got}. Hint: a kernel of P "
            "taps with dilation d spans (P−1)·d + 1 frames; the spans of stacked layers add up, minus the "
            "shared frame; the dilations are 1, 2, …, 2^(X−1) in each of the R repeats."
        )
    print("Correct: the receptive field grows exponentially with X but only linearly with P and R.")


# --- 2. cumulative layer norm ---------------------------------------------------------------------------
def _solution_cumulative_layer_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """cLN of ``x (batch, channels, frames)``: statistics over all channels and frames 0…k, for each k."""
    count = x.shape[1] * torch.arange(1, x.shape[-1] + 1, dtype=x.dtype)
    mean = x.sum(1, keepdim=True).cumsum(-1) / count
    var = x.square().sum(1, keepdim=True).cumsum(-1) / count - mean.square()
    return (x - mean) / torch.sqrt(var + eps)


def check_cumulative_layer_norm(fn) -> None:
    """``fn(x (batch, channels, frames)) -> same shape``: cLN with gain 1 and bias 0."""
    g = torch.Generator().manual_seed(7)
    x = 2 * torch.randn(2, 5, 40, generator=g, dtype=torch.float64) + 1
    expected = CumulativeLayerNorm(5).double()(x).detach()
    got = torch.as_tensor(fn(x), dtype=torch.float64)
    assert got.shape == expected.shape, f"keep the shape {tuple(x.shape)}, got {tuple(got.shape)}"
    future = x.clone()
    future[..., 20:] *= 10
    got_future = torch.as_tensor(fn(future), dtype=torch.float64)
    assert torch.allclose(got[..., :20], got_future[..., :20], atol=1e-6), (
        "changing frames 20… changed your output before frame 20: frame k may only use frames 0…k. "
        "Hint: torch.cumsum over the time axis gives running sums."
    )
    assert torch.allclose(got, expected, atol=1e-5), (
        "the values differ from cLN. Hint: at frame k, the mean and variance are taken over all channels "
        "and frames 0…k together, i.e. over channels·(k+1) numbers."
    )
    print("Correct: cLN normalises each frame with statistics of the past only, so it can run in real time.")


# --- 3. global layer norm -------------------------------------------------------------------------------
def _solution_global_layer_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """gLN of ``x (batch, channels, frames)``: one mean and variance per example, over channels and frames."""
    mean = x.mean(dim=(1, 2), keepdim=True)
    var = (x - mean).square().mean(dim=(1, 2), keepdim=True)
    return (x - mean) / torch.sqrt(var + eps)


def check_global_layer_norm(fn) -> None:
    """``fn(x (batch, channels, frames)) -> same shape``: gLN with gain 1 and bias 0."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 5, 40, generator=g, dtype=torch.float64) * torch.linspace(0.5, 3, 5)[:, None] + 1
    expected = GlobalLayerNorm(5).double()(x).detach()
    got = torch.as_tensor(fn(x), dtype=torch.float64)
    assert got.shape == expected.shape, f"keep the shape {tuple(x.shape)}, got {tuple(got.shape)}"
    louder = x.clone()
    louder[1] *= 10
    assert torch.allclose(torch.as_tensor(fn(louder), dtype=torch.float64)[0], got[0], atol=1e-6), (
        "making example 1 louder changed example 0: the statistics are per example, never over the batch. "
        "Hint: reduce over dims (1, 2) only, with keepdim=True."
    )
    mistake = ""
    if got.mean(-1).abs().max() < 1e-6:
        mistake = " Yours centres each channel on its own (statistics over frames only)."
    elif got.mean(1).abs().max() < 1e-6:
        mistake = " Yours normalises each frame on its own (over channels only, like nn.LayerNorm)."
    assert torch.allclose(got, expected, atol=1e-5), (
        "the values differ from gLN. Hint: gLN takes ONE mean and ONE variance per utterance, over all "
        "channels and all frames together." + mistake
    )
    print("Correct: gLN keeps the relative level of channels and frames; it needs the whole utterance first.")


# --- 4. causal dilated depthwise convolution ------------------------------------------------------------
def _solution_causal_depthwise_conv(x: torch.Tensor, weight: torch.Tensor, dilation: int) -> torch.Tensor:
    """Pad (P−1)·d zeros on the left only, then one P-tap filter per channel (``groups=channels``)."""
    P = weight.shape[-1]
    return F.conv1d(F.pad(x, ((P - 1) * dilation, 0)), weight, dilation=dilation, groups=x.shape[1])


def check_causal_depthwise_conv(fn) -> None:
    """``fn(x (batch, H, frames), weight (H, 1, P), dilation) -> (batch, H, frames)``: each channel convolved
    with its own P-tap filter whose taps are ``dilation`` frames apart, output frame t using input frames
    t, t − d, …, t − (P−1)·d only (no bias)."""
    g = torch.Generator().manual_seed(4)
    for H, P, dilation in ((6, 3, 1), (6, 3, 4), (4, 2, 8), (3, 5, 2)):
        x = torch.randn(2, H, 50, generator=g, dtype=torch.float64)
        weight = torch.randn(H, 1, P, generator=g, dtype=torch.float64)
        expected = depthwise_conv(x, weight, torch.zeros(H, dtype=torch.float64), dilation, causal=True)
        got = torch.as_tensor(fn(x, weight, dilation), dtype=torch.float64)
        assert got.shape == x.shape, (
            f"H={H}, P={P}, d={dilation}: keep {x.shape[-1]} frames, got shape {tuple(got.shape)}. Hint: a "
            "kernel spanning (P−1)·d + 1 frames needs (P−1)·d padded frames to keep the length."
        )
        future = x.clone()
        future[..., 30:] = 0
        got_future = torch.as_tensor(fn(future, weight, dilation), dtype=torch.float64)
        assert torch.allclose(got[..., :30], got_future[..., :30]), (
            f"P={P}, d={dilation}: changing frames 30… changed your output before frame 30, so it looks "
            "ahead. Hint: put all (P−1)·d padding frames on the LEFT (F.pad(x, ((P − 1) * d, 0)))."
        )
        assert torch.allclose(got, expected, atol=1e-8), (
            f"P={P}, d={dilation}: causal, but the values differ. Hint: groups=H gives each channel its own "
            "filter, and dilation=d spaces the taps d frames apart."
        )
    print("Correct: with (P−1)·d frames of left padding the block sees only the past — its latency stays "
          "one encoder window however deep the TCN.")


# --- 5. one convolutional block, from its declared weights ---------------------------------------------
def _solution_norm(h: torch.Tensor, spec: NormSpec) -> torch.Tensor:
    """gLN or cLN (exercises 3 and 2), then gain and bias per channel; "BN" is the affine alone."""
    if spec.kind == "BN":
        normed = h
    elif spec.kind == "gLN":
        normed = _solution_global_layer_norm(h, spec.eps)
    else:
        normed = _solution_cumulative_layer_norm(h, spec.eps)
    return spec.gain[:, None] * normed + spec.bias[:, None]


def _solution_conv1d_block(x: torch.Tensor, spec: BlockSpec):
    """1×1 conv → PReLU → norm → depthwise dilated conv → PReLU → norm; residual x + res(y), skip skip(y)."""
    y = F.conv1d(x, spec.pointwise.weight, spec.pointwise.bias)
    y = _solution_norm(F.prelu(y, spec.pointwise_slope), spec.pointwise_norm)
    dw = spec.depthwise
    P, d = dw.weight.shape[-1], dw.dilation
    left = (P - 1) * d if dw.causal else (P - 1) // 2 * d      # causal: look back only
    y = F.conv1d(F.pad(y, (left, (P - 1) * d - left)), dw.weight, dw.bias, dilation=d, groups=y.shape[1])
    y = _solution_norm(F.prelu(y, spec.depthwise_slope), spec.depthwise_norm)
    res = spec.residual_conv
    residual = None if res is None else x + F.conv1d(y, res.weight, res.bias)
    return residual, F.conv1d(y, spec.skip_conv.weight, spec.skip_conv.bias)


def _trained_slopes(net: nn.Module) -> None:
    """PReLU slopes away from their 0.25 start, as after training: 0.1 before each norm of a block's first
    half, 0.4 in its second half (so a swapped slope shows)."""
    prelus = [m for m in net.modules() if isinstance(m, nn.PReLU)]
    with torch.no_grad():
        for i, prelu in enumerate(prelus):
            prelu.weight.fill_((0.1, 0.4)[i % 2])


def check_conv1d_block(fn) -> None:
    """``fn(x (batch, B, frames), spec) -> (residual (batch, B, frames) or None, skip (batch, Sc, frames))``
    where ``spec`` is a ``tasnet_edu.tcn.BlockSpec`` (``block.describe()``): 1×1 conv ``spec.pointwise``,
    PReLU ``spec.pointwise_slope``, ``spec.pointwise_norm``; the depthwise ``spec.depthwise`` (apply it with
    ``F.conv1d``, ``groups``, its ``dilation`` and your own padding; ``causal`` says which side), PReLU,
    ``spec.depthwise_norm``; then ``spec.residual_conv`` (``None`` in the TCN's last block) and
    ``spec.skip_conv``. A norm is your gLN or cLN (``kind``), times ``gain`` plus ``bias`` per channel."""
    torch.manual_seed(8)
    cases = {"non-causal gLN, dilation 2": Conv1DBlock(8, 12, 6, 3, 2),
             "causal cLN, dilation 4": Conv1DBlock(8, 12, 6, 3, 4, norm="cLN", causal=True),
             "the last block (no residual conv)": Conv1DBlock(8, 12, 6, 3, 8, residual=False)}
    for name, block in cases.items():
        block = block.double()
        _trained_slopes(block)
        with torch.no_grad():  # gains and biases away from 1 and 0, so a forgotten one shows
            for m in block.modules():
                if isinstance(m, GlobalLayerNorm | CumulativeLayerNorm):
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.5, 0.5)
        spec = block.describe()
        causal = spec.depthwise.causal
        x = torch.randn(2, 8, 30, dtype=torch.float64)
        with torch.no_grad():
            expected_res, expected_skip = block(x)
            got_res, got_skip = fn(x, spec)
        if expected_res is None:
            assert got_res is None, f"{name}: return None as the residual when spec.residual_conv is None"
        else:
            assert got_res is not None and got_res.shape == x.shape, (
                f"{name}: the residual output keeps the input's shape {tuple(x.shape)}")
        assert got_skip.shape == expected_skip.shape, (
            f"{name}: the skip output is (batch, Sc, frames) {tuple(expected_skip.shape)}, got "
            f"{tuple(got_skip.shape)}. Hint: pad the depthwise conv's input by (P−1)·dilation frames in all.")
        if not torch.allclose(got_skip, expected_skip, atol=1e-6):
            hint = ("all (P−1)·d padding frames go on the left (spec.depthwise.causal)" if causal else
                    "the non-causal padding is centred: (P−1)//2·d frames on each side for odd P")
            kind = spec.pointwise_norm.kind
            raise AssertionError(
                f"{name}: the skip output differs. Hint: the order is pointwise, its slope, its norm (your "
                f"{kind}, then gain and bias), depthwise, its slope, its norm; {hint}.")
        if expected_res is not None:
            assert torch.allclose(got_res, expected_res, atol=1e-6), (
                f"{name}: the skip output is right but the residual is not. Hint: the residual output is the "
                "block's INPUT plus the residual conv of y, so the next block refines what came in.")
    print("Correct: the residual path carries the signal to the next block; the skip path carries each "
          "block's contribution to the mask, summed over all X·R blocks.")


# --- 6. a TCN stacked from your block -------------------------------------------------------------------
def _solution_tcn(x: torch.Tensor, specs, conv1d_block) -> torch.Tensor:
    """Each block's residual output is the next block's input; the skip outputs add up."""
    skips = 0
    for spec in specs:
        residual, skip = conv1d_block(x, spec)
        skips = skips + skip
        if residual is not None:
            x = residual
    return skips


def check_tcn(fn, conv1d_block=None) -> None:
    """``fn(x (batch, B, frames), specs, conv1d_block) -> (batch, Sc, frames)``: the blocks of a
    ``tasnet_edu.tcn.TCN``, given as ``tcn.describe()`` (one ``BlockSpec`` per block, input to output), run
    one after another through ``conv1d_block(x, spec) -> (residual, skip)`` (your block of exercise 5; the
    reference one when ``None``), returning the sum of the skip outputs.

    Checked twice: the values against the package's ``TCN``, and the receptive field by gradient: output
    frame t depends on exactly ``receptive_field(P, X, R)`` input frames, ending at t when causal."""
    conv1d_block = conv1d_block or _solution_conv1d_block
    torch.manual_seed(9)
    P, X, R, frames, t = 3, 3, 2, 60, 30
    span = receptive_field(P, X, R)
    for causal in (False, True):
        kind = "causal" if causal else "non-causal"
        tcn = TCN(B=6, H=8, Sc=5, P=P, X=X, R=R, norm="BN", causal=causal).double().eval()
        _trained_slopes(tcn)
        x = torch.randn(1, 6, frames, dtype=torch.float64, requires_grad=True)
        with torch.no_grad():
            expected = tcn(x)
        got = fn(x, tcn.describe(), conv1d_block)
        assert got is not None and got.shape == expected.shape, (
            f"{kind}: return the sum of the skips, shape {tuple(expected.shape)}; got "
            f"{None if got is None else tuple(got.shape)}")
        assert torch.allclose(got.detach(), expected, atol=1e-6), (
            f"{kind}: the values differ from the package's TCN. Hint: feed each block's RESIDUAL output (not "
            "the TCN's input) to the next block, and add up the skip outputs of every block.")
        detached = "the output does not depend on x through autograd: did you detach it?"
        assert got.requires_grad, detached
        got[0, :, t].sum().backward()
        assert x.grad is not None, detached
        support = (x.grad[0].abs().sum(0) > 0).nonzero().flatten()
        first, last = int(support[0]), int(support[-1])
        assert len(support) == span == last - first + 1, (
            f"{kind}: output frame {t} depends on {len(support)} input frames ({first}…{last}); the TCN's "
            f"receptive field is {span}. Hint: every block must run, with its own dilation.")
        assert last == t if causal else first == t - (span - 1) // 2, (
            f"{kind}: the frames output frame {t} sees are {first}…{last}. Hint: a causal TCN ends at t, a "
            "non-causal one is centred on it.")
    print(f"Correct: your TCN gives the package's output, and one output frame sees {span} input frames "
          f"(P={P}, X={X}, R={R}), measured by gradient.")
