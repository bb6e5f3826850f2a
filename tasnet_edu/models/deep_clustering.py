"""Deep clustering (Hershey, Chen, Le Roux & Watanabe, ICASSP 2016): the course's time-frequency baseline.

A BLSTM reads the log-magnitude STFT of the mixture and gives every time-frequency bin a unit-norm
embedding of dimension D. Training pulls the embeddings of bins dominated by the same speaker together and
pushes the others apart by matching the affinity matrix ``V Vᵀ`` (TF × TF) to the ideal one ``Y Yᵀ``, where
``Y`` holds one-hot dominant-speaker labels. At test time k-means groups the embeddings into ``n_src``
clusters; each cluster is a binary mask, applied to the mixture STFT and inverted with the mixture phase.

Symbols used below: F = n_fft / 2 + 1 frequency bins, T frames, TF = F · T bins flattened frequency-major
(bin ``f · T + t``), D the embedding dimension, C the number of sources.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tasnet_edu import SAMPLE_RATE, masks
from tasnet_edu.errors import CourseError
from tasnet_edu.utils import check_finite, check_mixture, defer_non_finite

SILENCE_DB = 40.0  # bins this far below the mixture's loudest bin carry no speaker label (Hershey et al.)
FLOOR_DB = 80.0  # log-magnitude features are floored this far below the loudest bin: no log(0)
WEIGHTINGS = ("binary", "magnitude")


def _check_batch(x: torch.Tensor, name: str, ndim: int, what: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise CourseError(f"{name} must be a torch.Tensor shaped {what}, got {type(x).__name__}")
    if x.ndim != ndim:
        raise CourseError(f"{name} must be shaped {what}, got shape {tuple(x.shape)}")
    check_finite(x, name)


def _check_embeddings(V: torch.Tensor, Y: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """Validate the loss inputs; return the weights as ``(batch, TF, 1)`` (all ones when ``None``)."""
    _check_batch(V, "V", 3, "(batch, TF, D)")
    _check_batch(Y, "Y", 3, "(batch, TF, C)")
    if V.shape[:2] != Y.shape[:2]:
        raise CourseError(f"V and Y must agree in (batch, TF), got {tuple(V.shape)} and {tuple(Y.shape)}")
    if weights is None:
        return V.new_ones(V.shape[:2]).unsqueeze(-1)
    _check_batch(weights, "weights", 2, "(batch, TF)")
    if weights.shape != V.shape[:2]:
        raise CourseError(f"weights must be shaped {tuple(V.shape[:2])} like V's (batch, TF), "
                          f"got {tuple(weights.shape)}")
    if (weights < 0).any():
        raise CourseError("weights must be non-negative")
    return weights.unsqueeze(-1).to(V.dtype)


def _normaliser(w: torch.Tensor) -> torch.Tensor:
    # Dividing by (Σw)² makes the loss a weighted mean over pairs of bins: its scale depends neither on the
    # utterance length nor on the scale of the weights. The clamp keeps an all-silent example at 0, not NaN.
    return w.sum(dim=(1, 2)).pow(2).clamp_min(torch.finfo(w.dtype).tiny)


def affinity_loss(V: torch.Tensor, Y: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Deep clustering loss ‖VVᵀ − YYᵀ‖²_F in its low-rank form, without the TF × TF matrix.

    Expanding the Frobenius norm gives ‖VᵀV‖²_F − 2‖VᵀY‖²_F + ‖YᵀY‖²_F: three D×D, D×C and C×C products,
    so memory grows with TF instead of TF². Weights ``w`` scale the rows of V and Y by √w (a bin with
    weight 0 — a silent bin — drops out of every pair it belongs to); the result is divided by (Σw)².

    Args:
        V: embeddings ``(batch, TF, D)``.
        Y: one-hot dominant-source labels ``(batch, TF, C)``.
        weights: ``(batch, TF)`` non-negative, or ``None`` for all ones.

    Returns:
        The batch mean, a scalar tensor, computed in float32 (or float64 for float64 input) also under
        autocast.
    """
    w = _check_embeddings(V, Y, weights)
    # At least float32, even under autocast: each term grows like (Σw)² while their sum, the loss, shrinks
    # as training succeeds; bf16 keeps about 3 significant digits, so the difference would be rounding noise.
    dtype = torch.promote_types(V.dtype, torch.float32)
    with torch.autocast(V.device.type, enabled=False):
        V, Y, w = V.to(dtype), Y.to(dtype), w.to(dtype)
        V, Y = V * w.sqrt(), Y * w.sqrt()
        vv = V.transpose(1, 2) @ V  # (batch, D, D)
        vy = V.transpose(1, 2) @ Y  # (batch, D, C)
        yy = Y.transpose(1, 2) @ Y  # (batch, C, C)
        per_example = vv.pow(2).sum((1, 2)) - 2 * vy.pow(2).sum((1, 2)) + yy.pow(2).sum((1, 2))
        return (per_example / _normaliser(w)).mean()


