"""How separation is scored: SI-SNR, BSS-Eval SDR, their improvements, and permutation-invariant training.

Every function takes signals shaped ``(..., time)``; multi-source inputs ``(..., n_src, time)`` give one
value per source, ``(..., n_src)``, in decibels. Sources are compared **in the order given** (estimate k with
reference k): finding the best order is a separate step (``pit_si_snr`` / ``apply_permutation``), so that a
metric never silently reorders what it is told to score.

- ``si_snr``: scale-invariant signal-to-noise ratio, the training objective of TasNet (Luo & Mesgarani,
  ICASSP 2018) and Conv-TasNet (TASLP 2019), analysed as SI-SDR by Le Roux et al. 2019 ("SDR – half-baked
  or well done?"). Both signals are made zero-mean, the estimate is projected on the
  reference, and the ratio of the projection's energy to the rest's is taken.
- ``sdr``: BSS-Eval v3 source-to-distortion ratio (Vincent et al. 2006) exactly as
  ``mir_eval.separation.bss_eval_sources`` computes it: the part of the estimate explained by the reference
  through a 512-tap FIR filter counts as signal. Our implementation is batched and FFT-based; the tests check
  it against mir_eval to 0.05 dB.
- ``sir`` / ``sar`` (and all three at once, ``bss_eval``): the rest of BSS-Eval v3. The estimate's part
  explained by *all* references (512-tap filters again) splits what is not its own source into interference
  (the other talkers, SIR) and artifacts (what no reference explains: musical noise, distortion, SAR). Checked
  against mir_eval to 0.05 dB.
- ``si_snri`` / ``sdri``: improvement over the unprocessed mixture (the mixture scored as every estimate).
- ``stoi``, ``pesq``, ``dnsmos``: intelligibility and quality scores (``tasnet_edu.perceptual``), from the
  packages of the ``metrics`` extra, imported when first called.
- ``pairwise_si_snr`` → ``pit_si_snr``: utterance-level permutation-invariant training (uPIT, Kolbæk et al.
  2017) built from the ``(batch, n_est, n_ref)`` matrix of SI-SNRs, as asteroid's PIT wrapper does.
- ``silence_aware_si_snr`` → ``pit_silence_aware_si_snr``: the same loss for crops in which a source is
  digital silence (one talker alone): such an output is scored by how far it stays below the mixture.
"""

from __future__ import annotations

import itertools

import numpy as np
import scipy.fft
import scipy.linalg
import torch
from scipy.optimize import linear_sum_assignment

from tasnet_edu.errors import CourseError
from tasnet_edu.perceptual import DNSMOS, dnsmos, pesq, stoi  # noqa: F401  (the optional scores, here too)
from tasnet_edu.utils import as_tensor, check_finite, check_same_shape

#: Length of the BSS-Eval v3 distortion filters (taps), as in ``mir_eval.separation.bss_eval_sources``.
BSS_FILTER_LENGTH = 512

#: Up to this many sources, PIT tries every permutation (n! ≤ 6); above it, the Hungarian algorithm.
MAX_ENUMERATED_SOURCES = 3


def _checked_pair(est, ref, names=("est", "ref")) -> tuple[torch.Tensor, torch.Tensor]:
    """Tensors of the same shape with at least one (time) axis, finite, in float32 or float64."""
    est, ref = _float(est), _float(ref)
    check_same_shape(est, ref, names)
    if est.ndim == 0 or est.shape[-1] == 0:
        raise CourseError(f"{names[0]} and {names[1]} need a non-empty time axis, got {tuple(est.shape)}")
    check_finite(est, names[0])
    check_finite(ref, names[1])
    return est, ref


def _float(x) -> torch.Tensor:
    """A float32 tensor (float64 stays float64): a loss in bf16/fp16 loses the small error energies."""
    x = x if isinstance(x, torch.Tensor) else as_tensor(x)
    return x if x.dtype == torch.float64 else x.float()


