"""SI-SNR, BSS-Eval SDR (against mir_eval), improvements, and permutation-invariant training."""

import itertools
import warnings

import numpy as np
import pytest
import torch

from tasnet_edu import metrics
from tasnet_edu.errors import CourseError

T = 8000


def _speechlike(n: int, time: int = T, seed: int = 0) -> torch.Tensor:
    """``(n, time)`` coloured noise with slow on/off envelopes: enough like speech for the metrics."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, time, generator=g)
    x = torch.nn.functional.conv1d(x.unsqueeze(1), torch.randn(1, 1, 25, generator=g), padding=12)[:, 0]
    phase = torch.rand(n, 1, generator=g) * 6
    envelope = torch.sin(torch.linspace(0, 12, time) + phase).abs()
    return x * envelope


def _mir_eval_sdr(est: torch.Tensor, ref: torch.Tensor) -> np.ndarray:
    return _mir_eval(est, ref)[0]


def _mir_eval(est: torch.Tensor, ref: torch.Tensor) -> np.ndarray:
    """mir_eval's SDR, SIR, SAR ``(3, n_src)`` in the given order."""
    from mir_eval.separation import bss_eval_sources

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bss_eval_sources is deprecated in mir_eval 0.8
        return np.stack(bss_eval_sources(ref.double().numpy(), est.double().numpy(),
                                         compute_permutation=False)[:3])


# ---------------------------------------------------------------- SI-SNR


def test_si_snr_matches_definition_and_known_value():
    ref = _speechlike(1)[0]
    noise = _speechlike(1, seed=1)[0]
    noise = noise - (noise - noise.mean()) @ (ref - ref.mean()) / (ref - ref.mean()).pow(2).sum() * ref
    noise = noise - noise.mean()
    noise = noise * (ref - ref.mean()).norm() / noise.norm() / 10  # orthogonal to ref, 20 dB below it
    assert metrics.si_snr(ref + noise, ref).item() == pytest.approx(20.0, abs=1e-3)


def test_si_snr_is_scale_and_offset_invariant_but_snr_is_not():
    ref = _speechlike(1)[0]
    est = ref + 0.3 * _speechlike(1, seed=3)[0]
    base = metrics.si_snr(est, ref)
    assert metrics.si_snr(3 * est, ref).item() == pytest.approx(base.item(), abs=1e-4)
    assert metrics.si_snr(0.01 * est + 0.5, ref).item() == pytest.approx(base.item(), abs=1e-4)
    assert metrics.si_snr(-est, ref).item() == pytest.approx(base.item(), abs=1e-4)  # any non-zero gain

    def snr(e, r):
        return 10 * torch.log10(r.pow(2).sum() / (e - r).pow(2).sum())

    assert abs(snr(3 * est, ref) - snr(est, ref)) > 5  # plain SNR punishes a mere change of loudness


def test_si_snr_batched_shapes_and_per_source_order():
    ref = _speechlike(6).reshape(3, 2, T)
    est = ref + 0.1 * _speechlike(6, seed=1).reshape(3, 2, T)
    out = metrics.si_snr(est, ref)
    assert out.shape == (3, 2)
    assert torch.allclose(out[1, 0], metrics.si_snr(est[1, 0], ref[1, 0]))
    assert metrics.si_snr(est[0, 0], ref[0, 0]).shape == ()


def test_si_snr_finite_for_silent_signals():
    ref = _speechlike(2)
    zeros = torch.zeros_like(ref)
    assert torch.isfinite(metrics.si_snr(zeros, ref)).all()
    assert torch.isfinite(metrics.si_snr(ref, zeros)).all()
    assert torch.isfinite(metrics.si_snr(zeros, zeros)).all()
    mix = torch.zeros(T)
    assert torch.isfinite(metrics.si_snri(ref, ref, mix)).all()


def test_si_snr_gradient_flows_and_is_finite_on_silence():
    ref = _speechlike(2)
    est = (ref + 0.5 * _speechlike(2, seed=4)).requires_grad_()
    metrics.si_snr(est, ref).sum().backward()
    assert est.grad is not None and est.grad.abs().sum() > 0
    silent = torch.zeros(2, T, requires_grad=True)
    metrics.si_snr(silent, ref).sum().backward()
    assert torch.isfinite(silent.grad).all()


