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