def _si_snr(est: torch.Tensor, ref: torch.Tensor, eps: float) -> torch.Tensor:
    """SI-SNR without input checks; ``est`` and ``ref`` broadcast against each other."""
    # Autocast would run products in bf16; the energies below need fp32 (a loss of 30 dB is a ratio of 1000).
    with torch.autocast(device_type=est.device.type, enabled=False):
        est = est - est.mean(dim=-1, keepdim=True)
        ref = ref - ref.mean(dim=-1, keepdim=True)
        # Projection of the estimate on the reference: s_target = <est, ref> ref / ||ref||².
        # eps in the denominator: a silent reference gives s_target = 0 instead of 0/0.
        scale = (est * ref).sum(dim=-1, keepdim=True) / (ref.pow(2).sum(dim=-1, keepdim=True) + eps)
        target = scale * ref
        noise = est - target
        # eps on both energies: a silent estimate gives 0 dB, a silent reference a large negative number.
        return 10 * torch.log10((target.pow(2).sum(dim=-1) + eps) / (noise.pow(2).sum(dim=-1) + eps))


def si_snr(est, ref, eps: float = 1e-8) -> torch.Tensor:
    """Scale-invariant SNR in dB of ``est`` against ``ref``, both ``(..., time)`` → ``(...,)``.

    SI-SNR = 10 log10(||s_target||² / ||e_noise||²) with, after removing each signal's mean,
    ``s_target = <ŝ, s> s / ||s||²`` (the part of the estimate ŝ along the reference s) and
    ``e_noise = ŝ - s_target``. Multiplying ŝ by any non-zero gain leaves it unchanged.

    ``eps`` keeps silence finite: a silent estimate scores 0 dB, a silent reference a large negative value.
    Computed in float32 (float64 stays float64), also under autocast; differentiable.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> ref = torch.randn(2, 8000, generator=g)          # two sources, one second at 8 kHz
        >>> noise = 0.1 * torch.randn(2, 8000, generator=g)  # 20 dB below them
        >>> si_snr(ref + noise, ref).round()
        tensor([20., 20.])
    """
    est, ref = _checked_pair(est, ref)
    return _si_snr(est, ref, eps)


def _mixture_as_estimates(mix, ref: torch.Tensor) -> torch.Tensor:
    """The mixture ``(..., time)`` repeated as the estimate of each source in ``ref`` (..., n_src, time)."""
    mix = _float(mix)
    if ref.ndim < 2 or mix.shape != ref.shape[:-2] + ref.shape[-1:]:
        raise CourseError(
            f"mix must be shaped like ref without its source axis: ref {tuple(ref.shape)} "
            f"(..., n_src, time) needs mix {tuple(ref.shape[:-2] + ref.shape[-1:])}, got {tuple(mix.shape)}"
        )
    check_finite(mix, "mix")
    return mix.unsqueeze(-2).expand_as(ref)


def si_snri(est, ref, mix, eps: float = 1e-8) -> torch.Tensor:
    """SI-SNR improvement in dB: ``si_snr(est, ref) - si_snr(mix, ref)`` per source.

    Shapes: est, ref ``(..., n_src, time)``, mix ``(..., time)`` → ``(..., n_src)``.
    """
    est, ref = _checked_pair(est, ref)
    return _si_snr(est, ref, eps) - _si_snr(_mixture_as_estimates(mix, ref), ref, eps)


def _next_power_of_two(n: int) -> int:
    return 1 << (n - 1).bit_length()


