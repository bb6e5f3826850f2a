"""Encoders and decoders: the representation a separator works in.

An encoder turns a waveform ``(batch, time)`` into frames ``(batch, N, frames)``: N basis coefficients for
each window of L samples, windows advancing by ``stride`` samples. Its decoder maps ``(batch, N, frames)``
back to ``(batch, time)`` by overlap-add. Three families share that interface:

- ``LearnedEncoder`` / ``LearnedDecoder``: free filterbanks learned with the separator (Conv-TasNet).
- ``STFTEncoder`` / ``STFTDecoder``: the fixed short-time Fourier transform, as N = L real channels
  (real and imaginary parts), so a separator's mask can act on it exactly as on a learned code.
- ``GatedEncoder`` / ``GatedDecoder``: TasNet's non-negative gated encoder on unit-norm segments
  (Luo & Mesgarani, ICASSP 2018); its decoder multiplies each segment's norm back.

``encoder_pair(kind, N, L, stride)`` builds either of the first two pairs by name, and the helpers at the
end (``code_ratio_masks``, ``oracle_code_separate``, ``inverse_decoder``, ``filter_responses``) compare bases
on equal terms.

The learned pair also runs on a stream (``stream()``, one example a few frames at a time, for
``tasnet_edu.streaming``) and gives its weights as a ``FilterbankSpec`` (``describe()``, for the ONNX
writer ``tasnet_edu.compiled``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tasnet_edu import SAMPLE_RATE
from tasnet_edu.errors import CourseError
from tasnet_edu.utils import check_waveform_batch


def pad_to_frames(x: torch.Tensor, kernel_size: int, stride: int) -> tuple[torch.Tensor, int]:
    """Right-pad ``x`` (..., time) with zeros so windows of ``kernel_size`` hopping by ``stride`` tile it.

    Returns the padded signal and the number of zeros added; trim that many samples from the decoder's
    output to get the input length back. Padding only on the right keeps a causal model causal.

    Example:
        >>> padded, pad = pad_to_frames(torch.zeros(1, 100), kernel_size=16, stride=8)
        >>> padded.shape, pad   # 12 frames of 16 samples hopping by 8 need 104 samples
        (torch.Size([1, 104]), 4)
    """
    time = x.shape[-1]
    frames = max(1, -(-(time - kernel_size) // stride) + 1)
    pad = (frames - 1) * stride + kernel_size - time
    return F.pad(x, (0, pad)), pad


def _check_waveform(x: torch.Tensor, L: int, who: str) -> None:
    """Raise ``CourseError`` unless ``x`` is a ``(batch, time)`` tensor holding at least one window."""
    check_waveform_batch(x, who, L, f"window (L={L})", "; pad it first with pad_to_frames(x, L, stride)")


def _check_codes(w: torch.Tensor, N: int, who: str) -> None:
    if not isinstance(w, torch.Tensor) or w.dim() != 3 or w.shape[1] != N:
        shape = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
        raise CourseError(f"{who} expects codes shaped (batch, N={N}, frames), got {shape}")


def _check_stride(L: int, stride: int) -> None:
    if L < 2 or not 1 <= stride <= L:
        raise CourseError(f"need a window L >= 2 and a stride between 1 and L, got L={L}, stride={stride}")


@dataclass(frozen=True)
class FilterbankSpec:
    """A learned encoder's or decoder's weights: ``weight (N, 1, L)``, its N filters (encoder) or basis
    signals (decoder) of L samples, on frames that hop by ``stride``; ``relu``: the encoder's codes go
    through ReLU (never for a decoder)."""

    weight: torch.Tensor
    stride: int
    relu: bool = False


class LearnedEncoder(nn.Module):
    """Free (learned) analysis filterbank: a 1-D convolution with N filters of L samples, stride L/2, no bias.

    Args:
        N: number of basis filters.
        L: filter length in samples (16 = 2 ms at 8 kHz in Conv-TasNet).
        stride: hop between frames; L // 2 (50 % overlap) by default.
        relu: apply ReLU to the coefficients (non-negative codes, as in TasNet; optional in Conv-TasNet,
            whose encoder is linear).

    Shapes: ``(batch, time) → (batch, N, frames)``, ``frames = (time - L) // stride + 1``.
    """

    def __init__(self, N: int, L: int, stride: int | None = None, relu: bool = True):
        super().__init__()
        self.N, self.L, self.stride = N, L, stride or L // 2
        _check_stride(L, self.stride)
        self.conv = nn.Conv1d(1, N, L, stride=self.stride, bias=False)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_waveform(x, self.L, type(self).__name__)
        w = self.conv(x.unsqueeze(1))
        return F.relu(w) if self.relu else w

    def stream(self):
        """This encoder on a stream: a function ``samples ((n − 1)·stride + L,) → codes (N, n)`` of the n
        frames the samples hold, as one matrix product (the same numbers as ``forward``, without
        ``conv1d``'s fixed CPU cost per call). It keeps nothing: the caller keeps a partial frame's samples.
        """
        basis = self.conv.weight.detach()[:, 0, :]  # U: (N, L)

        def codes(samples: torch.Tensor) -> torch.Tensor:
            w = basis @ samples.unfold(0, self.L, self.stride).T
            return F.relu(w) if self.relu else w

        return codes

    def describe(self) -> FilterbankSpec:
        """``FilterbankSpec`` of this encoder: its filters (a detached view), hop and ReLU."""
        return FilterbankSpec(self.conv.weight.detach(), self.stride, self.relu)


class LearnedDecoder(nn.Module):
    """Free synthesis filterbank: a transposed 1-D convolution (overlap-add of N learned basis signals).

    Shapes: ``(batch, N, frames) → (batch, time)`` with ``time = (frames - 1) * stride + L``.
    """

    def __init__(self, N: int, L: int, stride: int | None = None):
        super().__init__()
        self.N, self.L, self.stride = N, L, stride or L // 2
        _check_stride(L, self.stride)
        self.deconv = nn.ConvTranspose1d(N, 1, L, stride=self.stride, bias=False)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        _check_codes(w, self.N, type(self).__name__)
        return self.deconv(w).squeeze(1)

    def stream(self, signals: int = 1) -> _DecoderStream:
        """This decoder on a stream of ``signals`` signals at once: ``(signals, N, n) → (signals, n·stride)``
        per call, the samples no later frame adds to; the overlap-add tail waits in ``.tail``."""
        return _DecoderStream(self, signals)

    def describe(self) -> FilterbankSpec:
        """``FilterbankSpec`` of this decoder: its basis signals (a detached view) and hop."""
        return FilterbankSpec(self.deconv.weight.detach(), self.stride)


class _DecoderStream:
    """A ``LearnedDecoder``'s overlap-add over a stream. Each frame's L samples are its codes times the
    basis signals; the last L − stride samples of the newest frame are not final until the next frame's
    first samples are added: they wait in ``tail`` ``(signals, L − stride)``, zeros at the start.

    Shapes: codes ``(signals, N, n) → (signals, n·stride)``.
    """

    def __init__(self, decoder: LearnedDecoder, signals: int):
        self.basis = decoder.deconv.weight.detach()[:, 0, :].T  # V: (L, N)
        self.L, self.stride = decoder.L, decoder.stride
        self.tail = self.basis.new_zeros(signals, self.L - self.stride)

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        n = w.shape[-1]
        span = (n - 1) * self.stride + self.L
        segments = self.basis @ w  # (signals, L, n)
        out = F.fold(segments, (1, span), (1, self.L), stride=(1, self.stride)).view(len(w), span)
        out[:, : self.L - self.stride] += self.tail
        final, self.tail = out[:, : n * self.stride], out[:, n * self.stride:]
        return final


# --- the fixed STFT pair -------------------------------------------------------------------------------


def sine_window(L: int) -> torch.Tensor:
    """``sin(π (n + ½) / L)``, n = 0 … L-1: a square-root Hann window shifted by half a sample.

    It never reaches zero (so every sample, the first and last included, can be reconstructed), and at
    50 % overlap its square overlap-adds to exactly 1 (sin² + cos² = 1, the Princen–Bradley condition).
    """
    return torch.sin(math.pi * (torch.arange(L, dtype=torch.float64) + 0.5) / L)


def real_dft_basis(L: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The orthonormal real DFT basis of length L, rows ordered by frequency.

    Row for bin k: ``cos(2πkn/L)`` (the real part of the DFT) and, for 0 < k < L/2, ``-sin(2πkn/L)``
    (the imaginary part); DC and, for even L, the Nyquist bin have no imaginary part. That is exactly L rows,
    scaled so the ``(L, L)`` matrix is orthogonal: the STFT is then an invertible change of basis per frame.

    Returns ``(basis (L, L), bins (L,))`` with ``bins[i]`` the DFT bin index k of row i.
    """
    n = torch.arange(L, dtype=torch.float64)
    rows, bins = [], []
    for k in range(L // 2 + 1):
        edge = k == 0 or 2 * k == L
        scale = math.sqrt((1.0 if edge else 2.0) / L)
        rows.append(scale * torch.cos(2 * math.pi * k * n / L))
        bins.append(k)
        if not edge:
            rows.append(-scale * torch.sin(2 * math.pi * k * n / L))
            bins.append(k)
    return torch.stack(rows), torch.tensor(bins)


class STFTEncoder(nn.Module):
    """Fixed STFT analysis with the learned encoder's interface: N = L real channels per frame.

    Each frame of L samples is multiplied by a sine window (``sine_window``) and projected on the orthonormal
    real DFT basis (``real_dft_basis``): channel pairs are the real and imaginary parts of bin k, ordered by
    frequency. A mask in [0, 1] per channel is therefore as meaningful here as on a learned code.

    Args:
        L: window length in samples (also the number of channels N).
        stride: hop between frames; L // 2 by default.

    Shapes: ``(batch, time) → (batch, N=L, frames)``, ``frames = (time - L) // stride + 1``.
    """

    def __init__(self, L: int, stride: int | None = None):
        super().__init__()
        self.N, self.L, self.stride = L, L, stride or L // 2
        _check_stride(L, self.stride)
        basis, bins = real_dft_basis(L)
        self.register_buffer("weight", (basis * sine_window(L)).float().unsqueeze(1))  # (N, 1, L)
        self.register_buffer("bins", bins)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_waveform(x, self.L, type(self).__name__)
        return F.conv1d(x.unsqueeze(1), self.weight, stride=self.stride)


class STFTDecoder(nn.Module):
    """Inverse of ``STFTEncoder``: windowed overlap-add, divided by the summed squared windows.

    Dividing by the window envelope (the least-squares inverse STFT) makes ``decoder(encoder(x)) == x`` for
    every sample, the first and last half-frames included, and for any stride up to L.

    Args:
        L: window length in samples (N = L channels).
        stride: hop between frames; L // 2 by default.

    Shapes: ``(batch, N=L, frames) → (batch, time)`` with ``time = (frames - 1) * stride + L``.
    """

    def __init__(self, L: int, stride: int | None = None):
        super().__init__()
        self.N, self.L, self.stride = L, L, stride or L // 2
        _check_stride(L, self.stride)
        basis, _ = real_dft_basis(L)
        window = sine_window(L)
        self.register_buffer("weight", (basis * window).float().unsqueeze(1))  # (N, 1, L)
        self.register_buffer("window_sq", (window**2).float().view(1, 1, L))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        _check_codes(w, self.N, type(self).__name__)
        y = F.conv_transpose1d(w, self.weight, stride=self.stride)
        ones = torch.ones(1, 1, w.shape[-1], dtype=w.dtype, device=w.device)
        envelope = F.conv_transpose1d(ones, self.window_sq.to(w.dtype), stride=self.stride)
        return (y / envelope).squeeze(1)


def encoder_pair(kind: str, N: int, L: int, stride: int | None = None) -> tuple[nn.Module, nn.Module]:
    """``(encoder, decoder)`` of one family, so one separator can sit behind either.

    Args:
        kind: ``"stft"`` (fixed; needs ``N == L``) or ``"learned"`` (free, linear: no ReLU, so that codes of
            a sum are the sum of codes, as for the STFT).
        N: channels; L: window in samples; stride: hop (L // 2 by default).

    Example:
        >>> enc, dec = encoder_pair("learned", N=64, L=16)
        >>> w = enc(torch.randn(1, 8000))      # codes (batch, N, frames): 8000 samples, hop 8
        >>> w.shape, dec(w).shape
        (torch.Size([1, 64, 999]), torch.Size([1, 8000]))
    """
    if kind == "stft":
        if N != L:
            raise CourseError(f"the STFT basis has exactly N = L channels; got N={N}, L={L}")
        return STFTEncoder(L, stride), STFTDecoder(L, stride)
    if kind == "learned":
        return LearnedEncoder(N, L, stride, relu=False), LearnedDecoder(N, L, stride)
    raise CourseError(f"unknown encoder kind {kind!r}; choose 'stft' or 'learned'")



def inverse_decoder(encoder: LearnedEncoder) -> LearnedDecoder:
    """The decoder that undoes a linear ``LearnedEncoder`` exactly: its filters' pseudo-inverse.

    A frame's code is ``w = U x`` with U the ``(N, L)`` filters; for N ≥ L filters of full rank,
    ``pinv(U) w = x`` gives the frame back. Each sample lies in ``L / stride`` frames, so each frame is
    weighted ``stride / L`` before overlap-add. Away from the first and last frame, ``decoder(encoder(x))``
    is ``x``: an oracle mask in the encoder's basis is then scored without a decoder trained for other masks.

    Example:
        >>> enc = LearnedEncoder(64, 16, relu=False)
        >>> x = torch.randn(1, 800)
        >>> error = (inverse_decoder(enc)(enc(x)) - x)[..., 16:-16].abs().max()
        >>> bool(error < 1e-4)
        True
    """
    if encoder.relu:
        raise CourseError("only a linear encoder (relu=False) can be inverted: ReLU drops the negative codes")
    if encoder.L % encoder.stride:
        raise CourseError(f"the window L={encoder.L} must be a multiple of the hop {encoder.stride}")
    decoder = LearnedDecoder(encoder.N, encoder.L, encoder.stride)
    basis = encoder.conv.weight.detach()[:, 0, :].double()                    # U: (N, L)
    with torch.no_grad():
        inverse = torch.linalg.pinv(basis).T * encoder.stride / encoder.L     # (N, L)
        decoder.deconv.weight.copy_(inverse[:, None, :].to(decoder.deconv.weight.dtype))
    return decoder

# --- TasNet's gated encoder ----------------------------------------------------------------------------


class GatedEncoder(nn.Module):
    """TasNet's non-negative encoder (Luo & Mesgarani, ICASSP 2018).

    Each segment x_k of L samples is first divided by its L2 norm, then coded as
    ``w_k = ReLU(U x̂_k) ⊙ sigmoid(V x̂_k)`` with ``x̂_k = x_k / (‖x_k‖₂ + eps)``: N non-negative weights
    (ReLU), each gated by a sigmoid. The codes do not depend on the loudness of the segment; the norms are
    returned so that ``GatedDecoder`` can multiply them back.

    Args:
        N: number of basis signals (500 in the paper).
        L: segment length in samples (40 = 5 ms at 8 kHz in the paper).
        stride: hop between segments; L by default (the paper's non-overlapping segments).
        eps: added to each norm so that a silent segment gives zero codes, not NaN.

    Shapes: ``(batch, time) → (codes (batch, N, frames), norms (batch, 1, frames))``.
    """

    def __init__(self, N: int, L: int, stride: int | None = None, eps: float = 1e-8):
        super().__init__()
        self.N, self.L, self.stride, self.eps = N, L, stride or L, eps
        _check_stride(L, self.stride)
        self.conv_U = nn.Conv1d(1, N, L, stride=self.stride, bias=False)
        self.conv_V = nn.Conv1d(1, N, L, stride=self.stride, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _check_waveform(x, self.L, type(self).__name__)
        norms = torch.linalg.vector_norm(x.unfold(-1, self.L, self.stride), dim=-1).unsqueeze(1)
        # The convolution is linear, so convolving x and then dividing frame k by its norm equals
        # convolving the normalised segment; this keeps nn.Conv1d's weights (N, 1, L) like the other encoders.
        scale = 1.0 / (norms + self.eps)
        x = x.unsqueeze(1)
        return F.relu(self.conv_U(x) * scale) * torch.sigmoid(self.conv_V(x) * scale), norms


class GatedDecoder(LearnedDecoder):
    """TasNet's linear decoder: N learned basis signals of L samples, each segment scaled by its norm.

    Because the decoder is linear, scaling the codes of frame k by ``norms[k]`` scales that frame's output
    segment by the same factor: the normalisation of ``GatedEncoder`` is undone exactly.

    Args:
        N, L: as for ``GatedEncoder``; stride: L by default (non-overlapping segments).

    Shapes: ``(codes (batch, N, frames), norms (batch, 1, frames)) → (batch, time)``.
    """

    def __init__(self, N: int, L: int, stride: int | None = None):
        super().__init__(N, L, stride or L)

    def forward(self, w: torch.Tensor, norms: torch.Tensor) -> torch.Tensor:
        return super().forward(w * norms)

    def stream(self, signals: int = 1):
        """Not streamed: the inherited stream would decode without the norms, so it refuses."""
        raise CourseError("TasNet's gated decoder is not streamed here (only Conv-TasNet's decoder is)")


# --- comparing bases: oracle masks and filter shapes ---------------------------------------------------


def code_ratio_masks(source_codes: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Oracle ratio masks in any basis: ``M_i = |W_i| / Σ_j |W_j|`` per channel and frame.

    ``W_i`` are the codes of source i in the basis. For a linear encoder the mixture's code is ``Σ_i W_i``,
    and these masks are in [0, 1] and sum to one over sources (like a separator's softmax). In the STFT basis
    it is the ratio mask applied to real and imaginary parts separately.

    Shapes: ``(..., n_src, N, frames) → (..., n_src, N, frames)``.
    """
    mag = source_codes.abs()
    return mag / (mag.sum(dim=-3, keepdim=True) + eps)


def oracle_code_separate(encoder: nn.Module, decoder: nn.Module, mix: torch.Tensor,
                         sources: torch.Tensor) -> torch.Tensor:
    """Separate ``mix`` with the oracle ``code_ratio_masks`` of ``sources`` in the basis of ``encoder``.

    The sources' codes give the masks; the masks multiply the mixture's code; the decoder synthesises each
    estimate. Differentiable in the encoder's and decoder's weights, so a basis can be learned for it.

    Shapes: ``mix (batch, time)``, ``sources (batch, n_src, time)`` → estimates ``(batch, n_src, time)``.
    """
    if sources.dim() != 3 or mix.dim() != 2 or sources.shape[::2] != mix.shape:
        raise CourseError(f"need mix (batch, time) and sources (batch, n_src, time) of the same length, "
                          f"got {tuple(mix.shape)} and {tuple(sources.shape)}")
    batch, n_src, time = sources.shape
    mix, _ = pad_to_frames(mix, encoder.L, encoder.stride)
    sources, _ = pad_to_frames(sources, encoder.L, encoder.stride)
    codes = encoder(sources.reshape(batch * n_src, -1))
    masks = code_ratio_masks(codes.view(batch, n_src, *codes.shape[1:]))
    est = decoder((masks * encoder(mix).unsqueeze(1)).flatten(0, 1))
    return est.view(batch, n_src, -1)[..., :time]


def filter_responses(weight: torch.Tensor, sample_rate: int = SAMPLE_RATE, n_fft: int = 256
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Magnitude responses of N filters and their order by centre frequency.

    Args:
        weight: filters ``(N, L)`` or a conv weight ``(N, 1, L)``.
        sample_rate: to express frequencies in Hz.
        n_fft: zero-padded FFT size (≥ L) for a smooth response.

    Returns ``(freqs (n_fft//2+1,) in Hz, responses (N, n_fft//2+1) in dB re the largest, order (N,))``;
    ``order`` sorts the filters by the frequency of their response's peak (their centre frequency).
    """
    w = weight.detach().reshape(weight.shape[0], -1).double().cpu()
    mag = torch.fft.rfft(w, n=max(n_fft, w.shape[-1])).abs()
    freqs = torch.fft.rfftfreq(max(n_fft, w.shape[-1]), d=1.0 / sample_rate)
    db = 20 * torch.log10(mag / mag.max().clamp_min(1e-12) + 1e-6)
    order = torch.argsort(freqs[mag.argmax(dim=-1)], stable=True)
    return freqs, db.float(), order
