"""Exercises of chapters 09–11: reference solutions pass, typical wrong answers fail with a hint."""

import pytest
import torch

from tasnet_edu.exercises import ch09, ch10
from tasnet_edu.metrics import si_snr


def test_ch09_fixed_order_loss():
    ch09.check_fixed_order_loss(ch09._solution_fixed_order_loss)
    with pytest.raises(AssertionError, match="minus their mean"):
        ch09.check_fixed_order_loss(lambda est, ref: si_snr(est, ref).mean())  # forgot the sign



def test_ch10_exercises():
    ch10.check_steps_per_epoch(ch10._solution_steps_per_epoch)
    with pytest.raises(AssertionError, match="drop_last"):
        ch10.check_steps_per_epoch(lambda n, b, k: n // b)
    ch10.check_resume_step(ch10._solution_resume_step())
    with pytest.raises(AssertionError, match="multiple of 200"):
        ch10.check_resume_step(1234)
    ch10.check_precision_on_t4("fp32")
    for wrong in ("fp16", "bf16"):
        with pytest.raises(AssertionError):
            ch10.check_precision_on_t4(wrong)


def test_ch11_exercises():
    from tasnet_edu.exercises import ch11

    ch11.check_mean_interval(ch11._solution_mean_interval)
    with pytest.raises(AssertionError, match="1.96"):
        normal = lambda v: (sum(v) / len(v), 1.96 * torch.tensor(v).std().item() / len(v) ** 0.5)  # noqa: E731
        ch11.check_mean_interval(normal)
    ch11.check_paired_difference(ch11._solution_paired_difference)
    with pytest.raises(AssertionError, match="utterance by utterance"):
        ch11.check_paired_difference(
            lambda a, b: (sum(b) / len(b) - sum(a) / len(a),
                          ch11._solution_mean_interval(a)[1] + ch11._solution_mean_interval(b)[1]))
    ch11.check_real_time_factor(ch11._solution_real_time_factor)
    with pytest.raises(AssertionError, match="n_samples / sample_rate"):
        ch11.check_real_time_factor(lambda c, n, sr: n / sr / c)