def _own_projection(est: np.ndarray, ref: np.ndarray, flen: int) -> np.ndarray:
    """Rows of ``est`` ``(M, time)`` projected on ``flen`` delayed copies of the same rows of ``ref``, both
    float64 → ``(M, time + flen - 1)``: the part of each estimate that a ``flen``-tap FIR filter of its own
    reference explains.

    mir_eval also projects on all references, but only to split distortion into SIR and SAR (``bss_eval``):
    the SDR needs the projection on the own reference alone, which is the first reason ``sdr`` is fast.

    NumPy/SciPy rather than torch: a metric needs no gradient, SciPy's Levinson solver is the second reason
    (below), and single-threaded FFTs do not stall on a machine whose cores are busy.
    """
    time = est.shape[-1]
    n_fft = _next_power_of_two(time + flen - 1)  # linear (not circular) correlations: pad to time + flen - 1
    ref_f = scipy.fft.rfft(ref, n=n_fft)
    est_f = scipy.fft.rfft(est, n=n_fft)
    # The Gram matrix of the delayed references is Toeplitz in the reference's autocorrelation r[|i - j|].
    autocorr = scipy.fft.irfft(ref_f * ref_f.conj(), n=n_fft)[:, :flen]
    # A silent reference makes it zero; a load far below the float64 resolution of any real signal's
    # energy keeps the solve defined (the projection is then zero) and changes nothing else.
    autocorr[:, 0] += 1e-20
    # Inner products of the estimate with the reference delayed by 0 … flen-1 samples.
    cross = scipy.fft.irfft(est_f * ref_f.conj(), n=n_fft)[:, :flen]
    # The distortion filter (M, flen). Levinson recursion costs O(flen²) per row where mir_eval's dense
    # solve costs O(flen³), and agrees with it (tests).
    filt = np.stack([scipy.linalg.solve_toeplitz(c, b) for c, b in zip(autocorr, cross, strict=True)])
    return scipy.fft.irfft(scipy.fft.rfft(filt, n=n_fft) * ref_f, n=n_fft)[:, : time + flen - 1]


def _db(num: np.ndarray, den: np.ndarray, eps: float) -> np.ndarray:
    """10 log10 of the energy ratio of the rows of ``num`` and ``den``, ``(..., time)`` → ``(...,)``."""
    return 10 * np.log10((np.sum(num**2, -1) + eps) / (np.sum(den**2, -1) + eps))


def _bss_sdr(est: np.ndarray, ref: np.ndarray, flen: int, eps: float) -> np.ndarray:
    """BSS-Eval v3 SDR of rows of ``est`` against the same rows of ``ref``, both ``(M, time)`` float64.

    The signal part is the least-squares projection of the estimate on ``flen`` delayed copies of its own
    reference: a 512-tap FIR filter applied to the reference. Everything else (interference + artifacts) is
    distortion.
    """
    projection = _own_projection(est, ref, flen)
    return _db(projection, np.pad(est, ((0, 0), (0, flen - 1))) - projection, eps)


def _sdr_rows(est: torch.Tensor, ref: torch.Tensor, eps: float) -> torch.Tensor:
    """``_bss_sdr`` on any leading shape, in float64, returned as a tensor of the input's dtype and device."""
    lead, time = est.shape[:-1], est.shape[-1]
    if time < BSS_FILTER_LENGTH:
        raise CourseError(
            f"sdr needs signals of at least {BSS_FILTER_LENGTH} samples (its distortion filter length), "
            f"got shape {tuple(est.shape)}"
        )
    rows = [x.detach().cpu().double().reshape(-1, time).numpy() for x in (est, ref)]
    out = _bss_sdr(*rows, BSS_FILTER_LENGTH, eps)
    return torch.from_numpy(out).reshape(lead).to(dtype=est.dtype, device=est.device)


def sdr(est, ref, eps: float = 1e-12) -> torch.Tensor:
    """BSS-Eval v3 signal-to-distortion ratio in dB, per source and in the given order (no permutation).

    Shapes: ``(..., time)`` → ``(...,)``; so ``(..., n_src, time)`` → ``(..., n_src)``. Signals need at least
    512 samples. Matches ``mir_eval.separation.bss_eval_sources(ref, est, compute_permutation=False)[0]``
    (checked to 0.05 dB by the tests) but is batched and FFT-based, so it runs much faster. A metric, not
    a loss: no gradient flows through it.

    Unlike SI-SNR, any 512-tap filtering of the reference counts as signal, so SDR is usually a little higher
    than SI-SNR for the same estimate. mir_eval refuses silent signals; here a silent estimate scores 0 dB
    and a silent reference a very negative value, so a batch never fails on one bad item.
    """
    est, ref = _checked_pair(est, ref)
    return _sdr_rows(est, ref, eps)