def test_si_snr_is_fp32_under_bf16_autocast():
    ref = _speechlike(2)
    est = ref + 0.01 * _speechlike(2, seed=5)  # 40 dB: too fine for bf16 arithmetic
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = metrics.si_snr(est.bfloat16(), ref.bfloat16())
        loss, _ = metrics.pit_si_snr(est.bfloat16().unsqueeze(0), ref.bfloat16().unsqueeze(0))
    assert out.dtype == torch.float32 and loss.dtype == torch.float32
    assert torch.allclose(out, metrics.si_snr(est.bfloat16().float(), ref.bfloat16().float()))
    assert loss.item() == pytest.approx(-out.mean().item(), abs=1e-4)


def test_si_snri_is_improvement_over_mixture():
    ref = _speechlike(2)
    mix = ref.sum(0)
    est = ref + 0.1 * _speechlike(2, seed=6)
    expected = metrics.si_snr(est, ref) - metrics.si_snr(torch.stack([mix, mix]), ref)
    assert torch.allclose(metrics.si_snri(est, ref, mix), expected)
    assert torch.allclose(metrics.si_snri(torch.stack([mix, mix]), ref, mix), torch.zeros(2), atol=1e-5)


@pytest.mark.parametrize("fn", [metrics.si_snr, metrics.sdr])
def test_shape_mismatch_names_both_shapes(fn):
    with pytest.raises(CourseError, match=r"\(2, 8000\).*\(2, 7999\)"):
        fn(torch.randn(2, T), torch.randn(2, T - 1))


@pytest.mark.parametrize("fn", [metrics.si_snr, metrics.sdr])
def test_nan_input_is_refused(fn):
    est = torch.randn(2, T)
    est[1, 10] = float("nan")
    with pytest.raises(CourseError, match="est has 1 NaN"):
        fn(est, torch.randn(2, T))


def test_mixture_of_wrong_shape_is_refused():
    ref = torch.randn(2, T)
    with pytest.raises(CourseError, match=r"mix.*\(8000,\).*\(2, 8000\)"):
        metrics.si_snri(ref, ref, torch.randn(2, T))


# ---------------------------------------------------------------- SDR


