"""Training on one talker alone: the silence-aware SI-SNR, DynamicMix(single=…) and TrainConfig.single
(``tasnet-edu train --single``: test_cli.py)."""

import math

import pytest
import torch
from fakes import Toy, micro_config, write_wsj_split

from tasnet_edu import metrics, train
from tasnet_edu.data.dynamic import DynamicMix
from tasnet_edu.errors import CourseError

NAMES = [("011a010b_0.3_401o030n_-0.3.wav", 1.0), ("022c0205_1.2_401o030a_-1.2.wav", 0.5),
         ("033d0301_2.0_444o0301_-2.0.wav", 0.75)]


def lone_talker(seed=0, time=800):
    """``(talker (time,), sources (1, 2, time), mix (1, time))``: the second source is digital silence."""
    talker = torch.randn(time, generator=torch.Generator().manual_seed(seed))
    sources = torch.stack([talker, torch.zeros(time)])[None]
    return talker, sources, sources.sum(1)


def test_silent_reference_scores_the_estimate_below_the_mixture_with_finite_gradients():
    talker, sources, mix = lone_talker()
    quiet = 0.01 * torch.randn(talker.shape, generator=torch.Generator().manual_seed(1))  # ~40 dB below
    est = torch.stack([0.9 * talker, quiet])[None].requires_grad_()
    score = metrics.silence_aware_si_snr(est, sources, mix)
    score.sum().backward()
    assert torch.isfinite(score).all() and torch.isfinite(est.grad).all() and est.grad[0, 1].abs().sum() > 0
    expected = 10 * math.log10(mix.pow(2).sum() / (quiet.pow(2).sum() + 1e-3 * mix.pow(2).sum()))
    assert score[0, 1].item() == pytest.approx(expected, abs=1e-3)
    assert score[0, 1].item() < 30
    # a silent estimate of a silent reference: the soft threshold, max_db
    zero = torch.zeros_like(sources)
    for max_db in (30.0, 20.0):
        silent = metrics.silence_aware_si_snr(torch.stack([talker, zero[0, 1]])[None], sources, mix, max_db)
        assert silent[0, 1].item() == pytest.approx(max_db, abs=1e-3)
    # everything silent (no mixture either) stays finite too
    still = zero.clone().requires_grad_()
    metrics.silence_aware_si_snr(still, zero, zero.sum(1)).sum().backward()
    assert torch.isfinite(still.grad).all()


def test_active_references_score_plain_si_snr():
    g = torch.Generator().manual_seed(2)
    ref = torch.randn(3, 2, 600, generator=g)
    est = ref + 0.3 * torch.randn(ref.shape, generator=g)
    mix = ref.sum(1)
    torch.testing.assert_close(metrics.silence_aware_si_snr(est, ref, mix), metrics.si_snr(est, ref))
    loss, perm = metrics.pit_silence_aware_si_snr(est.flip(1), ref, mix)
    plain_loss, plain_perm = metrics.pit_si_snr(est.flip(1), ref)
    torch.testing.assert_close(loss, plain_loss)
    assert torch.equal(perm, plain_perm)
    with pytest.raises(CourseError, match="mix"):
        metrics.silence_aware_si_snr(est, ref, mix[:, :10])


def test_pit_gives_the_silent_reference_the_silent_output_in_float32():
    talker, sources, mix = lone_talker(seed=3)
    quiet = 1e-3 * torch.randn(talker.shape, generator=torch.Generator().manual_seed(4))
    for est in (torch.stack([quiet, talker])[None], torch.stack([talker, quiet])[None]):
        est = est.double().requires_grad_()
        loss, perm = metrics.pit_silence_aware_si_snr(est, sources, mix)
        assert est[0, perm[0, 1]].abs().max() < 0.01  # the quiet output goes with the silent reference
        assert loss.dtype == torch.float64 and torch.isfinite(loss)
        loss.backward()
        assert torch.isfinite(est.grad).all()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        est = torch.stack([talker, quiet])[None].bfloat16()
        loss, _ = metrics.pit_silence_aware_si_snr(est, sources, mix)
    assert loss.dtype == torch.float32 and loss.item() < -30  # the talker well above 30 dB, the silence at 30


def test_dynamic_mix_single_gives_a_lone_first_talker(tmp_path):
    root = write_wsj_split(tmp_path, "tr", NAMES)
    plain = DynamicMix(root, "tr", segment=0.4, epoch_size=12, seed=0)
    off = DynamicMix(root, "tr", segment=0.4, epoch_size=12, seed=0, single=0.0)
    alone = DynamicMix(root, "tr", segment=0.4, epoch_size=12, seed=0, single=1.0, level="active")
    plain_active = DynamicMix(root, "tr", segment=0.4, epoch_size=12, seed=0, level="active")
    half = DynamicMix(root, "tr", segment=0.4, epoch_size=40, seed=0, single=0.5)
    for i in range(len(plain)):
        for a, b in zip(plain[i], off[i], strict=True):
            assert torch.equal(a, b)  # single=0: byte-identical items
        mix, sources = alone[i]
        assert torch.isfinite(sources).all() and not sources[1].any()
        assert torch.equal(mix, sources[0]) and torch.equal(sources[0], plain_active[i][1][0])
    lone = sum(not half[i][1][1].any() for i in range(len(half)))
    assert 10 < lone < 30
    for bad in (-0.1, 1.5):
        with pytest.raises(CourseError, match="single"):
            DynamicMix(root, "tr", segment=0.4, single=bad)


def test_single_switches_the_training_loss_and_a_step_is_finite():
    toy = Toy(8, time=400)
    toy.sources[::2, 1] = 0  # half the items: the first talker alone
    mix, sources = (torch.stack(x) for x in zip(*(toy[i] for i in range(4)), strict=True))
    trainer = train.Trainer(micro_config(single=0.5), toy, None, progress=False)
    assert trainer.objective.silence_aware
    loss = trainer.train_step(mix, sources)
    assert math.isfinite(loss)
    plain = train.Trainer(micro_config(), Toy(8, time=400), None, progress=False)
    assert not plain.objective.silence_aware
    est, ref, active_mix = torch.randn(2, 2, 400), torch.randn(2, 2, 400), torch.randn(2, 400)
    torch.testing.assert_close(train.silence_aware_loss(est, ref, active_mix), train.si_snr_loss(est, ref))
    torch.testing.assert_close(train.silence_aware_loss(est, ref, active_mix, pit=False),
                               train.si_snr_loss(est, ref, pit=False))