def sdri(est, ref, mix, eps: float = 1e-12) -> torch.Tensor:
    """SDR improvement in dB: ``sdr(est, ref) - sdr(mix, ref)`` per source.

    Shapes: est, ref ``(..., n_src, time)``, mix ``(..., time)`` → ``(..., n_src)``.
    """
    est, ref = _checked_pair(est, ref)
    return _sdr_rows(est, ref, eps) - _sdr_rows(_mixture_as_estimates(mix, ref), ref, eps)


def _bss_projections(est: np.ndarray, ref: np.ndarray, flen: int) -> tuple[np.ndarray, np.ndarray]:
    """Both BSS-Eval v3 projections of each estimate, for one set of references: ``est``, ``ref``
    ``(n_src, time)`` float64 → ``own``, ``all`` ``(n_src, time + flen - 1)``.

    ``own[j]``: estimate j projected on ``flen`` delayed copies of reference j alone (as ``_bss_sdr``);
    ``all[j]``: projected on the delayed copies of every reference at once. The Gram matrix of the
    ``n_src * flen`` delayed references is the same for every estimate, so one solve serves all of them
    (mir_eval solves it once per estimate).
    """
    n_src, time = ref.shape
    n_fft = _next_power_of_two(time + flen - 1)
    ref_f = scipy.fft.rfft(ref, n=n_fft)
    est_f = scipy.fft.rfft(est, n=n_fft)
    # xcorr[i, k, m] = sum_t ref_i(t) ref_k(t + m): lag m at index m mod n_fft (negative lags wrap around).
    xcorr = scipy.fft.irfft(ref_f.conj()[:, None] * ref_f[None], n=n_fft)
    lags = np.arange(flen)
    # <ref_i delayed by a, ref_k delayed by b> = xcorr[i, k, a - b]: block (i, k) of the Gram matrix.
    gram = xcorr[:, :, (lags[:, None] - lags[None, :]) % n_fft]  # (n_src, n_src, flen, flen)
    gram = gram.transpose(0, 2, 1, 3).reshape(n_src * flen, n_src * flen)
    gram[np.diag_indices_from(gram)] += 1e-20  # a silent reference: see _bss_sdr
    # <ref_i delayed by a, est_j>, stacked as the right-hand sides (n_src * flen, n_src).
    cross = scipy.fft.irfft(ref_f.conj()[:, None] * est_f[None], n=n_fft)[:, :, :flen]  # (i, j, a)
    cross = cross.transpose(0, 2, 1).reshape(n_src * flen, n_src)
    try:
        filters = np.linalg.solve(gram, cross)
    except np.linalg.LinAlgError:  # as mir_eval: a least-squares answer when the references are dependent
        filters = np.linalg.lstsq(gram, cross, rcond=None)[0]
    filters = filters.reshape(n_src, flen, n_src)  # (reference i, tap a, estimate j)
    filt_f = scipy.fft.rfft(filters, n=n_fft, axis=1)  # (i, freq, j)
    all_f = np.einsum("ifj,if->jf", filt_f, ref_f)
    projection_all = scipy.fft.irfft(all_f, n=n_fft)[:, : time + flen - 1]
    return _own_projection(est, ref, flen), projection_all


def bss_decompose(est, ref) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """BSS-Eval v3's three parts of each estimate: ``s_target``, ``e_interf``, ``e_artif`` (see ``bss_eval``).

    Shapes: est, ref ``(n_src, time)`` → three tensors ``(n_src, time + 511)`` (float64): the projections are
    made with 512-tap filters, so each part is 511 samples longer than the signals; the three add up to the
    estimate (zero-padded to that length).
    """
    est, ref = _checked_pair(est, ref)
    if est.ndim != 2 or est.shape[-1] < BSS_FILTER_LENGTH:
        raise CourseError(f"bss_decompose needs (n_src, time) signals of at least {BSS_FILTER_LENGTH} "
                          f"samples, got shape {tuple(est.shape)}")
    e, r = (x.detach().cpu().double().numpy() for x in (est, ref))
    own, every = _bss_projections(e, r, BSS_FILTER_LENGTH)
    padded = np.pad(e, ((0, 0), (0, BSS_FILTER_LENGTH - 1)))
    return tuple(torch.from_numpy(x) for x in (own, every - own, padded - every))


