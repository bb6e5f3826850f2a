"""The reference solutions of chapters 07–08 pass their checks, and wrong answers are caught."""

import pytest
import torch

from tasnet_edu.exercises import ch07, ch08


def test_reference_solutions_pass(capsys):
    ch07.check_receptive_field(ch07._solution_receptive_field)
    ch07.check_cumulative_layer_norm(ch07._solution_cumulative_layer_norm)
    ch08.check_block_parameters(ch08._solution_block_parameters)
    ch08.check_frames(ch08._solution_frames)
    assert capsys.readouterr().out.count("Correct") == 4


def test_wrong_answers_fail_with_a_hint():
    with pytest.raises(AssertionError, match="Hint"):
        ch07.check_receptive_field(lambda P, X, R: R * P * 2**X)
    with pytest.raises(AssertionError, match="frame k may only use frames 0…k"):  # global statistics
        ch07.check_cumulative_layer_norm(lambda x: (x - x.mean()) / x.std())
    with pytest.raises(AssertionError, match="Hint"):  # forgot the biases
        ch08.check_block_parameters(lambda B, H, Sc, P: B * H + H * P + H * B + H * Sc + 4 * H + 2)
    with pytest.raises(AssertionError, match="Hint"):  # no padding of the last frame
        ch08.check_frames(lambda time, L: (time - L) // (L // 2) + 1)
    with pytest.raises(AssertionError, match="channels"):
        ch07.check_cumulative_layer_norm(_per_channel_cumulative_norm)


def _per_channel_cumulative_norm(x):
    """A plausible mistake: cumulative statistics per channel instead of over all channels."""
    count = torch.arange(1, x.shape[-1] + 1, dtype=x.dtype)
    mean = x.cumsum(-1) / count
    return (x - mean) / torch.sqrt(x.square().cumsum(-1) / count - mean.square() + 1e-8)


def test_new_chapter_07_08_exercises_pass_with_the_reference_solutions(capsys):
    ch07.check_global_layer_norm(ch07._solution_global_layer_norm)
    ch07.check_causal_depthwise_conv(ch07._solution_causal_depthwise_conv)
    ch08.check_conv1d_block(ch08._solution_conv1d_block)
    assert capsys.readouterr().out.count("Correct") == 3


def test_global_layer_norm_mistakes_are_caught():
    with pytest.raises(AssertionError, match="each channel on its own"):  # instance norm
        ch07.check_global_layer_norm(lambda x: (x - x.mean(-1, keepdim=True)) / x.std(-1, keepdim=True))
    with pytest.raises(AssertionError, match="each frame on its own"):  # nn.LayerNorm over channels
        ch07.check_global_layer_norm(
            lambda x: torch.nn.functional.layer_norm(x.transpose(1, 2), (x.shape[1],)).transpose(1, 2))
    with pytest.raises(AssertionError, match="never over the batch"):
        ch07.check_global_layer_norm(lambda x: (x - x.mean()) / x.std())


def test_causal_depthwise_conv_mistakes_are_caught():
    import torch.nn.functional as F

    def centred(x, w, d):
        return F.conv1d(x, w, padding=(w.shape[-1] - 1) * d // 2, dilation=d, groups=x.shape[1])

    def no_dilation(x, w, d):
        return F.conv1d(F.pad(x, (w.shape[-1] - 1, 0)), w, groups=x.shape[1])

    with pytest.raises(AssertionError, match="looks ahead"):
        ch07.check_causal_depthwise_conv(centred)
    with pytest.raises(AssertionError, match="dilation=d"):
        ch07.check_causal_depthwise_conv(no_dilation)
    with pytest.raises(AssertionError, match="keep 50 frames"):
        ch07.check_causal_depthwise_conv(lambda x, w, d: F.conv1d(x, w, dilation=d, groups=x.shape[1]))


def test_conv1d_block_mistakes_are_caught():
    def no_input(x, block):
        residual, skip = ch08._solution_conv1d_block(x, block)
        return (None if residual is None else residual - x), skip

    def centred_always(x, block):
        causal, block.causal = block.causal, False
        try:
            return ch08._solution_conv1d_block(x, block)
        finally:
            block.causal = causal

    with pytest.raises(AssertionError, match="INPUT plus"):
        ch08.check_conv1d_block(no_input)
    with pytest.raises(AssertionError, match="on the left"):
        ch08.check_conv1d_block(centred_always)
