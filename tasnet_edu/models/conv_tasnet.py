"""Conv-TasNet (Luo & Mesgarani, "Conv-TasNet: Surpassing Ideal Time–Frequency Magnitude Masking for Speech
Separation", IEEE/ACM TASLP 27(8), 2019): a learned encoder, a TCN that estimates one mask per speaker on the
encoder's output, and a learned decoder that turns each masked representation back into a waveform.

Read top to bottom: ``ConvTasNet.forward`` is encode → masks → decode. ``ConvTasNet.stream()`` runs the
same layers on a stream, a few frames at a time (a causal cLN model), and ``ConvTasNet.describe()`` gives
every weight as a ``ConvTasNetSpec``, which the ONNX writer (``tasnet_edu.compiled``) reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tasnet_edu import SAMPLE_RATE
from tasnet_edu.encoders import FilterbankSpec, LearnedDecoder, LearnedEncoder, pad_to_frames
from tasnet_edu.errors import CourseError
from tasnet_edu.tcn import TCN, BlockSpec, ConvSpec, NormSpec, make_norm, pointwise_stream
from tasnet_edu.utils import check_mixture

MASK_ACTIVATIONS = ("relu", "sigmoid", "softmax")
#: The CPU-sized configuration of ``ConvTasNet.tiny`` (and of the ``cpu-tiny`` training preset).
TINY = dict(N=64, L=16, B=32, H=64, Sc=32, P=3, X=7, R=2)


class ConvTasNet(nn.Module):
    """Conv-TasNet: ``(batch, time) → (batch, n_src, time)`` for any input length of at least L samples.

    The paper's symbols (defaults = its best non-causal configuration, 8 kHz audio):

    * **N** = 512 — number of encoder basis filters (channels of the encoder output and of each mask);
    * **L** = 16 — encoder/decoder filter length in samples (2 ms); frames hop by L/2 samples;
    * **B** = 128 — channels of the bottleneck 1×1 conv and of each block's residual path;
    * **H** = 512 — channels inside each convolutional block;
    * **Sc** = 128 — channels of each block's skip-connection output;
    * **P** = 3 — kernel size of the depthwise (dilated) convolutions;
    * **X** = 8 — blocks per repeat, dilations 1, 2, …, 2^(X−1);
    * **R** = 3 — number of repeats.

    Other arguments: ``n_src`` speakers; ``norm`` ``"gLN"`` (global layer norm, paper default), ``"cLN"``
    (cumulative, causal) or ``"BN"``; ``causal=True`` makes every convolution look only at the past (left
    padding only) and needs ``norm="cLN"``; ``mask_act`` ``"relu"`` (default here, as in torchaudio's
    re-implementation, which found it better), ``"sigmoid"`` (the paper's choice) or ``"softmax"``
    (masks summing to one over speakers); ``sample_rate`` (Hz, keyword only) the rate of its audio.

    The encoder is linear. The paper's eq. (1) writes it ``w = H(xU)`` with H "an optional nonlinear
    function" (ReLU in the earlier TasNet), and its abstract calls Conv-TasNet's encoder "linear"; masks
    then act on a signed representation.

    Parameter count of the paper configuration: **4,984,881**. The paper reports 5.1 M; the exact 5,050,545
    is that of the authors' released code, which also builds the residual 1×1 conv of the TCN's very last
    block, whose output feeds nothing: it never gets a gradient, so it is dead weight (65,664 parameters and
    1.4 % of the TCN's multiply-adds). We drop it. Everything
    else (encoder 8,192, bottleneck with its input layer norm 66,688, TCN, PReLU + mask 1×1 conv 132,097,
    decoder 8,192) matches the paper's layout.

    Receptive field (``.receptive_field``, in samples): one mask frame sees ``1 + R·(P−1)·(2^X−1)`` frames,
    i.e. 1531 frames = 12,256 samples = 1.53 s for the paper configuration (gLN itself sees the whole
    utterance; the receptive field counts the convolutions).

    Causality: with ``causal=True`` an output sample at time s depends on input samples before s + L only
    (an encoder frame that covers s reaches at most L − 1 samples ahead): a latency of L samples (2 ms).

    Use ``ConvTasNet.paper()`` for the paper configuration and ``ConvTasNet.tiny()`` for a CPU-sized one;
    ``model.config`` holds the constructor arguments (``ConvTasNet(**model.config)`` rebuilds it).

    Example:
        >>> from tasnet_edu.utils import count_parameters
        >>> count_parameters(ConvTasNet.paper()), ConvTasNet.paper().receptive_field
        (4984881, 12256)
        >>> ConvTasNet.tiny()(torch.randn(2, 8000)).shape   # (batch, time) → (batch, n_src, time)
        torch.Size([2, 2, 8000])
    """

    def __init__(
        self,
        n_src: int = 2,
        N: int = 512,
        L: int = 16,
        B: int = 128,
        H: int = 512,
        Sc: int = 128,
        P: int = 3,
        X: int = 8,
        R: int = 3,
        norm: str = "gLN",
        causal: bool = False,
        mask_act: str = "relu",
        *,
        sample_rate: int = SAMPLE_RATE,
    ):
        super().__init__()
        if mask_act not in MASK_ACTIVATIONS:
            raise CourseError(f"mask_act must be one of {MASK_ACTIVATIONS}, got {mask_act!r}")
        if causal and norm == "gLN":
            raise CourseError("causal=True needs norm='cLN': gLN averages over future frames")
        if n_src < 1 or L < 2:
            raise CourseError(f"need n_src ≥ 1 and L ≥ 2, got n_src={n_src}, L={L}")
        self.config = dict(
            n_src=n_src, N=N, L=L, B=B, H=H, Sc=Sc, P=P, X=X, R=R, norm=norm, causal=causal, mask_act=mask_act
        )
        self.n_src, self.N, self.L, self.mask_act = n_src, N, L, mask_act
        self.sample_rate = sample_rate  # Hz, what it is trained for; not in config (a checkpoint records it)
        self.encoder = LearnedEncoder(N, L, relu=False)
        # The separator's input: layer norm of the encoder output, then a 1×1 bottleneck conv N → B.
        self.bottleneck = nn.Sequential(make_norm(norm, N), nn.Conv1d(N, B, 1))
        self.tcn = TCN(B, H, Sc, P, X, R, norm, causal)
        # PReLU on the summed skip connections, then one 1×1 conv producing n_src masks of N channels.
        self.mask_conv = nn.Sequential(nn.PReLU(), nn.Conv1d(Sc, n_src * N, 1))
        self.decoder = LearnedDecoder(N, L)
        self.stride = self.encoder.stride
        self.receptive_field = (self.tcn.receptive_field - 1) * self.stride + L

    @classmethod
    def paper(cls, **overrides) -> ConvTasNet:
        """The paper's best configuration (N=512 L=16 B=128 H=512 Sc=128 P=3 X=8 R=3, gLN, non-causal)."""
        return cls(**overrides)

    @classmethod
    def tiny(cls, **overrides) -> ConvTasNet:
        """A CPU-sized model: N=64 L=16 B=32 H=64 Sc=32 P=3 X=7 R=2 (101,405 parameters; receptive field
        4080 samples = 0.51 s at 8 kHz).

        Same architecture, small enough to train for a few minutes on a laptop CPU.
        """
        return cls(**{**TINY, **overrides})

    def encode(self, mix: torch.Tensor) -> torch.Tensor:
        """Encoder output ``w`` (paper eq. 1) of the mixture padded to whole frames.

        Shapes: ``(batch, time) → (batch, N, frames)``.
        """
        check_mixture(mix, "ConvTasNet", self.L, f"window (L={self.L})")
        return self._encode(mix)

    def _encode(self, mix: torch.Tensor) -> torch.Tensor:
        return self.encoder(pad_to_frames(mix, self.L, self.stride)[0])

    def _masks_from_code(self, w: torch.Tensor) -> torch.Tensor:
        """Masks ``m_i`` (one per speaker) from the encoder output.

        Shapes: ``(batch, N, frames) → (batch, n_src, N, frames)``.
        """
        m = self.mask_conv(self.tcn(self.bottleneck(w)))
        return _activate(m.view(w.shape[0], self.n_src, self.N, w.shape[-1]), self.mask_act, sources=1)

    def masks(self, mix: torch.Tensor) -> torch.Tensor:
        """Per-speaker masks on the encoder output, for pictures.

        Shapes: ``(batch, time) → (batch, n_src, N, frames)``.
        """
        return self._masks_from_code(self.encode(mix))

    def forward(self, mix: torch.Tensor) -> torch.Tensor:
        """Separate: ``(batch, time) → (batch, n_src, time)``.

        Each source is decoded from the masked encoder output ``d_i = w ⊙ m_i``; the zeros
        padded to complete the last frame are trimmed off again.
        """
        check_mixture(mix, "ConvTasNet", self.L, f"window (L={self.L})")
        batch, time = mix.shape                                # mix: (batch, time)
        w = self._encode(mix)                                  # w: (batch, N, frames), eq. (1)
        m = self._masks_from_code(w)                           # m: (batch, n_src, N, frames)
        d = w.unsqueeze(1) * m                                 # d_i = w ⊙ m_i: (batch, n_src, N, frames)
        est = self.decoder(d.flatten(0, 1))                    # ŝ_i: (batch · n_src, padded time)
        return est.view(batch, self.n_src, -1)[..., :time]     # (batch, n_src, time)

    def stream(self) -> _ConvTasNetStream:
        """This model on a stream, one example a few frames at a time (causal, cLN; else ``CourseError``).

        The returned object has ``step(samples) → final``: ``samples ((n − 1)·S + L,)`` are the next n
        frames' input (S the hop), ``final (n_src, n·S)`` the separated samples no later frame changes;
        ``tail (n_src, L − S)``: the rest of the newest frame, final once the stream ends; ``reset()``: a
        new stream. Each layer keeps what its next frames need (``tcn``'s and ``encoders``' ``stream()``);
        chained over a signal padded to whole frames, the finals and the last tail are ``self(signal)``.
        The weights are read in place, not copied (views taken at ``reset``).
        """
        self.check_streamable()
        return _ConvTasNetStream(self)

    def check_streamable(self) -> None:
        """Raise ``CourseError`` saying why, unless this model is causal with cLN.

        A non-causal model cannot stream: its centred depthwise convolutions need future frames, and gLN
        normalises every frame with the statistics of the whole utterance, so no output would be final before
        the input ends.
        """
        c = self.config
        if c["causal"] and c["norm"] == "cLN":
            return
        why = []
        if not c["causal"]:
            ahead = c["R"] * (c["P"] - 1 - (c["P"] - 1) // 2) * (2 ** c["X"] - 1)  # every block's future taps
            ms = 1000 * ahead * self.stride / self.sample_rate
            why.append(f"its centred depthwise convolutions look {ahead} frames ({ms:.0f} ms) into the "
                       "future")
        if c["norm"] == "gLN":
            why.append("gLN normalises every frame with statistics of the whole utterance, future included")
        elif c["norm"] != "cLN":
            why.append(f"norm={c['norm']!r} is not streamed here (only cLN's running statistics are)")
        raise CourseError(f"streaming needs a causal Conv-TasNet (causal=True, norm='cLN'); this one has "
                          f"causal={c['causal']}, norm={c['norm']!r}: {'; '.join(why)}")

    def describe(self) -> ConvTasNetSpec:
        """Every weight of the model, stage by stage, as a ``ConvTasNetSpec`` (detached views)."""
        return ConvTasNetSpec(
            self.encoder.describe(), self.bottleneck[0].describe(), ConvSpec.of(self.bottleneck[1]),
            self.tcn.describe(), self.mask_conv[0].weight.detach(), ConvSpec.of(self.mask_conv[1]),
            self.mask_act, self.n_src, self.decoder.describe(),
        )


def _activate(m: torch.Tensor, act: str, sources: int) -> torch.Tensor:
    """The masks' activation ``act`` on the scores ``m``; softmax runs over dimension ``sources``."""
    if act == "softmax":
        return torch.softmax(m, dim=sources)
    return torch.relu(m) if act == "relu" else torch.sigmoid(m)


@dataclass(frozen=True)
class ConvTasNetSpec:
    """A ``ConvTasNet``'s weights in the order they compute: the ``encoder``; the separator's
    ``input_norm`` and ``to_bottleneck`` (1×1 conv N → B); the ``tcn``'s blocks; a PReLU (``mask_slope``,
    ``(1,)``) and ``to_masks`` (1×1 conv Sc → n_src·N) on the summed skips; the masks' ``mask_act`` and
    ``n_src``; the ``decoder``."""

    encoder: FilterbankSpec
    input_norm: NormSpec
    to_bottleneck: ConvSpec
    tcn: tuple[BlockSpec, ...]
    mask_slope: torch.Tensor
    to_masks: ConvSpec
    mask_act: str
    n_src: int
    decoder: FilterbankSpec


class _ConvTasNetStream:
    """``ConvTasNet.stream()``: the model's layers as streams, each keeping its own past.

    Shapes: ``step``: samples ``((n − 1)·S + L,)`` → final samples ``(n_src, n·S)``.
    """

    def __init__(self, model: ConvTasNet):
        self.model = model
        self.reset()

    def reset(self) -> None:
        model = self.model
        self.encoder = model.encoder.stream()
        self.norm, self.bottleneck = model.bottleneck[0].stream(), pointwise_stream(model.bottleneck[1])
        self.tcn = model.tcn.stream()
        self.mask_prelu, self.mask_conv = model.mask_conv[0], pointwise_stream(model.mask_conv[1])
        self.decoder = model.decoder.stream(model.n_src)

    @property
    def tail(self) -> torch.Tensor:
        return self.decoder.tail

    def step(self, samples: torch.Tensor) -> torch.Tensor:
        w = self.encoder(samples)                                        # (N, n)
        m = self.mask_conv(self.mask_prelu(self.tcn(self.bottleneck(self.norm(w)))))
        m = _activate(m.view(self.model.n_src, self.model.N, -1), self.model.mask_act, sources=0)
        return self.decoder(w * m)                                       # (n_src, n·S)


def causal_copy(model: ConvTasNet) -> ConvTasNet:
    """A causal Conv-TasNet with a non-causal one's weights, cut to what a causal model may see.

    Every depthwise kernel keeps its taps on the present and past frames, at the same offsets from the
    output frame, and drops the taps that look ahead (P = 3: ``[w(t−d), w(t), w(t+d)] → [0, w(t−d), w(t)]``
    on frames t−2d, t−d, t); gLN becomes cLN with the same γ and β (batch norm stays). The encoder,
    bottleneck, 1×1 convs, masks and decoder are copied unchanged. It is not the same function (it no
    longer sees the future), but a start for training a causal model (``tasnet-edu train --init CKPT
    --causal``) that already separates, where random weights do not.

    Shapes: ``model`` and the copy both map ``(batch, time) → (batch, n_src, time)``.

    Example:
        >>> causal_copy(ConvTasNet.tiny()).config["causal"], causal_copy(ConvTasNet.tiny()).config["norm"]
        (True, 'cLN')
    """
    if model.config["causal"]:
        raise CourseError("causal_copy: the model is causal already")
    norm = "cLN" if model.config["norm"] == "gLN" else model.config["norm"]
    causal = ConvTasNet(**{**model.config, "causal": True, "norm": norm}, sample_rate=model.sample_rate)
    state = model.state_dict()
    P = model.config["P"]
    past = (P - 1) // 2  # taps before a non-causal kernel's centre; a causal kernel ends at the present
    for name, weight in state.items():
        if name.endswith(".dconv.weight"):  # (H, 1, P)
            cut = torch.zeros_like(weight)
            cut[..., P - 1 - past:] = weight[..., : past + 1]
            state[name] = cut
    causal.load_state_dict(state)
    return causal