def bss_eval(est, ref, eps: float = 1e-12) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """BSS-Eval v3 SDR, SIR and SAR in dB, per source and in the given order (no permutation).

    Shapes: est, ref ``(..., n_src, time)`` → three tensors ``(..., n_src)``. The estimate ŝ_j is split into
    ``s_target`` (its projection on 512-tap filterings of its own reference s_j), ``e_interf`` (what the other
    references add to that projection) and ``e_artif`` (what no reference explains):

        SDR = 10 log10(‖s_target‖² / ‖e_interf + e_artif‖²)   (equals ``sdr``)
        SIR = 10 log10(‖s_target‖² / ‖e_interf‖²)             (how much of the other talkers is left)
        SAR = 10 log10(‖s_target + e_interf‖² / ‖e_artif‖²)   (how much of the output is no talker at all)

    Matches ``mir_eval.separation.bss_eval_sources(ref, est, compute_permutation=False)[:3]`` (the tests check
    0.05 dB). With a single source SIR is not defined (nothing interferes) and comes out very large.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> ref = torch.randn(2, 8000, generator=g)
        >>> est = ref + 0.1 * ref.flip(0)                   # each source with the other 20 dB below it
        >>> [x.shape for x in bss_eval(est, ref)]
        [torch.Size([2]), torch.Size([2]), torch.Size([2])]
        >>> bss_eval(est, ref)[1].round()                   # SIR
        tensor([20., 20.])
    """
    est, ref = _checked_pair(est, ref)
    if est.ndim < 2:
        raise CourseError(f"bss_eval needs (..., n_src, time) signals, got shape {tuple(est.shape)}")
    if est.shape[-1] < BSS_FILTER_LENGTH:
        raise CourseError(f"bss_eval needs signals of at least {BSS_FILTER_LENGTH} samples (its distortion "
                          f"filter length), got shape {tuple(est.shape)}")
    lead, (n_src, time) = est.shape[:-2], est.shape[-2:]
    est_np, ref_np = (x.detach().cpu().double().reshape(-1, n_src, time).numpy() for x in (est, ref))
    out = np.empty((3, est_np.shape[0], n_src))
    for b, (e, r) in enumerate(zip(est_np, ref_np, strict=True)):
        target, interf, artif = (x.numpy() for x in bss_decompose(torch.from_numpy(e), torch.from_numpy(r)))
        out[0, b] = _db(target, interf + artif, eps)
        out[1, b] = _db(target, interf, eps)
        out[2, b] = _db(target + interf, artif, eps)
    result = torch.from_numpy(out).reshape(3, *lead, n_src).to(dtype=est.dtype, device=est.device)
    return result[0], result[1], result[2]


def sir(est, ref, eps: float = 1e-12) -> torch.Tensor:
    """BSS-Eval v3 source-to-interference ratio in dB: ``(..., n_src, time)`` → ``(..., n_src)``.

    High when little of the *other* talkers is left in each estimate; see ``bss_eval``.
    """
    return bss_eval(est, ref, eps)[1]


def sar(est, ref, eps: float = 1e-12) -> torch.Tensor:
    """BSS-Eval v3 source-to-artifacts ratio in dB: ``(..., n_src, time)`` → ``(..., n_src)``.

    High when the estimate holds little that no reference explains (musical noise, clicks, distortion);
    see ``bss_eval``.
    """
    return bss_eval(est, ref, eps)[2]


def _checked_batch(est, ref) -> tuple[torch.Tensor, torch.Tensor]:
    est, ref = _checked_pair(est, ref)
    if est.ndim != 3:
        raise CourseError(f"est and ref must be shaped (batch, n_src, time), got {tuple(est.shape)}")
    return est, ref


def pairwise_si_snr(est, ref, eps: float = 1e-8) -> torch.Tensor:
    """SI-SNR of each estimate against each reference: (batch, n_src, time) ×2 → (batch, n_est, n_ref).

    Entry ``[b, i, j]`` is ``si_snr(est[b, i], ref[b, j])``; differentiable.
    """
    est, ref = _checked_batch(est, ref)
    return _si_snr(est.unsqueeze(2), ref.unsqueeze(1), eps)


