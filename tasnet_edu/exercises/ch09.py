"""Exercises of chapter 09 (training on a CPU).

1. ``check_fixed_order_loss(fn)``: the loss without PIT — estimate k scored against reference k.

(Choosing the permutation, per frame or per utterance, is chapter 03's exercise 3.)
"""

from __future__ import annotations

import torch

from tasnet_edu.metrics import si_snr
from tasnet_edu.train import fixed_order_si_snr_loss


def _example(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Estimates ``(3, 2, 800)`` that match the references in a different order in each utterance."""
    g = torch.Generator().manual_seed(seed)
    ref = torch.randn(3, 2, 800, generator=g)
    est = ref + 0.3 * torch.randn(3, 2, 800, generator=g)
    est[1] = est[1].flip(0)  # utterance 1: the model put the speakers the other way round
    return est, ref


def _check_loss(fn, expected_fn, hint: str) -> None:
    for seed in range(3):
        est, ref = _example(seed)
        got = torch.as_tensor(fn(est, ref))
        expected = expected_fn(est, ref)
        assert got.numel() == 1, f"return one number (a scalar tensor), got shape {tuple(got.shape)}"
        assert torch.allclose(got.float(), expected, atol=1e-3), (
            f"got {float(got):.3f}, expected {float(expected):.3f}. Hint: {hint}")


# --- 1. fixed-order loss ----------------------------------------------------------------------------
def _solution_fixed_order_loss(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return -si_snr(est, ref).mean()


def check_fixed_order_loss(fn) -> None:
    """``fn(est (batch, 2, time), ref (batch, 2, time)) -> scalar``: the negative mean SI-SNR (dB) with
    estimate k compared with reference k (use ``tasnet_edu.metrics.si_snr``)."""
    _check_loss(fn, fixed_order_si_snr_loss, "si_snr(est, ref) gives one value per utterance and source "
                "(shape (batch, 2)); a loss is minimised, so return minus their mean.")
    print("Correct: this loss punishes a good separation that comes out in the other order.")

