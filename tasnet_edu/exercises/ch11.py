"""Exercises of chapter 11 (evaluation).

1. ``check_mean_interval(fn)``: the mean and the half-width of its 95 % confidence interval (Student t).
2. ``check_paired_difference(fn)``: the same for the per-utterance difference of two systems — the fair way
   to ask "is A better than B on this test set?".
3. ``check_bss_ratios(fn)``: SDR, SIR and SAR from BSS-Eval's three parts of an estimate: which talker leaks,
   and how much of the output is no talker at all.
"""

from __future__ import annotations

import math

import torch

from tasnet_edu import metrics
from tasnet_edu.evaluate import mean_interval


def _scores(seed: int) -> tuple[list[float], list[float]]:
    """Two systems' SI-SNRi on the same 40 utterances: B ≈ A + 0.5 dB, both varying a lot per utterance."""
    g = torch.Generator().manual_seed(seed)
    a = 8 + 3 * torch.randn(40, generator=g, dtype=torch.float64)
    b = a + 0.5 + 0.3 * torch.randn(40, generator=g, dtype=torch.float64)
    return a.tolist(), b.tolist()


def _close(got, expected, what: str, hint: str) -> None:
    got = tuple(float(v) for v in got)
    assert len(got) == 2, f"return two numbers (mean, half-width), got {len(got)}"
    assert all(math.isclose(g, e, rel_tol=1e-6, abs_tol=1e-6) for g, e in zip(got, expected, strict=True)), (
        f"{what}: got ({got[0]:.4f}, {got[1]:.4f}), expected ({expected[0]:.4f}, {expected[1]:.4f}). "
        f"Hint: {hint}")


# --- 1. mean ± 95 % interval -----------------------------------------------------------------------------
def _solution_mean_interval(values: list[float]) -> tuple[float, float]:
    from scipy import stats

    x = torch.tensor(values, dtype=torch.float64)
    return float(x.mean()), float(stats.t.ppf(0.975, len(x) - 1) * x.std() / math.sqrt(len(x)))


def check_mean_interval(fn) -> None:
    """``fn(values: list[float]) -> (mean, half_width)``: half-width = t(0.975, n − 1) · s / √n with ``s`` the
    sample standard deviation (``scipy.stats.t.ppf``)."""
    for seed in range(3):
        values = _scores(seed)[0]
        _close(fn(values), mean_interval(values), "mean ± half-width",
               "use the sample standard deviation (n − 1 in the denominator) and the t quantile "
               "scipy.stats.t.ppf(0.975, n - 1), not 1.96, divided by sqrt(n).")
    print("Correct: with 40 utterances the t quantile is 2.02, a little wider than the normal 1.96.")


# --- 2. paired difference ------------------------------------------------------------------------------
def _solution_paired_difference(a: list[float], b: list[float]) -> tuple[float, float]:
    return _solution_mean_interval([y - x for x, y in zip(a, b, strict=True)])


def check_paired_difference(fn) -> None:
    """``fn(a, b) -> (mean, half_width)`` of ``b − a`` utterance by utterance (the same utterances, in the
    same order, scored by two systems)."""
    for seed in range(3):
        a, b = _scores(seed)
        expected = mean_interval([y - x for x, y in zip(a, b, strict=True)])
        _close(fn(a, b), expected, "paired difference b − a",
               "subtract utterance by utterance first, then take the mean and interval of the differences; "
               "do not subtract the two means and combine their intervals.")
    a, b = _scores(0)
    print(f"Correct: the paired interval (±{expected[1]:.2f} dB) is much narrower than either system's own "
          f"(±{mean_interval(a)[1]:.2f} dB): most of the spread is utterance difficulty, shared by both.")


# --- 3. SDR, SIR and SAR from BSS-Eval's three parts ---------------------------------------------------
def _solution_bss_ratios(target, interf, artif):
    def db(num, den):
        return 10 * torch.log10(num.pow(2).sum(-1) / den.pow(2).sum(-1))
    return db(target, interf + artif), db(target, interf), db(target + interf, artif)


def check_bss_ratios(fn) -> None:
    """``fn(s_target, e_interf, e_artif) -> (sdr, sir, sar)``, each ``(n_src, time)`` → ``(n_src,)`` in dB:
    BSS-Eval's three ratios from the three parts of each estimate (``metrics.bss_decompose``)."""
    g = torch.Generator().manual_seed(11)
    ref = torch.randn(2, 4000, generator=g, dtype=torch.float64)
    for leak, noise in ((0.1, 0.01), (0.3, 0.2), (0.02, 0.3)):
        est = ref + leak * ref.flip(0) + noise * torch.randn(2, 4000, generator=g, dtype=torch.float64)
        got = [torch.as_tensor(x, dtype=torch.float64) for x in fn(*metrics.bss_decompose(est, ref))]
        expected = metrics.bss_eval(est, ref)
        for name, a, b in zip(("SDR", "SIR", "SAR"), got, expected, strict=True):
            assert torch.allclose(a, b.double(), atol=1e-3), (
                f"{name} = {a.tolist()}, expected {b.tolist()} (leak {leak}, noise {noise}). Hint: each "
                "ratio is 10 log10 of an energy over another; SDR counts interference and artifacts as "
                "error, SIR only the interference, SAR only the artifacts (over target + interference).")
    print("Correct: SIR says how much of the other talker leaks in, SAR how much of the output is no talker.")