def test_sdr_matches_mir_eval_on_synthetic_sources():
    ref = _speechlike(2, seed=7).double()
    est = torch.stack([ref[0] + 0.3 * ref[1], ref[1] + 0.1 * torch.roll(ref[0], 7)])
    est = est + 0.02 * torch.randn(2, T, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    np.testing.assert_allclose(metrics.sdr(est, ref).numpy(), _mir_eval_sdr(est, ref), atol=0.05)


@pytest.mark.parametrize("index", [0, 3])
def test_sdr_matches_mir_eval_on_course_mixtures(index):
    from tasnet_edu.data import load_sample_mixture
    from tasnet_edu.masks import oracle_separate

    mix, sources = load_sample_mixture(index)
    est, unprocessed = oracle_separate(mix, sources, mask="irm"), torch.stack([mix, mix])
    reference_est, reference_mix = _mir_eval_sdr(est, sources), _mir_eval_sdr(unprocessed, sources)
    np.testing.assert_allclose(metrics.sdr(est, sources).numpy(), reference_est, atol=0.05)
    np.testing.assert_allclose(metrics.sdr(unprocessed, sources).numpy(), reference_mix, atol=0.05)
    gain = reference_est - reference_mix
    np.testing.assert_allclose(metrics.sdri(est, sources, mix).numpy(), gain, atol=0.05)


def test_sdr_counts_filtering_as_signal_unlike_si_snr():
    ref = _speechlike(1, seed=8)[0]
    # A causal 3-tap echo of the reference: BSS-Eval's 512-tap filters explain it completely.
    delayed = [torch.nn.functional.pad(ref, (d, 0))[: len(ref)] for d in (0, 1, 2)]
    filtered = 0.5 * delayed[0] + 0.3 * delayed[1] + 0.2 * delayed[2]
    assert metrics.sdr(filtered, ref) > 40
    assert metrics.si_snr(filtered, ref) < metrics.sdr(filtered, ref) - 20


def test_sdr_batched_and_silent():
    ref = _speechlike(4, seed=9).reshape(2, 2, T)
    est = ref + 0.2 * _speechlike(4, seed=10).reshape(2, 2, T)
    out = metrics.sdr(est, ref)
    assert out.shape == (2, 2)
    assert torch.allclose(out[1], metrics.sdr(est[1], ref[1]))
    assert torch.isfinite(metrics.sdr(torch.zeros_like(est), ref)).all()
    assert torch.isfinite(metrics.sdr(est, torch.zeros_like(ref))).all()


def test_sdri_on_mixture_is_zero():
    ref = _speechlike(2, seed=11)
    mix = ref.sum(0)
    assert torch.allclose(metrics.sdri(torch.stack([mix, mix]), ref, mix), torch.zeros(2), atol=1e-4)


def test_sdr_refuses_too_short_signals():
    with pytest.raises(CourseError, match="512 samples"):
        metrics.sdr(torch.randn(2, 100), torch.randn(2, 100))


# ---------------------------------------------------------------- SIR and SAR


@pytest.mark.parametrize("n_src", [2, 3])
def test_sir_sar_match_mir_eval_on_synthetic_sources(n_src):
    ref = _speechlike(n_src, seed=20 + n_src).double()
    g = torch.Generator().manual_seed(n_src)
    # each estimate: its source, some of the others (interference), a little noise and a clip (artifacts)
    est = ref + 0.2 * ref.roll(1, 0) + 0.05 * torch.randn(ref.shape, generator=g, dtype=torch.float64)
    est = est.clamp(-1.5, 1.5)
    ours = np.stack([x.numpy() for x in metrics.bss_eval(est, ref)])
    np.testing.assert_allclose(ours, _mir_eval(est, ref), atol=0.05)
    np.testing.assert_allclose(metrics.sir(est, ref).numpy(), ours[1])
    np.testing.assert_allclose(metrics.sar(est, ref).numpy(), ours[2])


@pytest.mark.parametrize("index", [0, 3])
def test_sir_sar_match_mir_eval_on_course_mixtures(index):
    from tasnet_edu.data import load_sample_mixture
    from tasnet_edu.masks import oracle_separate

    mix, sources = load_sample_mixture(index)
    for est in (oracle_separate(mix, sources, mask="irm"), oracle_separate(mix, sources, mask="ibm")):
        ours = np.stack([x.numpy() for x in metrics.bss_eval(est, sources)])
        np.testing.assert_allclose(ours, _mir_eval(est, sources), atol=0.05)
        np.testing.assert_allclose(ours[0], metrics.sdr(est, sources).numpy(), atol=1e-6)  # one SDR


def test_sir_measures_interference_and_sar_artifacts():
    ref = _speechlike(2, seed=30)
    leak = ref + 0.1 * ref.flip(0)  # the other talker 20 dB down, nothing else
    noise = torch.randn(2, T, generator=torch.Generator().manual_seed(31))
    noisy = ref + 0.1 * noise * ref.norm(dim=-1, keepdim=True) / noise.norm(dim=-1, keepdim=True)  # -20 dB
    assert (metrics.sir(leak, ref) - 20).abs().max() < 1 and (metrics.sar(leak, ref) > 60).all()
    # 512 taps of the other talker explain ~512/8000 of the noise's energy (12 dB less): SIR ≈ 32 dB, not ∞
    assert (metrics.sir(noisy, ref) > 28).all() and (metrics.sar(noisy, ref) - 20).abs().max() < 1


def test_bss_eval_batched_shapes_and_checks():
    ref = _speechlike(4, seed=32).reshape(2, 2, T)
    est = ref + 0.3 * _speechlike(4, seed=33).reshape(2, 2, T)
    sdr, sir, sar = metrics.bss_eval(est, ref)
    assert sdr.shape == sir.shape == sar.shape == (2, 2)
    assert torch.allclose(sir[1], metrics.sir(est[1], ref[1]))
    assert all(torch.isfinite(x).all() for x in metrics.bss_eval(torch.zeros_like(est), ref))
    with pytest.raises(CourseError, match=r"\(\.\.\., n_src, time\)"):
        metrics.bss_eval(est[0, 0], ref[0, 0])
    with pytest.raises(CourseError, match="512 samples"):
        metrics.sir(torch.randn(2, 100), torch.randn(2, 100))


# ---------------------------------------------------------------- PIT


def _planted(n_src: int, batch: int = 5, seed: int = 0):
    """Estimates = references shuffled by a known permutation per item, plus a little noise."""
    g = torch.Generator().manual_seed(seed)
    ref = _speechlike(batch * n_src, time=2000, seed=seed).reshape(batch, n_src, 2000)
    perm = torch.stack([torch.randperm(n_src, generator=g) for _ in range(batch)])
    est = torch.empty_like(ref)
    est[torch.arange(batch)[:, None], perm] = ref  # reference j sits at estimate slot perm[b, j]
    return est + 0.05 * torch.randn(est.shape, generator=g), ref, perm


@pytest.mark.parametrize("n_src", [2, 3, 4])
def test_pit_finds_the_planted_permutation(n_src):
    est, ref, planted = _planted(n_src, seed=n_src)
    loss, perm = metrics.pit_si_snr(est, ref)
    assert perm.dtype == torch.long and perm.shape == (5, n_src)
    assert torch.equal(perm, planted)
    reordered = metrics.apply_permutation(est, perm)
    assert loss.item() == pytest.approx(-metrics.si_snr(reordered, ref).mean().item(), abs=1e-4)


@pytest.mark.parametrize("n_src", [2, 4])
def test_pit_si_snri_scores_the_planted_order(n_src):
    """One implementation for training's validation and ``evaluate``: the SI-SNRi of the estimates in the
    order ``pit_si_snr`` picks, exactly; in bf16 the same numbers as the float32 estimates."""
    est, ref, planted = _planted(n_src, seed=n_src)
    mix = ref.sum(1)
    si_snri, perm = metrics.pit_si_snri(est, ref, mix)
    assert torch.equal(perm, planted) and si_snri.shape == (5, n_src)
    expected = metrics.si_snri(metrics.apply_permutation(est, metrics.pit_si_snr(est, ref)[1]), ref, mix)
    assert torch.equal(si_snri, expected)
    half = est.bfloat16()
    assert torch.equal(metrics.pit_si_snri(half, ref, mix)[0], metrics.pit_si_snri(half.float(), ref, mix)[0])


def test_enumeration_and_hungarian_agree():
    pairwise = torch.randn(64, 3, 3, generator=torch.Generator().manual_seed(0))
    enumerated = metrics._best_permutation_enumerated(pairwise)
    hungarian = metrics._best_permutation_hungarian(pairwise)
    assert torch.equal(enumerated, hungarian)


def test_pit_loss_is_the_best_over_all_permutations():
    est, ref = _speechlike(6, seed=12).reshape(2, 3, T), _speechlike(6, seed=13).reshape(2, 3, T)
    loss, _ = metrics.pit_si_snr(est, ref)
    per_perm = [metrics.si_snr(est[:, list(p)], ref).mean(-1) for p in itertools.permutations(range(3))]
    assert loss.item() == pytest.approx(-torch.stack(per_perm).max(0).values.mean().item(), abs=1e-5)


def test_pit_gradient_flows_through_the_chosen_pairs():
    est, ref, _ = _planted(2)
    est.requires_grad_()
    loss, _ = metrics.pit_si_snr(est, ref)
    loss.backward()
    assert torch.isfinite(est.grad).all() and est.grad.abs().sum() > 0


def test_pairwise_matrix_entries():
    est, ref = _speechlike(4, seed=14).reshape(2, 2, T), _speechlike(4, seed=15).reshape(2, 2, T)
    pairwise = metrics.pairwise_si_snr(est, ref)
    assert pairwise.shape == (2, 2, 2)
    assert torch.allclose(pairwise[1, 0, 1], metrics.si_snr(est[1, 0], ref[1, 1]))


def test_pit_input_checks():
    with pytest.raises(CourseError, match=r"\(batch, n_src, time\)"):
        metrics.pit_si_snr(torch.randn(2, T), torch.randn(2, T))
    with pytest.raises(CourseError, match="perm must be"):
        metrics.apply_permutation(torch.randn(2, 2, T), torch.zeros(2, 3, dtype=torch.long))
