"""Separation of waveforms of any length with a trained model: tensors in, tensors out (no files).

Four steps every long input needs, each a function below (``tasnet_edu.separate`` adds the files around
them, ``tasnet_edu.evaluate`` scores with ``ShiftAverage``):

* ``chunk_starts`` cuts a long signal into overlapping chunks, so memory stays bounded for an hour-long
  input, and ``separate_waveform`` cross-fades the chunks' estimates back together (overlap-add);
* ``fit_to_mixture``: SI-SNR, the training loss, leaves each output's gain and sign free, so each chunk's
  estimates are scaled to add up to the chunk;
* ``match_order``: a model trained with PIT returns the speakers in an arbitrary order, so each chunk's
  order is aligned to the previous chunk's on the samples they share;
* ``ShiftAverage``: test-time averaging over input delays within one encoder hop.

Signals are ``(time,)`` (one mixture) or ``(n_src, time)`` (its estimates) at the model's sample rate.
A model here is any ``tasnet_edu.separator.Separator``: the functions read its ``sample_rate`` and ``L``,
``ShiftAverage`` also its ``stride``.
"""

from __future__ import annotations

import math

import torch
from tqdm.auto import tqdm

from tasnet_edu import metrics
from tasnet_edu.errors import CourseError
from tasnet_edu.separator import Separator, check_separator, copy_members
from tasnet_edu.utils import as_tensor, check_finite

CHUNK_SECONDS = 10.0  # model input per step; memory grows with this, not with the file's length
OVERLAP_SECONDS = 2.0  # shared by neighbouring chunks: permutation alignment + cross-fade


def check_long_enough(length: int, sample_rate: int, model: Separator, name: str) -> None:
    """Raise ``CourseError`` naming ``name`` when ``length`` samples at ``sample_rate`` Hz are shorter than
    one frame of ``model`` (its L samples at its own rate): there is nothing to separate."""
    frame, rate = model.L, model.sample_rate
    if length * rate < frame * sample_rate:
        ms = 1000 * length / sample_rate, 1000 * frame / rate
        raise CourseError(
            f"{name}: {length} sample(s) at {sample_rate} Hz ({ms[0]:.2f} ms) is shorter than one frame "
            f"of the model (L = {frame} samples at {rate} Hz = {ms[1]:.2f} ms)"
        )


def _crossfade(length: int, fade_in: int, fade_out: int) -> torch.Tensor:
    """Weights ``(length,)``: a raised-cosine rise over ``fade_in`` samples, 1, then a fall over ``fade_out``.

    A rise and a fall of the same length sum to exactly 1 sample by sample, and never reach 0, so dividing
    the overlap-add by the summed weights is always defined.
    """
    w = torch.ones(length)
    if fade_in:
        w[:fade_in] *= _ramp(fade_in)
    if fade_out:
        w[length - fade_out:] *= _ramp(fade_out).flip(0)
    return w


def _ramp(n: int) -> torch.Tensor:
    return 0.5 - 0.5 * torch.cos(math.pi * (torch.arange(n) + 0.5) / n)


def chunk_starts(length: int, chunk: int, overlap: int) -> list[int]:
    """Start samples of the chunks covering ``length`` samples, neighbours sharing at least ``overlap``.

    The last chunk is moved left to end exactly at the end of the signal, so every chunk is full length
    (a short last chunk would give the model little context); its overlap with the previous one is larger.
    """
    if length <= chunk:
        return [0]
    starts = list(range(0, length - chunk, chunk - overlap))
    return [*starts, length - chunk]