def affinity_loss_naive(V: torch.Tensor, Y: torch.Tensor,
                        weights: torch.Tensor | None = None) -> torch.Tensor:
    """The same loss built from the full TF × TF affinity matrices (for checking ``affinity_loss`` only).

    Memory is O(TF²): 4 s at 8 kHz is 129 × 501 ≈ 65 000 bins, a 16 GB matrix per example.
    Arguments and result as in ``affinity_loss``.
    """
    w = _check_embeddings(V, Y, weights)
    Y = Y.to(V.dtype)
    pair_weight = w @ w.transpose(1, 2)
    diff = V @ V.transpose(1, 2) - Y @ Y.transpose(1, 2)
    return ((pair_weight * diff.pow(2)).sum((1, 2)) / _normaliser(w)).mean()


def active_bins(magnitude: torch.Tensor, threshold_db: float = SILENCE_DB) -> torch.Tensor:
    """1.0 for bins within ``threshold_db`` of the loudest bin of their example, else 0.0.

    ``magnitude`` is ``(batch, ...)``; the result has the same shape. Silent bins have no meaningful
    dominant speaker, so the affinity loss and k-means leave them out.
    """
    peak = magnitude.flatten(1).amax(dim=1).view(-1, *[1] * (magnitude.ndim - 1))
    return (magnitude > peak * 10 ** (-threshold_db / 20)).to(magnitude.dtype)


