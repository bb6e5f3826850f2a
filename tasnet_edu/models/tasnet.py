"""TasNet: time-domain audio separation with a gated encoder and a deep LSTM (Luo & Mesgarani, ICASSP 2018).

The mixture is cut into segments of L samples (L = 40: 5 ms at 8 kHz, non-overlapping as in the paper).
``GatedEncoder`` codes each unit-norm segment as N non-negative weights; a deep LSTM reads the sequence of
codes and outputs one mask per source (a softmax over sources, so the masks share out each weight); the
masked codes go through ``GatedDecoder``, which synthesises each segment from N learned basis signals and
multiplies the segment's norm back. The latency is one segment: L samples, plus the look-ahead of a
bidirectional LSTM when ``bidirectional=True``.

The same separator can sit behind the fixed STFT pair or a free linear pair instead (``encoder="stft"`` /
``"learned"``), which is how chapter 05 compares representations with everything else held equal.
"""

from __future__ import annotations

import torch
from torch import nn

from tasnet_edu import SAMPLE_RATE
from tasnet_edu.encoders import GatedDecoder, GatedEncoder, encoder_pair, pad_to_frames
from tasnet_edu.errors import CourseError
from tasnet_edu.utils import check_mixture


class LSTMSeparator(nn.Module):
    """Deep LSTM mask estimator: layer norm → stacked (B)LSTM with residual links → linear → softmax.

    Args:
        N: channels of the codes it reads.
        n_src: number of masks.
        H: hidden units per direction of each LSTM layer.
        layers: stacked LSTM layers; from the second on each adds its input to its output (identity skip
            connection, which the paper uses to train the deep stack).
        bidirectional: read the sequence both ways (non-causal) or left to right only (causal).

    Shapes: codes ``(batch, N, frames)`` → masks ``(batch, n_src, N, frames)``, non-negative, summing to 1
    over sources.
    """

    def __init__(self, N: int, n_src: int, H: int, layers: int, bidirectional: bool):
        super().__init__()
        self.N, self.n_src = N, n_src
        width = H * (2 if bidirectional else 1)
        self.norm = nn.LayerNorm(N)  # per frame over channels: causal, unlike a norm over time
        self.lstms = nn.ModuleList(
            nn.LSTM(N if i == 0 else width, H, batch_first=True, bidirectional=bidirectional)
            for i in range(layers)
        )
        self.fc = nn.Linear(width, n_src * N)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        batch, N, frames = w.shape
        h = self.norm(w.transpose(1, 2))
        for i, lstm in enumerate(self.lstms):
            out = lstm(h)[0]
            h = out if i == 0 else h + out
        scores = self.fc(h).view(batch, frames, self.n_src, N)
        return scores.softmax(dim=2).permute(0, 2, 3, 1)


class TasNet(nn.Module):
    """TasNet: gated encoder → deep LSTM masks → linear decoder, end to end on waveforms.

    Args:
        n_src: number of sources to separate.
        N: number of basis signals (encoder channels); 500 in the paper. Must equal L for ``encoder="stft"``.
        L: segment (window) length in samples; 40 = 5 ms at 8 kHz, the paper's choice.
        stride: hop between segments; L for the gated encoder (the paper's non-overlapping segments),
            L // 2 for the STFT and learned pairs.
        H: LSTM hidden units per direction (500 in the paper).
        layers: stacked LSTM layers (4 in the paper).
        bidirectional: BLSTM (non-causal, the paper's best) or LSTM (causal, for real time).
        encoder: ``"gated"`` (TasNet's), ``"learned"`` (free linear pair) or ``"stft"`` (fixed STFT pair).
        sample_rate: Hz, the rate of its audio (keyword only; 8 kHz in the paper).

    Defaults are small enough to train on a CPU in a notebook; ``TasNet.paper()`` gives the paper's sizes.

    Shapes: ``forward((batch, time)) → (batch, n_src, time)`` for any length (padded to whole segments,
    then trimmed back); ``encode(mix) → (codes (batch, N, frames), norms (batch, 1, frames) or None)``;
    ``masks(mix) → (batch, n_src, N, frames)``.

    Example:
        >>> model = TasNet()                   # gated encoder, N = 64, L = 40 (5 ms), 2 BLSTM layers
        >>> model(torch.randn(3, 8000)).shape
        torch.Size([3, 2, 8000])
    """

    def __init__(self, n_src: int = 2, N: int = 64, L: int = 40, stride: int | None = None, H: int = 64,
                 layers: int = 2, bidirectional: bool = True, encoder: str = "gated", *,
                 sample_rate: int = SAMPLE_RATE):
        super().__init__()
        if n_src < 1 or N < 1 or H < 1 or layers < 1:
            raise CourseError(f"TasNet needs positive n_src, N, H, layers; got {n_src}, {N}, {H}, {layers}")
        self.n_src, self.N, self.L, self.kind = n_src, N, L, encoder
        self.sample_rate = sample_rate  # Hz, what it is trained for; not in config (a checkpoint records it)
        # what the trainer stores in a checkpoint to rebuild this model
        self.config = dict(n_src=n_src, N=N, L=L, stride=stride, H=H, layers=layers,
                           bidirectional=bidirectional, encoder=encoder)
        if encoder == "gated":
            self.encoder, self.decoder = GatedEncoder(N, L, stride), GatedDecoder(N, L, stride)
        else:
            self.encoder, self.decoder = encoder_pair(encoder, N, L, stride)
        self.stride = self.encoder.stride
        self.separator = LSTMSeparator(N, n_src, H, layers, bidirectional)

    @classmethod
    def paper(cls, n_src: int = 2, causal: bool = False) -> TasNet:
        """The paper's sizes: N = 500, L = 40 (5 ms), 4 LSTM layers of 500 units; BLSTM unless causal."""
        return cls(n_src=n_src, N=500, L=40, H=500, layers=4, bidirectional=not causal)

    def encode(self, mix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Codes of ``mix`` (padded to whole segments) and, for the gated encoder, each segment's norm."""
        check_mixture(mix, "TasNet")
        x, _ = pad_to_frames(mix, self.L, self.stride)
        if self.kind == "gated":
            return self.encoder(x)
        return self.encoder(x), None

    def masks(self, mix: torch.Tensor) -> torch.Tensor:
        """The separator's masks ``(batch, n_src, N, frames)`` for ``mix`` ``(batch, time)``."""
        return self.separator(self.encode(mix)[0])

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        w, norms = self.encode(mix)
        d = (self.separator(w) * w.unsqueeze(1)).flatten(0, 1)  # masked codes, (batch * n_src, N, frames)
        if norms is None:
            est = self.decoder(d)
        else:
            est = self.decoder(d, norms.repeat_interleave(self.n_src, dim=0))
        return est.view(mix.shape[0], self.n_src, -1)[..., : mix.shape[-1]]