def _best_permutation_enumerated(pairwise: torch.Tensor) -> torch.Tensor:
    """Best ``perm`` ``(batch, n_src)`` by trying all n! orders at once (no loop over the batch)."""
    n_src = pairwise.shape[-1]
    perms = torch.tensor(list(itertools.permutations(range(n_src))), device=pairwise.device)  # (n!, n_src)
    # score[b, p] = mean_j pairwise[b, perms[p, j], j]
    score = pairwise[:, perms, torch.arange(n_src, device=pairwise.device)].mean(-1)
    return perms[score.argmax(-1)]


def _best_permutation_hungarian(pairwise: torch.Tensor) -> torch.Tensor:
    """Best ``perm`` ``(batch, n_src)`` by the Hungarian algorithm (scipy), O(n³) instead of n!.

    scipy solves one small ``(n_src, n_src)`` assignment at a time, so this loops over the batch, but only
    over detached matrices of n_src² numbers; the loss itself stays batched.
    """
    scores = pairwise.detach().cpu().double().numpy()
    perm = np.empty(scores.shape[:2], dtype=np.int64)
    for b, matrix in enumerate(scores):
        est_idx, ref_idx = linear_sum_assignment(matrix, maximize=True)
        perm[b, ref_idx] = est_idx
    return torch.from_numpy(perm).to(pairwise.device)


def best_permutation(pairwise: torch.Tensor) -> torch.Tensor:
    """The order of estimates that maximises the mean of ``pairwise`` ``(batch, n_est, n_ref)`` (higher is
    better), per item: ``perm[b, j]`` is the estimate matched to reference ``j``, shape ``(batch, n_src)``.

    Enumerates all permutations up to ``MAX_ENUMERATED_SOURCES`` sources, Hungarian algorithm above.
    """
    if pairwise.shape[-1] <= MAX_ENUMERATED_SOURCES:
        return _best_permutation_enumerated(pairwise)
    return _best_permutation_hungarian(pairwise)


