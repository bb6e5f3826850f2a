"""STOI, PESQ and DNSMOS against the packages they wrap, called directly; and the missing-extra message.

The reference checks skip, with the reason, where the ``metrics`` extra is not installed (pesq builds from
source with a C compiler). Our wrappers add the tensor shapes, the resampling and the level rule, so the
checks compare against the packages given the same signal by hand.
"""

import sys

import numpy as np
import pytest
import torch

from tasnet_edu import audio, metrics, perceptual
from tasnet_edu.data import load_sample_mixture
from tasnet_edu.errors import CourseError
from tasnet_edu.masks import oracle_separate


@pytest.fixture(scope="module")
def signals():
    """Course sample mixture 3 (2.3 s at 8 kHz): its sources, the IRM's estimates and the mixture itself."""
    mix, sources = load_sample_mixture(3)
    return sources, oracle_separate(mix, sources, mask="irm"), mix


def test_stoi_matches_pystoi(signals):
    pystoi = pytest.importorskip("pystoi", reason="the metrics extra (pystoi) is not installed")
    sources, irm, mix = signals
    for extended in (False, True):
        for est in (irm, torch.stack([mix, mix])):
            ours = metrics.stoi(est, sources, 8000, extended=extended)
            reference = [pystoi.stoi(sources[k].double().numpy(), est[k].double().numpy(), 8000,
                                     extended=extended) for k in range(2)]
            assert ours.shape == (2,)
            np.testing.assert_allclose(ours.numpy(), reference, atol=1e-6)
    assert metrics.stoi(irm[None], sources[None], 8000).shape == (1, 2)  # any leading shape
    assert (metrics.stoi(irm, sources, 8000) > metrics.stoi(torch.stack([mix, mix]), sources, 8000)).all()
    assert metrics.stoi(3 * irm, sources, 8000).numpy() == pytest.approx(
        metrics.stoi(irm, sources, 8000).numpy(), abs=1e-6)  # the gain of the estimate does not matter


def test_pesq_matches_the_itu_code_narrow_band(signals):
    pesq = pytest.importorskip("pesq", reason="the metrics extra (pesq: built with a C compiler) is not "
                                              "installed")
    sources, irm, mix = signals
    for est in (irm, torch.stack([mix, mix])):
        ours = metrics.pesq(est, sources, 8000)
        reference = [pesq.pesq(8000, sources[k].numpy(), est[k].numpy(), "nb") for k in range(2)]
        np.testing.assert_allclose(ours.numpy(), reference, atol=1e-4)
    assert (metrics.pesq(irm, sources, 8000) > metrics.pesq(torch.stack([mix, mix]), sources, 8000) + 1).all()


def test_pesq_at_another_rate_is_narrow_band_at_8_khz(signals):
    pesq = pytest.importorskip("pesq", reason="the metrics extra (pesq: built with a C compiler) is not "
                                              "installed")
    sources, irm, _ = signals
    up = [torch.from_numpy(audio.resample(x.numpy(), 8000, 16000)) for x in (irm, sources)]
    ours = metrics.pesq(up[0], up[1], 16000)
    back = [audio.resample(x.numpy(), 16000, 8000) for x in up]
    reference = [pesq.pesq(8000, back[1][k], back[0][k], "nb") for k in range(2)]
    np.testing.assert_allclose(ours.numpy(), reference, atol=1e-4)


def test_pesq_gives_nan_for_silence_instead_of_failing(signals):
    pytest.importorskip("pesq", reason="the metrics extra (pesq) is not installed")
    sources, irm, _ = signals
    out = metrics.pesq(torch.stack([irm[0], torch.zeros_like(irm[1])]), sources, 8000)
    assert np.isfinite(out[0].item()) and np.isnan(out[1].item())


def test_dnsmos_matches_speechmos_on_16_khz_input(signals):
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    speechmos = pytest.importorskip("speechmos.dnsmos", reason="the metrics extra (speechmos) is missing")
    sources, irm, mix = signals
    wav = torch.stack([mix, irm[0]])
    ours = metrics.dnsmos(wav, 8000)
    assert isinstance(ours, perceptual.DNSMOS) and ours.ovrl.shape == (2,)
    for k in range(2):
        # resampled by hand (librosa, soxr_hq), as the wrapper does; 2.3 s is repeated to 9.4 s: one window
        row = audio.resample(wav[k].numpy(), 8000, 16000)
        reference = speechmos.run(row, 16000)
        for field, key in (("sig", "sig_mos"), ("bak", "bak_mos"), ("ovrl", "ovrl_mos")):
            assert getattr(ours, field)[k].item() == pytest.approx(reference[key], abs=1e-4)
    # a signal louder than full scale is scaled to a peak of 1 (speechmos refuses it as it is)
    peak_one = mix / mix.abs().max()
    assert metrics.dnsmos(4 * peak_one, 8000).ovrl.item() == pytest.approx(
        metrics.dnsmos(peak_one, 8000).ovrl.item(), abs=1e-4)


@pytest.mark.parametrize(("score", "module"), [("stoi", "pystoi"), ("pesq", "pesq"), ("dnsmos", "speechmos"),
                                               ("dnsmos", "onnxruntime")])
def test_a_missing_package_is_one_line_naming_the_extra(signals, monkeypatch, score, module):
    if module == "onnxruntime":  # the package speechmos needs: that case only shows where speechmos is there
        pytest.importorskip("speechmos", reason="the metrics extra (speechmos) is missing")
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "speechmos.dnsmos", raising=False)
    sources, irm, _ = signals
    call = {"stoi": lambda: metrics.stoi(irm, sources, 8000),
            "pesq": lambda: metrics.pesq(irm, sources, 8000),
            "dnsmos": lambda: metrics.dnsmos(irm, 8000)}[score]
    with pytest.raises(CourseError) as err:
        call()
    message = str(err.value)
    assert message == f"{score} needs the package {module!r}, which is not installed: " \
                      'pip install "tasnet-edu[metrics]"'
    assert err.value.__cause__ is None and err.value.__suppress_context__  # no chained traceback
    assert not perceptual.available(score)


def test_input_checks():
    with pytest.raises(CourseError, match=r"same shape.*\(2, 8000\).*\(2, 7999\)"):
        perceptual.stoi(torch.randn(2, 8000), torch.randn(2, 7999), 8000)
    with pytest.raises(CourseError, match="NaN"):
        perceptual.dnsmos(torch.full((8000,), float("nan")), 8000)
    with pytest.raises(CourseError, match="sample_rate"):
        perceptual.pesq(torch.randn(8000), torch.randn(8000), 0)