def _kmeans_pp(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k-means++ seeding: each next centre is drawn with probability ∝ squared distance to the nearest one."""
    # device= keeps the draw on the generator's device (x's): without it torch draws on the default
    # device (the CPU), which a CUDA generator refuses.
    first = torch.randint(len(x), (1,), generator=generator, device=x.device)
    centres = x[first]
    for _ in range(1, k):
        d2 = torch.cdist(x, centres).amin(dim=1).pow(2)
        probs = d2 / d2.sum() if d2.sum() > 0 else torch.full_like(d2, 1 / len(d2))
        centres = torch.cat([centres, x[torch.multinomial(probs, 1, generator=generator)]])
    return centres


def _lloyd(x: torch.Tensor, centres: torch.Tensor, n_iter: int) -> tuple[torch.Tensor, float]:
    """Lloyd iterations from ``centres`` (k, D); returns the final centres and the inertia."""
    labels = None
    for _ in range(n_iter):
        new = torch.cdist(x, centres).argmin(dim=1)
        if labels is not None and torch.equal(new, labels):
            break
        labels = new
        one_hot = F.one_hot(labels, len(centres)).to(x.dtype)
        counts = one_hot.sum(0)
        # An empty cluster keeps its old centre instead of collapsing to NaN.
        means = (one_hot.T @ x) / counts.clamp_min(1).unsqueeze(1)
        centres = torch.where(counts.unsqueeze(1) > 0, means, centres)
    inertia = torch.cdist(x, centres).amin(dim=1).pow(2).sum().item()
    return centres, inertia


def kmeans(
    x: torch.Tensor, k: int, weights: torch.Tensor | None = None, *, n_iter: int = 50, n_init: int = 3,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic k-means in torch, one problem per batch item.

    Centres are fitted on the points whose weight is positive (the non-silent bins), seeded by k-means++
    from a generator seeded with ``seed``; the best of ``n_init`` runs (lowest inertia) is kept. Every point,
    silent or not, is then labelled with its nearest centre.

    Args:
        x: points ``(batch, n_points, D)``.
        k: number of clusters.
        weights: ``(batch, n_points)``; points with weight 0 do not move the centres. ``None``: all count.

    Returns:
        ``labels (batch, n_points)`` int64 in ``[0, k)`` and ``centres (batch, k, D)``.
    """
    _check_batch(x, "x", 3, "(batch, n_points, D)")
    if not isinstance(k, int) or k < 1 or k > x.shape[1]:
        raise CourseError(f"k must be an integer between 1 and the number of points {x.shape[1]}, got {k}")
    if weights is not None and weights.shape != x.shape[:2]:
        raise CourseError(f"weights must be shaped {tuple(x.shape[:2])}, got {tuple(weights.shape)}")
    generator = torch.Generator(device=x.device).manual_seed(seed)
    x = x.detach()
    all_centres = []
    for b in range(len(x)):
        points = x[b] if weights is None else x[b][weights[b] > 0]
        if len(points) < k:  # (nearly) silent example: cluster everything rather than fail
            points = x[b]
        runs = [_lloyd(points, _kmeans_pp(points, k, generator), n_iter) for _ in range(n_init)]
        all_centres.append(min(runs, key=lambda run: run[1])[0])
    centres = torch.stack(all_centres)
    return torch.cdist(x, centres).argmin(dim=2), centres


class DeepClustering(nn.Module):
    """BLSTM embedding network over the log-magnitude STFT, separated by k-means (Hershey et al., 2016).

    Args:
        n_src: number of clusters (speakers) ``forward`` separates into; the network itself does not
            depend on it — the same model can be asked for another number with ``separate(mix, n_src)``.
        D: embedding dimension per time-frequency bin (40 in the paper).
        hidden: LSTM cells per direction and layer (600 in the paper).
        layers: stacked BLSTM layers (2 in the paper).
        n_fft: STFT window and FFT length in samples (256 = 32 ms at 8 kHz, as in the paper).
        hop: STFT hop in samples (64 = 8 ms at 8 kHz).
        window: ``"hann"`` (the course's oracle masks use it too) or ``"sqrt_hann"`` (the paper's).
        dropout: dropout between BLSTM layers.
        silence_db: bins more than this many dB below the mixture's loudest bin are left out of the loss
            and of k-means.
        weighting: ``"binary"`` — every non-silent bin counts the same (Hershey et al.); ``"magnitude"`` —
            each counts in proportion to the mixture magnitude there (Wang, Le Roux & Hershey, 2018), so
            the loud bins that make up most of the signal matter most.
        sample_rate: Hz, the rate of its audio (keyword only; not in ``config``).

    Shapes: ``mix (batch, time)``; ``embed`` → ``(batch, TF, D)`` unit-norm rows (``TF = F · T``,
    ``F = n_fft // 2 + 1``); ``forward``/``separate`` → ``(batch, n_src, time)``; ``loss`` → scalar.
    ``model.config`` holds the constructor arguments (``DeepClustering(**model.config)`` rebuilds it).

    Example:
        >>> model = DeepClustering.tiny()
        >>> model.embed(torch.randn(1, 8000)).shape   # 129 bins × 126 frames, D = 20
        torch.Size([1, 16254, 20])
        >>> model(torch.randn(1, 8000)).shape
        torch.Size([1, 2, 8000])
    """

    def __init__(
        self, n_src: int = 2, D: int = 40, hidden: int = 600, layers: int = 2, n_fft: int = 256,
        hop: int = 64, window: str = "hann", dropout: float = 0.0, silence_db: float = SILENCE_DB,
        weighting: str = "binary", *, sample_rate: int = SAMPLE_RATE,
    ):
        super().__init__()
        if min(n_src, D, hidden, layers, hop) < 1 or n_fft < 2:
            raise CourseError("DeepClustering needs positive n_src, D, hidden, layers, hop and n_fft ≥ 2; "
                              f"got {n_src}, {D}, {hidden}, {layers}, {hop}, {n_fft}")
        self.config = dict(n_src=n_src, D=D, hidden=hidden, layers=layers, n_fft=n_fft, hop=hop,
                           window=window, dropout=dropout, silence_db=silence_db, weighting=weighting)
        if weighting not in WEIGHTINGS:
            raise CourseError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
        self.n_src, self.D, self.n_fft, self.hop, self.window = n_src, D, n_fft, hop, window
        # The separator interface (tasnet_edu.separator): an analysis frame is one STFT window.
        self.sample_rate, self.L, self.stride = sample_rate, n_fft, hop
        self.silence_db, self.weighting = silence_db, weighting
        self.n_bins = n_fft // 2 + 1
        self.blstm = nn.LSTM(self.n_bins, hidden, num_layers=layers, batch_first=True, bidirectional=True,
                             dropout=dropout if layers > 1 else 0.0)
        self.embedding = nn.Linear(2 * hidden, self.n_bins * D)

    @classmethod
    def paper(cls, **overrides) -> DeepClustering:
        """Hershey et al. (2016): 2 BLSTM layers of 600 cells, D = 40, 32 ms sqrt-Hann window, 8 ms hop."""
        return cls(**{**dict(D=40, hidden=600, layers=2, window="sqrt_hann"), **overrides})

    @classmethod
    def tiny(cls, **overrides) -> DeepClustering:
        """A CPU-sized model: 2 BLSTM layers of 64 cells, D = 20 (a minute of training on 2 cores)."""
        return cls(**{**dict(D=20, hidden=64, layers=2), **overrides})

    # --- representation -------------------------------------------------------------------------
    def spectrogram(self, x: torch.Tensor) -> torch.Tensor:
        """Complex STFT ``(..., time) → (..., F, T)`` with this model's window and hop."""
        return masks.stft(x, n_fft=self.n_fft, hop_length=self.hop, window=self.window)

    def _check_mix(self, mix: torch.Tensor) -> None:
        check_mixture(mix, "DeepClustering", self.n_fft, f"STFT window (n_fft={self.n_fft})")

    def _features(self, spec: torch.Tensor) -> torch.Tensor:
        """Log-magnitude ``(batch, F, T) → (batch, T, F)``, floored and standardised per utterance."""
        mag = spec.abs()
        peak = mag.flatten(1).amax(dim=1).clamp_min(1e-8).view(-1, 1, 1)
        logmag = torch.log(torch.maximum(mag, peak * 10 ** (-FLOOR_DB / 20)))
        mean = logmag.mean(dim=(1, 2), keepdim=True)
        std = logmag.std(dim=(1, 2), keepdim=True).clamp_min(1e-5)
        return ((logmag - mean) / std).transpose(1, 2)

    def _embed_spectrogram(self, spec: torch.Tensor) -> torch.Tensor:
        """Unit-norm embeddings ``(batch, F·T, D)`` from the mixture STFT ``(batch, F, T)``."""
        batch, n_bins, frames = spec.shape
        h, _ = self.blstm(self._features(spec))
        v = self.embedding(h).view(batch, frames, n_bins, self.D).transpose(1, 2)
        return F.normalize(v, dim=-1).reshape(batch, n_bins * frames, self.D)

    def embed(self, mix: torch.Tensor) -> torch.Tensor:
        """Embeddings ``(batch, TF, D)``, each of unit norm, for a mixture ``(batch, time)``."""
        self._check_mix(mix)
        return self._embed_spectrogram(self.spectrogram(mix))

    # --- training -------------------------------------------------------------------------------
    def targets(self, mix: torch.Tensor, sources: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training targets: one-hot dominant source ``Y (batch, TF, C)`` and weights ``(batch, TF)``.

        ``Y`` is the ideal binary mask, flattened like the embeddings; the weight is 0 for the mixture's
        silent bins (``silence_db`` below its loudest bin), else 1 (``weighting="binary"``) or the mixture
        magnitude (``"magnitude"``; the loss divides by the total weight, so the scale does not matter).
        """
        self._check_mix(mix)
        _check_batch(sources, "sources", 3, "(batch, n_src, time)")
        if sources.shape[0] != mix.shape[0] or sources.shape[-1] != mix.shape[-1]:
            raise CourseError(f"sources {tuple(sources.shape)} must match mix {tuple(mix.shape)} "
                              "in batch and time")
        ibm = masks.ideal_binary_mask(self.spectrogram(sources))  # (batch, C, F, T)
        mix_mag = self.spectrogram(mix).abs()
        weights = active_bins(mix_mag, self.silence_db)
        if self.weighting == "magnitude":
            weights = weights * mix_mag
        return ibm.flatten(2).transpose(1, 2), weights.flatten(1)

    def loss(self, mix: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
        """Affinity loss of this model on ``mix (batch, time)`` and its ``sources (batch, C, time)``."""
        Y, weights = self.targets(mix, sources)
        # Non-finite embeddings make the loss NaN instead of raising (the trainer stops every process alike).
        V, factor = defer_non_finite(self.embed(mix))
        return affinity_loss(V, Y, weights) * factor

    # --- inference ------------------------------------------------------------------------------
    @torch.no_grad()
    def masks(self, mix: torch.Tensor, n_src: int | None = None, seed: int = 0) -> torch.Tensor:
        """Binary masks ``(batch, n_src, F, T)`` from k-means over the non-silent bins' embeddings.

        The cluster order is arbitrary (the affinity loss is permutation-free by construction): match the
        estimates to references with a permutation-invariant score.
        """
        self._check_mix(mix)
        return self._masks(self.spectrogram(mix), n_src or self.n_src, seed)

    def _masks(self, spec: torch.Tensor, n_src: int, seed: int) -> torch.Tensor:
        V = self._embed_spectrogram(spec)
        weights = active_bins(spec.abs(), self.silence_db).flatten(1)
        labels, _ = kmeans(V, n_src, weights, seed=seed)
        one_hot = F.one_hot(labels, n_src).to(spec.real.dtype)  # (batch, TF, n_src)
        return one_hot.transpose(1, 2).reshape(len(spec), n_src, *spec.shape[1:])

    @torch.no_grad()
    def separate(self, mix: torch.Tensor, n_src: int | None = None, seed: int = 0) -> torch.Tensor:
        """Estimates ``(batch, n_src, time)``: k-means masks × mixture STFT, inverted with the mixture phase.

        ``n_src`` defaults to the model's; ``seed`` seeds the k-means initialisation.
        """
        self._check_mix(mix)
        spec = self.spectrogram(mix)
        mask = self._masks(spec, n_src or self.n_src, seed)
        return masks.istft(mask * spec.unsqueeze(1), n_fft=self.n_fft, hop_length=self.hop,
                           length=mix.shape[-1], window=self.window)

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        """``(batch, time) → (batch, n_src, time)`` like every model of the course (see ``separate``).

        Not differentiable (k-means): training uses ``loss`` (``tasnet_edu.train`` calls it; preset
        ``deep-clustering``).
        """
        return self.separate(mix)
