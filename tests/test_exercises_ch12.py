"""Exercises of chapter 12: reference solutions pass, typical wrong answers fail with a hint."""

import numpy as np
import pytest

from tasnet_edu.exercises import ch12


def test_ch12_active_rms():
    ch12.check_active_rms(ch12._solution_active_rms)
    with pytest.raises(AssertionError, match="pause"):
        ch12.check_active_rms(lambda wav, sr: float(np.sqrt(np.mean(wav**2))))  # the plain RMS


def test_ch12_speaker_split():
    ch12.check_speaker_split(ch12._solution_speaker_split)

    def by_utterance(utterances, n_valid, n_test):  # splits files, not speakers
        split = {i: "valid" if i < 5 else "test" if i < 8 else "train" for i in range(len(utterances))}
        return {u: split[i] for i, (_, u) in enumerate(utterances)}

    with pytest.raises(AssertionError, match="two splits"):
        ch12.check_speaker_split(by_utterance)


def test_ch12_speed_perturbation():
    ch12.check_speed_perturbation(ch12._solution_speed_perturbation)
    with pytest.raises(AssertionError, match="samples"):
        ch12.check_speed_perturbation(lambda wav, sr, f: wav)  # no change at all
    with pytest.raises(AssertionError):  # resampled the wrong way round: slower instead of faster
        ch12.check_speed_perturbation(lambda wav, sr, f: ch12.resample(wav, sr, round(sr * f)))