def apply_permutation(est: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """Reorder estimates ``(batch, n_src, ...)``: ``out[b, j] = est[b, perm[b, j]]`` matches reference j."""
    if perm.shape != est.shape[:2]:
        raise CourseError(f"perm must be (batch, n_src) = {tuple(est.shape[:2])}, got {tuple(perm.shape)}")
    batch = torch.arange(est.shape[0], device=est.device).unsqueeze(1)
    return est[batch, perm.to(est.device)]


def pit_si_snr(est, ref, eps: float = 1e-8) -> tuple[torch.Tensor, torch.Tensor]:
    """Utterance-level permutation-invariant SI-SNR loss (uPIT).

    The network's outputs have no natural order, so each utterance is scored with the assignment of
    estimates to references that gives the highest mean SI-SNR, chosen once for the whole utterance.

    Args:
        est, ref: ``(batch, n_src, time)``.

    Returns:
        loss: scalar, the negative mean SI-SNR (dB) of the best permutation over batch and sources;
            differentiable, computed in float32.
        perm: ``(batch, n_src)`` long; ``apply_permutation(est, perm)`` puts the estimates in reference order.
    """
    est, ref = _checked_batch(est, ref)
    with torch.no_grad():  # choosing the permutation needs no gradient ...
        perm = best_permutation(_si_snr(est.unsqueeze(2), ref.unsqueeze(1), eps))
    # ... and the loss, the best permutation's entries of the pairwise matrix, is recomputed on the n_src
    # reordered pairs only, so the backward pass does not go through all n_src² pairs.
    return -_si_snr(apply_permutation(est, perm), ref, eps).mean(), perm


def pit_si_snri(est, ref, mix, eps: float = 1e-8) -> tuple[torch.Tensor, torch.Tensor]:
    """SI-SNRi (dB) of estimates matched to the references by their best SI-SNR permutation (``pit_si_snr``):
    a score must not depend on the order in which the model happens to return the speakers.

    Shapes: est, ref ``(batch, n_src, time)``, mix ``(batch, time)`` → SI-SNRi ``(batch, n_src)`` in
    reference order, and the permutation ``(batch, n_src)`` (``apply_permutation(est, perm)``).

    Example:
        >>> ref = torch.randn(1, 2, 800)
        >>> si_snri, perm = pit_si_snri(ref.flip(1), ref, ref.sum(1))   # the right answer, order swapped
        >>> perm.tolist(), bool((si_snri > 80).all())
        ([[1, 0]], True)
    """
    est = _float(est)
    with torch.no_grad():  # the order is chosen, not learned
        perm = best_permutation(pairwise_si_snr(est, ref, eps))
    return si_snri(apply_permutation(est, perm), ref, mix, eps), perm


def _silence_aware_si_snr(est: torch.Tensor, ref: torch.Tensor, mix: torch.Tensor, max_db: float,
                          eps: float) -> torch.Tensor:
    """``silence_aware_si_snr`` without input checks; ``est``, ``ref`` and ``mix`` broadcast together."""
    with torch.autocast(device_type=est.device.type, enabled=False):
        tau = 10 ** (-max_db / 10)
        mix_energy = mix.pow(2).sum(dim=-1)
        # eps on both energies, as in _si_snr: a silent mixture and a silent estimate give 0 dB, not 0/0.
        below_mix = 10 * torch.log10((mix_energy + eps) / (est.pow(2).sum(dim=-1) + tau * mix_energy + eps))
        # Both branches are finite, so torch.where passes finite gradients through the one it keeps.
        silent = ref.pow(2).sum(dim=-1) <= eps
        return torch.where(silent, below_mix, _si_snr(est, ref, eps))


def silence_aware_si_snr(est, ref, mix, max_db: float = 30.0, eps: float = 1e-8) -> torch.Tensor:
    """SI-SNR (dB) that stays defined when a reference is digital silence, for training on lone talkers.

    Shapes: est, ref ``(..., n_src, time)``, mix ``(..., time)`` → ``(..., n_src)``, in the given order.

    A reference whose energy is at most ``eps`` counts as silent. Its estimate should be silent too, so it
    scores how far the estimate's energy stays below the mixture's, with a soft threshold at ``max_db``
    (Wisdom et al. 2020, MixIT, NeurIPS):

        10 log10(‖x‖² / (‖ŝ‖² + τ ‖x‖²)),   τ = 10^(−max_db / 10)

    The energies are taken as they are, not zero-mean: an offset in an output that should be silent is
    leakage too. A silent estimate scores ``max_db``; one as loud as the mixture about 0 dB. The threshold
    keeps the loss from pushing a silent output ever lower. Every other reference scores the usual SI-SNR
    (``si_snr``).
    Computed in float32 (float64 stays float64), also under autocast; differentiable, with finite gradients.
    """
    est, ref = _checked_pair(est, ref)
    return _silence_aware_si_snr(est, ref, _mixture_as_estimates(mix, ref), max_db, eps)


def pit_silence_aware_si_snr(est, ref, mix, max_db: float = 30.0,
                             eps: float = 1e-8) -> tuple[torch.Tensor, torch.Tensor]:
    """Utterance-level PIT loss on ``silence_aware_si_snr``: as ``pit_si_snr``, but a silent reference is
    matched with the output that best stays silent, and the loss stays defined.

    Args:
        est, ref: ``(batch, n_src, time)``; mix: ``(batch, time)``.
        max_db, eps: as ``silence_aware_si_snr``.

    Returns:
        loss: scalar, the negative mean score (dB) of the best permutation over batch and sources;
            differentiable, computed in float32.
        perm: ``(batch, n_src)`` long; ``apply_permutation(est, perm)`` puts the estimates in reference order.
    """
    est, ref = _checked_batch(est, ref)
    mixes = _mixture_as_estimates(mix, ref)  # (batch, n_src, time), every row the mixture
    with torch.no_grad():  # the order is chosen on the (batch, n_est, n_ref) matrix, without gradient
        pairwise = _silence_aware_si_snr(est.unsqueeze(2), ref.unsqueeze(1), mixes.unsqueeze(1), max_db, eps)
        perm = best_permutation(pairwise)
    return -_silence_aware_si_snr(apply_permutation(est, perm), ref, mixes, max_db, eps).mean(), perm
