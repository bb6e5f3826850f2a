"""STFT round trip and the ideal masks of the Conv-TasNet paper."""

import pytest
import torch

from tasnet_edu import masks, metrics
from tasnet_edu.errors import CourseError

T = 8000


def _sources(n: int = 2, time: int = T, seed: int = 0) -> torch.Tensor:
    """``(n, time)`` harmonic tones with different pitches and on/off envelopes (partly disjoint in T-F)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(time) / 8000
    out = []
    for i in range(n):
        f0 = 110 + 70 * i + 20 * torch.rand(1, generator=g)
        tone = sum(torch.sin(2 * torch.pi * k * f0 * t) / k for k in range(1, 8))
        envelope = (torch.sin(2 * torch.pi * (1.5 + i) * t + i) > -0.3).float()
        out.append(tone * envelope + 0.01 * torch.randn(time, generator=g))
    return torch.stack(out)


@pytest.mark.parametrize("window", ["hann", "sqrt_hann"])
@pytest.mark.parametrize("n_fft,hop_length", [(256, 64), (64, 16), (512, 128)])
def test_istft_inverts_stft(window, n_fft, hop_length):
    x = torch.randn(3, 2, 4001)
    spec = masks.stft(x, n_fft, hop_length, window)
    assert spec.shape == (3, 2, n_fft // 2 + 1, 4001 // hop_length + 1) and spec.is_complex()
    assert torch.allclose(masks.istft(spec, n_fft, hop_length, length=4001, window=window), x, atol=1e-5)


def test_stft_refuses_bad_input():
    with pytest.raises(CourseError, match="too short"):
        masks.stft(torch.randn(100), n_fft=256)
    with pytest.raises(CourseError, match="NaN"):
        masks.stft(torch.full((1000,), float("nan")))
    with pytest.raises(CourseError, match="window"):
        masks.stft(torch.randn(1000), window="kaiser")


def test_the_hop_has_one_name():
    """``hop_length``, librosa's name, positional third or by keyword; the paper's 64 samples by default."""
    x = torch.randn(4000)
    assert masks.stft(x).shape == (129, 4000 // 64 + 1)
    assert masks.stft(x, hop_length=80).shape == masks.stft(x, 256, 80).shape == (129, 4000 // 80 + 1)
    with pytest.raises(TypeError, match="hop"):
        masks.stft(x, hop=80)


def test_masks_follow_the_paper_definitions():
    spec = masks.stft(_sources(3))
    mag = spec.abs()
    irm, wfm = masks.ideal_ratio_mask(spec), masks.wiener_filter_mask(spec)
    ibm = masks.ideal_binary_mask(spec)
    total = mag.sum(0)
    loud = total > 1e-3
    assert torch.allclose(irm[:, loud], (mag / total)[:, loud], atol=1e-5)
    assert torch.allclose(wfm[:, loud], (mag**2 / (mag**2).sum(0))[:, loud], atol=1e-5)
    for m in (irm, wfm, ibm):
        assert m.shape == spec.shape and m.min() >= 0 and m.max() <= 1
        assert torch.allclose(m.sum(0)[loud], torch.ones(()), atol=1e-5)
    assert set(ibm.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(ibm.argmax(0), mag.argmax(0))


def test_masks_are_zero_not_nan_in_silent_bins():
    spec = masks.stft(torch.zeros(2, 1000))
    for fn in (masks.ideal_ratio_mask, masks.wiener_filter_mask, masks.ideal_binary_mask):
        assert torch.isfinite(fn(spec)).all()


@pytest.mark.parametrize("mask", ["ibm", "irm", "wfm"])
def test_oracle_separates_and_true_phase_helps(mask):
    sources = _sources()
    mix = sources.sum(0)
    est = masks.oracle_separate(mix, sources, mask=mask)
    assert est.shape == sources.shape
    gain = metrics.si_snri(est, sources, mix)
    assert (gain > 5).all()
    true_phase = masks.oracle_separate(mix, sources, mask=mask, phase="true")
    assert (metrics.si_snr(true_phase, sources) > metrics.si_snr(est, sources)).all()


def test_oracle_with_one_dominant_source_is_near_perfect():
    sources = torch.stack([_sources(1)[0], torch.zeros(T)])
    est = masks.oracle_separate(sources.sum(0), sources, mask="irm")
    assert metrics.si_snr(est[0], sources[0]) > 60
    assert est[1].abs().max() < 1e-4


def test_oracle_is_batched():
    sources = torch.stack([_sources(seed=1), _sources(seed=2)])
    est = masks.oracle_separate(sources.sum(1), sources, mask="wfm", n_fft=128, hop_length=32)
    assert est.shape == (2, 2, T)
    single = masks.oracle_separate(sources[1].sum(0), sources[1], mask="wfm", n_fft=128, hop_length=32)
    assert torch.allclose(est[1], single, atol=1e-5)


def test_oracle_input_checks():
    sources = _sources()
    with pytest.raises(CourseError, match=r"\(2, 8000\).*\(7999,\)"):
        masks.oracle_separate(sources.sum(0)[:-1], sources)
    with pytest.raises(CourseError, match="mask must be"):
        masks.oracle_separate(sources.sum(0), sources, mask="cirm")
    with pytest.raises(CourseError, match="phase must be"):
        masks.oracle_separate(sources.sum(0), sources, phase="griffin-lim")
