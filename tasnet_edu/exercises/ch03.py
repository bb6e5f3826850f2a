"""Exercises of chapter 03 (SI-SNR and permutation-invariant training).

1. ``check_si_snr(fn)``: write SI-SNR from scratch (zero-mean, projection, ratio in dB).
2. ``check_snr_of_half(value)``: the plain SNR of a perfect estimate at half the volume.
3. ``check_best_permutation(fn)``: pick the best assignment of estimates to references from a pairwise matrix.
"""

from __future__ import annotations

import itertools
import math

import torch

from tasnet_edu import metrics


# --- 1. SI-SNR from scratch ---------------------------------------------------------------------------
def _solution_si_snr(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    est, ref = est - est.mean(), ref - ref.mean()
    target = (est @ ref) / (ref @ ref) * ref
    return 10 * torch.log10(target.pow(2).sum() / (est - target).pow(2).sum())


def check_si_snr(fn) -> None:
    """``fn(est (time,), ref (time,)) -> dB``: SI-SNR of one estimate, as ``tasnet_edu.metrics.si_snr``."""
    g = torch.Generator().manual_seed(0)
    ref = torch.randn(4000, generator=g)
    cases = {
        "a noisy estimate": ref + 0.3 * torch.randn(4000, generator=g),
        "a scaled estimate": 5 * ref + torch.randn(4000, generator=g),
        "an estimate with a DC offset": ref + 0.5 * torch.randn(4000, generator=g) + 2.0,
    }
    for name, est in cases.items():
        got, expected = float(fn(est, ref)), float(metrics.si_snr(est, ref))
        assert abs(got - expected) < 1e-3, (
            f"for {name}: got {got:.3f} dB, expected {expected:.3f} dB. Hint: remove both means first, then "
            "s_target = <est, ref> ref / ||ref||², e_noise = est - s_target, "
            "10 log10(||s_target||² / ||e_noise||²)."
        )
    print("Correct: projection, error, ratio — and it ignores the estimate's scale and offset.")


# --- 2. plain SNR of a quiet but perfect estimate --------------------------------------------------------
def _solution_snr_of_half() -> float:
    # SNR = 10 log10(||s||² / ||0.5 s - s||²) = 10 log10(1 / 0.25)
    return 10 * math.log10(4)


def check_snr_of_half(value) -> None:
    """Plain SNR 10 log10(||s||² / ||ŝ - s||²) in dB of ŝ = 0.5 · s (a perfect estimate at half volume)."""
    expected = _solution_snr_of_half()
    assert abs(float(value) - expected) < 0.01, (
        f"got {float(value):.3f} dB. Hint: ŝ - s = -0.5 s, so the error energy is a quarter of ||s||²."
    )
    print(f"Correct: only {expected:.2f} dB though only the volume is wrong; SI-SNR calls it perfect.")


# --- 3. best permutation ------------------------------------------------------------------------------
def _solution_best_permutation(pairwise: torch.Tensor) -> list[int]:
    n_src = pairwise.shape[0]
    return list(max(itertools.permutations(range(n_src)),
                    key=lambda p: sum(float(pairwise[p[j], j]) for j in range(n_src))))


def check_best_permutation(fn) -> None:
    """``fn(pairwise (n_src, n_src)) -> perm`` (list or tensor of n_src ints) for ONE utterance, where
    ``pairwise[i, j]`` is the SI-SNR of estimate i against reference j and ``perm[j]`` is the estimate you
    assign to reference j (the convention of ``metrics.pit_si_snr``)."""
    g = torch.Generator().manual_seed(0)
    for n_src in (2, 3, 3, 4):
        pairwise = 20 * torch.rand(n_src, n_src, generator=g) - 5
        expected = metrics.best_permutation(pairwise.unsqueeze(0))[0]
        got = torch.as_tensor(fn(pairwise.clone())).long().reshape(-1)
        best = float(pairwise[expected, torch.arange(n_src)].mean())
        assert got.shape == (n_src,) and sorted(got.tolist()) == list(range(n_src)), (
            f"return a permutation of 0 … {n_src - 1}, got {got.tolist()}"
        )
        score = float(pairwise[got, torch.arange(n_src)].mean())
        assert abs(score - best) < 1e-5, (
            f"perm {got.tolist()} scores {score:.2f} dB on average; {expected.tolist()} scores {best:.2f}. "
            "Hint: try every itertools.permutations(range(n_src)) and keep the one with the highest mean "
            "of pairwise[perm[j], j]."
        )
    print("Correct: uPIT picks, per utterance, the assignment with the best mean SI-SNR.")
