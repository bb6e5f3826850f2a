"""Talkers heard in one room: ``dynamic.in_one_room`` and ``DynamicMix(rooms=…)`` (issue 41 §3;
``tasnet-edu train --rooms``: test_cli.py)."""

import numpy as np
import pytest
import torch
from fakes import write_wsj_split

from tasnet_edu.data import dynamic
from tasnet_edu.data.dynamic import DynamicMix
from tasnet_edu.data.mixtures import synthetic_rir
from tasnet_edu.errors import CourseError

SR = 8000
NAMES = [("011a010b_0.3_401o030n_-0.3.wav", 1.0), ("022c0205_1.2_401o030a_-1.2.wav", 0.5),
         ("033c0201_0.7_401o030b_-0.7.wav", 0.8), ("044c0202_1.0_401o030c_-1.0.wav", 0.9)]


def decay_time(tail: np.ndarray) -> float:
    """T60 (s) of an impulse response's tail by Schroeder's backward integration, fitted from -5 to -25 dB."""
    edc = np.cumsum(tail[::-1] ** 2)[::-1]
    edc_db = 10 * np.log10(edc / edc[0])
    fit = (edc_db < -5) & (edc_db > -25)
    slope = np.polyfit(np.arange(len(tail))[fit] / SR, edc_db[fit], 1)[0]
    return -60.0 / slope


def test_synthetic_rir_has_the_decay_and_the_tail_energy_asked_for():
    for rt60, tail in ((0.2, 0.3), (0.6, 1.4)):
        rir = synthetic_rir(rt60, SR, np.random.default_rng(1), tail=tail)
        assert rir[0] == 1.0 and np.sum(rir[1:] ** 2) == pytest.approx(tail**2)
        assert decay_time(rir[1:]) == pytest.approx(rt60, rel=0.1)


def test_in_one_room_shares_the_decay_and_gives_each_talker_a_distance():
    clicks = np.zeros((2, SR), dtype=np.float32)
    clicks[:, 100] = 1.0
    rt60s, drrs = [], []
    for seed in range(20):
        heard = dynamic.in_one_room(clicks, np.random.default_rng(seed), SR)
        assert heard.shape == clicks.shape and heard.dtype == clicks.dtype
        assert np.abs(heard[:, :100]).max() < 1e-6  # nothing before the sound (FFT rounding aside)
        assert np.allclose(heard[:, 100], 1.0, atol=1e-5)  # the direct sound comes through unchanged
        times = [decay_time(h[101:]) for h in heard]
        assert times[0] == pytest.approx(times[1], rel=0.1)  # one room
        rt60s.append(times[0])
        drrs += [-10 * np.log10(np.sum(h[101:] ** 2)) for h in heard]
    lo, hi = dynamic.ROOM_RT60_S
    assert lo * 0.9 < min(rt60s) and max(rt60s) < hi * 1.1 and max(rt60s) - min(rt60s) > 0.3
    lo, hi = dynamic.ROOM_DRR_DB
    assert lo - 0.1 < min(drrs) and max(drrs) < hi + 0.1 and max(drrs) - min(drrs) > 6
    assert len({round(d, 3) for d in drrs}) == len(drrs)  # each talker their own distance


def test_dynamic_mix_rooms_reverberates_a_share_and_keeps_the_sum(tmp_path):
    root = write_wsj_split(tmp_path, "tr", NAMES)
    plain = DynamicMix(root, "tr", segment=0.4, epoch_size=40, seed=0)
    off = DynamicMix(root, "tr", segment=0.4, epoch_size=40, seed=0, rooms=0.0)
    half = DynamicMix(root, "tr", segment=0.4, epoch_size=40, seed=0, rooms=0.5)
    changed = 0
    for i in range(len(plain)):
        for a, b in zip(plain[i], off[i], strict=True):
            assert torch.equal(a, b)  # rooms=0: byte-identical items
        mix, sources = half[i]
        torch.testing.assert_close(sources.sum(0), mix)
        levels = 10 * torch.log10(sources.pow(2).mean(1))
        torch.testing.assert_close(levels, 10 * torch.log10(plain[i][1].pow(2).mean(1)), atol=1e-3, rtol=0)
        changed += int(not torch.allclose(sources, plain[i][1], atol=1e-4))
    assert 10 < changed < 30  # about half, each levelled by the same rule
    for bad in (-0.1, 1.5):
        with pytest.raises(CourseError, match="rooms"):
            DynamicMix(root, "tr", segment=0.4, rooms=bad)