def match_order(current: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
    """The order of ``current``'s sources that matches ``previous``: ``current[order]`` lines up with it.

    Both are ``(n_src, time)`` estimates of two neighbouring chunks on the samples they share. The order with
    the highest SI-SNR between them — the criterion of utterance-level PIT — keeps each speaker on its own
    output. Where the shared samples are silent there is nothing to align on, and the model's order is kept
    (for speech, an overlap of a second or more rarely is). Returns a ``(n_src,)`` index tensor.
    """
    pairwise = metrics.pairwise_si_snr(current.unsqueeze(0), previous.unsqueeze(0))
    return metrics.best_permutation(pairwise)[0]


def fit_to_mixture(est: torch.Tensor, mix: torch.Tensor, max_similarity: float = 0.99) -> torch.Tensor:
    """Scale each estimate so that together they rebuild the mixture: ``est (n_src, time)``, ``mix (time,)``.

    SI-SNR, the training loss, ignores each output's gain *and sign*, so a trained model may return the
    speakers 80 times too loud, one of them upside down. Gains ``g`` minimising ``‖mix − Σ_k g_k est_k‖²``
    (least squares, one gain per source) restore the mixture's scale; scale-invariant scores do not change.
    When two estimates are nearly copies of each other (|cosine similarity| > ``max_similarity``) the split of
    the mixture between them is undetermined, and ``est`` is returned as it is.
    """
    gram = (est @ est.T).double()
    norms = gram.diagonal().sqrt().clamp_min(1e-12)
    similarity = gram / torch.outer(norms, norms)  # cosine similarity of the estimates
    off_diagonal = similarity - torch.diag(similarity.diagonal())
    if (gram.diagonal() <= 1e-12).any() or off_diagonal.abs().max() > max_similarity:
        return est
    gains = torch.linalg.solve(gram, (est @ mix).double())
    return est * gains.to(est.dtype)[:, None]


class ShiftAverage(torch.nn.Module):
    """Test-time shift averaging: ``model`` run on its input delayed by ``shifts`` evenly spaced fractions
    of one encoder hop, each delay undone, the passes averaged.

    A model with hop ``stride`` (L/2 for Conv-TasNet) sees a signal through frames that start every
    ``stride`` samples; delaying the input by a part of a hop shows it the same speech cut into frames at
    other places, and averaging the passes smooths the frame-boundary errors of the decoder's overlap-add,
    much as a smaller hop would (the paper finds that shorter windows L separate better). Before averaging,
    each pass is scaled to add up to the mixture (``fit_to_mixture``: SI-SNR training leaves gain and sign
    free) and put in the speaker order of the undelayed pass (``match_order``). It costs ``shifts`` forward
    passes; ``shifts=1`` gives the model's own estimates, only scaled to add up to the mixture.

    It is a ``Separator`` itself, of the model's ``sample_rate``, ``n_src``, ``stride``, ``L`` and ``config``.

    Args:
        model: a ``Separator``: maps ``(batch, time)`` to ``(batch, n_src, time)``; hops ``stride`` samples.
        shifts: passes, 1 to ``stride``; delays ``round(k * stride / shifts)`` for k = 0 … shifts − 1.
    """

    def __init__(self, model: Separator, shifts: int):
        super().__init__()
        check_separator(model, "shift averaging")
        if not 1 <= shifts <= model.stride:
            raise CourseError(f"shifts must be between 1 and the model's hop ({model.stride} samples), "
                              f"got {shifts}")
        self.model = model
        self.delays = [round(k * model.stride / shifts) for k in range(shifts)]
        copy_members(self, model)

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        """``mix`` ``(batch, time)`` → averaged estimates ``(batch, n_src, time)``."""
        time = mix.shape[-1]
        passes = []
        for delay in self.delays:
            est = self.model(torch.nn.functional.pad(mix, (delay, 0)))[..., delay:delay + time]
            est = torch.stack([fit_to_mixture(e, m) for e, m in zip(est, mix, strict=True)])
            if passes:
                est = torch.stack([e[match_order(e, first)] for e, first in zip(est, passes[0], strict=True)])
            passes.append(est)
        return torch.stack(passes).mean(0)


@torch.inference_mode()
def _run_model(model: Separator, chunk: torch.Tensor) -> torch.Tensor:
    """``chunk`` ``(time,)`` → estimates ``(n_src, time)`` on the CPU, float32."""
    device = next(model.parameters(), torch.empty(0)).device
    est = model(chunk.to(device).unsqueeze(0))
    if est.dim() != 3 or est.shape[0] != 1 or est.shape[-1] != chunk.shape[-1]:
        raise CourseError(
            f"the model returned shape {tuple(est.shape)} for an input of {chunk.shape[-1]} samples; "
            "expected (1, n_src, time)"
        )
    return est[0].float().cpu()


def separate_waveform(
    wav,
    model: Separator,
    *,
    sample_rate: int | None = None,
    chunk_seconds: float = CHUNK_SECONDS,
    overlap_seconds: float = OVERLAP_SECONDS,
    progress: bool = False,
    name: str = "input",
) -> torch.Tensor:
    """Separate a mono waveform of any length at the model's rate.

    Args:
        wav: ``(time,)`` array or tensor, sampled at the model's rate.
        model: a ``Separator``: maps ``(batch, time)`` to ``(batch, n_src, time)``; its ``sample_rate`` and
            frame length ``L`` are read (an object lacking a member: ``CourseError`` naming it).
        sample_rate: rate of ``wav`` in Hz, used only to turn seconds into samples; the model's by default.
        chunk_seconds: length of each piece given to the model; memory is bounded by it.
        overlap_seconds: samples shared by neighbouring chunks, used to align their speaker order and to
            cross-fade them; a second or more (about the receptive field of the paper's model, 1.53 s)
            gives both a reliable alignment and a seamless join.
        progress: show a tqdm bar when there is more than one chunk.
        name: how errors and the bar refer to the input.

    Returns:
        ``(n_src, time)`` float32 tensor on the CPU: source ``k`` is the same speaker in every chunk.

    Example:
        >>> est = separate_waveform(mix, model, chunk_seconds=4, overlap_seconds=1)  # doctest: +SKIP
    """
    check_separator(model, "separate_waveform")
    sample_rate = sample_rate or model.sample_rate
    wav = as_mono(wav, name)
    check_long_enough(wav.numel(), sample_rate, model, name)
    frame = model.L
    chunk, overlap = round(chunk_seconds * sample_rate), round(overlap_seconds * sample_rate)
    if not 0 < overlap < chunk or chunk < frame:
        raise CourseError(
            f"chunks of {chunk_seconds} s overlapping by {overlap_seconds} s are not usable: need "
            f"0 < overlap < chunk and a chunk of at least one frame ({frame} samples)"
        )

    length = wav.numel()
    starts = chunk_starts(length, chunk, overlap)
    ends = [min(start + chunk, length) for start in starts]
    total = weight = previous = None
    bar = tqdm(starts, desc=name, unit="chunk", disable=not progress or len(starts) == 1)
    for i, (start, end) in enumerate(zip(bar, ends, strict=True)):
        est = fit_to_mixture(_run_model(model, wav[start:end]), wav[start:end])
        if total is None:
            total, weight = torch.zeros(est.shape[0], length), torch.zeros(length)
        shared_before = ends[i - 1] - start if i else 0
        shared_after = end - starts[i + 1] if i + 1 < len(starts) else 0
        if shared_before:
            est = est[match_order(est[:, :shared_before], previous[:, -shared_before:])]
        w = _crossfade(end - start, shared_before, shared_after)
        total[:, start:end] += est * w
        weight[start:end] += w
        previous = est
    return total / weight


def as_mono(wav, name: str) -> torch.Tensor:
    """``wav`` (array or tensor) as a float tensor ``(time,)``; a ``CourseError`` naming ``name`` unless it is
    one-dimensional and finite."""
    wav = as_tensor(wav)
    if wav.dim() != 1:
        raise CourseError(f"{name}: expected a mono waveform shaped (time,), got shape {tuple(wav.shape)}")
    check_finite(wav, name)
    return wav
