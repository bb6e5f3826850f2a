"""The reference solutions of chapters 01–03 pass their checks, and typical wrong answers fail them."""

import pytest
import torch

from tasnet_edu.exercises import ch01, ch02, ch03


def test_ch01_solutions_pass_and_wrong_answers_fail():
    ch01.check_tone_bin(ch01._solution_tone_bin())
    ch01.check_latency_ms(ch01._solution_latency_ms)
    ch01.check_n_frames(ch01._solution_n_frames)
    with pytest.raises(AssertionError, match="Hint"):
        ch01.check_tone_bin(1000)
    with pytest.raises(AssertionError, match="Hint"):
        ch01.check_latency_ms(lambda n_fft, rate: n_fft / rate)  # seconds, not ms
    with pytest.raises(AssertionError, match="Hint"):
        ch01.check_n_frames(lambda n, hop: n // hop)


def test_ch02_solutions_pass_and_wrong_answers_fail():
    ch02.check_ideal_ratio_mask(ch02._solution_ideal_ratio_mask)
    ch02.check_ideal_binary_mask(ch02._solution_ideal_binary_mask)
    ch02.check_true_phase(ch02._solution_true_phase)
    with pytest.raises(AssertionError, match="Hint"):
        ch02.check_ideal_ratio_mask(lambda m: m**2 / (m**2).sum(0, keepdim=True).clamp_min(1e-12))  # the WFM
    with pytest.raises(AssertionError, match="NaN"):
        ch02.check_ideal_ratio_mask(lambda m: m / m.sum(0, keepdim=True))
    with pytest.raises(AssertionError, match="Hint"):
        ch02.check_ideal_binary_mask(lambda m: (m > 0.5).float())
    with pytest.raises(AssertionError, match="Hint"):
        ch02.check_true_phase(lambda mag, spec: mag * spec)


def test_ch03_solutions_pass_and_wrong_answers_fail():
    ch03.check_si_snr(ch03._solution_si_snr)
    ch03.check_snr_of_half(ch03._solution_snr_of_half())
    ch03.check_frame_level_pit(ch03._solution_frame_level_pit)
    ch03.check_utterance_level_pit(ch03._solution_utterance_level_pit)

    def no_zero_mean(est, ref):
        target = (est @ ref) / (ref @ ref) * ref
        return 10 * torch.log10(target.pow(2).sum() / (est - target).pow(2).sum())

    with pytest.raises(AssertionError, match="Hint: remove both means"):
        ch03.check_si_snr(no_zero_mean)
    with pytest.raises(AssertionError, match="Hint"):
        ch03.check_snr_of_half(0.0)
    identity = lambda s: torch.arange(s.shape[-1])  # noqa: E731
    with pytest.raises(AssertionError, match="in some frame"):
        ch03.check_frame_level_pit(lambda s: identity(s).expand(s.shape[0], -1))
    with pytest.raises(AssertionError, match="over the utterance"):
        ch03.check_utterance_level_pit(identity)
    with pytest.raises(AssertionError, match="over the utterance"):  # the first frame's choice
        ch03.check_utterance_level_pit(lambda s: ch03._solution_frame_level_pit(s)[0])
    with pytest.raises(AssertionError, match="one permutation"):   # one per frame, not per utterance
        ch03.check_utterance_level_pit(ch03._solution_frame_level_pit)


def test_ch03_pit_check_shows_frame_level_pit_blind_to_swaps(capsys):
    ch03.check_utterance_level_pit(ch03._solution_utterance_level_pit)
    out = capsys.readouterr().out
    assert "s1 in 20 frames, s2 in the other 20" in out and "switching it 1 time(s)" in out
