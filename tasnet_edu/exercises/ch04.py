"""Exercises of chapter 04 (deep clustering).

1. ``check_affinity_loss(fn)``: write the affinity loss ‖VVᵀ − YYᵀ‖²_F in its low-rank form.
2. ``check_kmeans_step(fn)``: one k-means iteration on embeddings: assign each bin, move each centroid.
3. ``check_active_bins(fn)``: write the silent-bin weights (bins within 40 dB of the loudest one).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tasnet_edu.models.deep_clustering import active_bins, affinity_loss


def _example(seed: int = 0, bins: int = 200, D: int = 6, C: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    V = F.normalize(torch.randn(1, bins, D, generator=g, dtype=torch.float64), dim=-1)
    Y = F.one_hot(torch.randint(0, C, (1, bins), generator=g), C).to(torch.float64)
    return V, Y


# --- 1. the low-rank affinity loss ------------------------------------------------------------------
def _solution_affinity_loss(V: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """Unweighted, unnormalised ‖VVᵀ − YYᵀ‖²_F for one example ``V (TF, D)``, ``Y (TF, C)``."""
    return (V.T @ V).pow(2).sum() - 2 * (V.T @ Y).pow(2).sum() + (Y.T @ Y).pow(2).sum()


def check_affinity_loss(fn) -> None:
    """``fn(V (TF, D), Y (TF, C)) -> scalar``: ‖VVᵀ − YYᵀ‖²_F without building a TF × TF matrix.

    No weights, no normalisation: the package's ``affinity_loss`` divides by TF², so ``fn`` must give
    TF² times its value.
    """
    for seed in range(3):
        V, Y = _example(seed)
        expected = affinity_loss(V, Y) * V.shape[1] ** 2
        got = torch.as_tensor(fn(V[0], Y[0]), dtype=torch.float64)
        assert got.numel() == 1, f"return one number (a scalar tensor), got shape {tuple(got.shape)}"
        assert torch.allclose(got, expected, rtol=1e-6), (
            f"got {float(got):.4f}, expected {float(expected):.4f}. Hint: expand "
            "‖A − B‖² = ‖A‖² − 2⟨A, B⟩ + ‖B‖² and use ‖VVᵀ‖² = ‖VᵀV‖² (a D × D matrix), "
            "⟨VVᵀ, YYᵀ⟩ = ‖VᵀY‖² (D × C)."
        )
    print("Correct: three small products (D×D, D×C, C×C) replace a TF × TF matrix.")


# --- 2. one k-means iteration -----------------------------------------------------------------------------
def _solution_kmeans_step(V: torch.Tensor, centroids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``V (TF, D)``, ``centroids (K, D)`` → ``(masks (K, TF), new centroids (K, D))``: each bin goes to
    its nearest centroid (Euclidean distance); each centroid moves to the mean of its bins (stays if none)."""
    nearest = torch.cdist(V, centroids).argmin(-1)                             # (TF,)
    masks = F.one_hot(nearest, len(centroids)).T.to(V.dtype)                   # (K, TF)
    counts = masks.sum(-1, keepdim=True)
    moved = (masks @ V) / counts.clamp_min(1)
    return masks, torch.where(counts > 0, moved, centroids)


def _clusters(seed: int = 0, bins: int = 300, D: int = 5, K: int = 2):
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(K, D, generator=g, dtype=torch.float64), dim=-1)
    labels = torch.randint(0, K, (bins,), generator=g)
    V = F.normalize(centres[labels] + 0.4 * torch.randn(bins, D, generator=g, dtype=torch.float64), dim=-1)
    start = V[torch.randperm(bins, generator=g)[:K]]
    return V, start, labels


def check_kmeans_step(fn) -> None:
    """``fn(V (TF, D), centroids (K, D)) -> (masks (K, TF), new_centroids (K, D))``: assign every bin to the
    nearest centroid (``masks[k, i] = 1`` if bin i goes to centroid k, else 0), then move each centroid to the
    mean of the embeddings assigned to it. Ten such steps are what ``DeepClustering.masks`` runs."""
    for seed in range(3):
        V, start, labels = _clusters(seed)
        expected_masks, expected_centroids = _solution_kmeans_step(V, start)
        got_masks, got_centroids = (torch.as_tensor(a).double() for a in fn(V.clone(), start.clone()))
        assert got_masks.shape == expected_masks.shape, (
            f"masks: expected shape {tuple(expected_masks.shape)} (K, TF), got {tuple(got_masks.shape)}")
        assert torch.equal(got_masks, expected_masks), (
            f"{int((got_masks != expected_masks).any(0).sum())} bins go to another centroid. Hint: "
            "torch.cdist(V, centroids).argmin(-1) is each bin's nearest centroid; one-hot it to (K, TF).")
        assert torch.allclose(got_centroids, expected_centroids, atol=1e-8), (
            "the new centroids differ. Hint: centroid k = the mean of the rows of V whose bin went to k.")
    V, centroids, labels = _clusters(0)
    for _ in range(10):
        masks, centroids = (torch.as_tensor(a).double() for a in fn(V, centroids))
    found = masks.argmax(0)
    agreement = max(float((found == labels).double().mean()), float((found != labels).double().mean()))
    assert agreement > 0.9
    print(f"Correct: ten of your steps put {100 * agreement:.0f} % of the bins in their true cluster.")


# --- 3. silent-bin weights --------------------------------------------------------------------------
def _solution_active_bins(magnitude: torch.Tensor) -> torch.Tensor:
    """1.0 where ``magnitude (F, T)`` is within 40 dB of its maximum, else 0.0."""
    return (20 * torch.log10(magnitude / magnitude.max()) > -40).float()


def check_active_bins(fn) -> None:
    """``fn(magnitude (F, T)) -> weights (F, T)``: 1.0 for bins within 40 dB of the loudest bin, else 0.0."""
    g = torch.Generator().manual_seed(0)
    magnitude = torch.rand(129, 50, generator=g).pow(6) * 3.0  # many quiet bins, a few loud ones
    expected = active_bins(magnitude[None])[0]
    got = torch.as_tensor(fn(magnitude)).float()
    assert got.shape == expected.shape, (
        f"return the shape of the input {tuple(expected.shape)}, got {tuple(got.shape)}")
    wrong = int((got != expected).sum())
    assert wrong == 0, (
        f"{wrong} of {expected.numel()} bins differ. Hint: 40 dB below the maximum of a *magnitude* is a "
        "factor of 10^(40/20) = 100, not 10^4 (that would be for a power)."
    )
    print(f"Correct: {int(expected.sum())} of {expected.numel()} bins take part in the loss.")
