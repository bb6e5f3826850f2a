"""Exercises of chapters 09–10: reference solutions pass, typical wrong answers fail with a hint."""

import pytest

from tasnet_edu.exercises import ch09, ch10
from tasnet_edu.metrics import si_snr


def test_ch09_fixed_order_loss():
    ch09.check_fixed_order_loss(ch09._solution_fixed_order_loss)
    with pytest.raises(AssertionError, match="minus their mean"):
        ch09.check_fixed_order_loss(lambda est, ref: si_snr(est, ref).mean())  # forgot the sign


def test_ch09_two_speaker_upit():
    ch09.check_two_speaker_upit(ch09._solution_two_speaker_upit)
    with pytest.raises(AssertionError, match="torch.maximum"):
        ch09.check_two_speaker_upit(ch09._solution_fixed_order_loss)  # no permutation: wrong on utterance 1


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
