"""One figure style for the whole course, and loudness-honest audio players.

The same colour stands for the same speaker in every chapter (``speaker_color``); time axes are in seconds,
frequency axes in Hz; titles say what to notice. Every player in a comparison shares one peak scale, so a
quiet estimate sounds quiet (``IPython.display.Audio(..., normalize=False)``). Block diagrams
(``draw_conv_tasnet``, ``draw_conv_block``, ``draw_tasnet``, ``draw_si_snr_geometry``) are drawn with
matplotlib patches from a model or its config, so they show the shapes the code builds.
"""

from __future__ import annotations

import html

import librosa
import librosa.display
import matplotlib.pyplot as plt
import numpy as np

from tasnet_edu import SAMPLE_RATE
from tasnet_edu.encoders import filter_responses

MIX_COLOR = "0.45"
SPEAKER_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def speaker_color(name_or_index) -> str:
    """Colour of a source: ``0``/``"s1"`` → blue, ``1``/``"s2"`` → red, …; ``"mix"`` → grey."""
    if isinstance(name_or_index, str):
        if name_or_index.startswith("mix"):
            return MIX_COLOR
        digits = "".join(c for c in name_or_index if c.isdigit())
        name_or_index = int(digits) - 1 if digits else 0
    return SPEAKER_COLORS[name_or_index % len(SPEAKER_COLORS)]


def _numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def plot_waveforms(signals: dict, sample_rate: int = SAMPLE_RATE, ax=None, title: str | None = None):
    """Overlay waveforms ``{name: (time,)}`` on one time axis in seconds, coloured by speaker."""
    ax = ax or plt.subplots(figsize=(9, 2.5))[1]
    for name, x in signals.items():
        x = _numpy(x)
        t = np.arange(len(x)) / sample_rate
        ax.plot(t, x, lw=0.6, color=speaker_color(name), label=name, alpha=0.85)
    ax.set(xlabel="time (s)", ylabel="amplitude", title=title)
    ax.legend(loc="upper right", fontsize=8)
    return ax


def plot_spectrogram(
    x, sample_rate: int = SAMPLE_RATE, n_fft: int = 256, hop_length: int = 64, ax=None,
    title: str | None = None, top_db: float = 80.0,
):
    """Log-magnitude spectrogram of ``x`` (time,), axes in seconds and Hz."""
    ax = ax or plt.subplots(figsize=(9, 3))[1]
    spec = np.abs(librosa.stft(_numpy(x), n_fft=n_fft, hop_length=hop_length))
    db = librosa.amplitude_to_db(spec, ref=np.max, top_db=top_db)
    img = librosa.display.specshow(
        db, sr=sample_rate, hop_length=hop_length, x_axis="s", y_axis="hz", ax=ax, cmap="magma"
    )
    ax.set(title=title, xlabel="time (s)", ylabel="frequency (Hz)")
    return img


def level_to_mixture(signals: dict, mix) -> dict:
    """``{name: (time,)}`` with each signal scaled by its least-squares gain onto the mixture ``mix``.

    The gain ``g = <x, mix> / <x, x>`` minimises ``‖mix − g x‖²``: it gives a signal the level of its share of
    the mixture. A true source keeps a gain close to 1 (the other source is nearly orthogonal to it), the
    mixture itself gets exactly 1, and a model output trained with the scale-invariant SI-SNR loss (any gain,
    any sign) is brought back to the level, and sign, of the speaker it carries. This is the one-signal form
    of ``tasnet_edu.inference.fit_to_mixture``, which fits all of a model's outputs jointly.
    """
    m = _numpy(mix).reshape(-1).astype(np.float64)
    out = {}
    for name, x in signals.items():
        a = _numpy(x).reshape(-1).astype(np.float64)
        n = min(len(a), len(m))
        energy = float(a[:n] @ a[:n])
        gain = float(a[:n] @ m[:n]) / energy if energy > 0 else 1.0
        out[name] = (gain * a).astype(np.float32)
    return out


def player_levels(signals: dict, mix=None) -> dict:
    """The loudness (RMS in dBFS) of each player that ``listen(signals, mix=mix)`` shows.

    The players share one peak scale (the loudest sample of the comparison is full scale), so these are the
    levels a listener hears, relative to one another and to full scale.
    """
    if mix is not None:
        signals = level_to_mixture(signals, mix)
    arrays = {name: _numpy(x).reshape(-1).astype(np.float64) for name, x in signals.items()}
    peak = max(float(np.abs(a).max()) for a in arrays.values()) or 1.0
    return {name: 10 * float(np.log10(np.mean((a / peak) ** 2) + 1e-20)) for name, a in arrays.items()}


def players_html(signals: dict, sample_rate: int = SAMPLE_RATE, mix=None) -> str:
    """HTML table of labelled audio players sharing one peak scale (no per-clip normalisation); with ``mix``,
    each signal is first levelled to the mixture (``level_to_mixture``)."""
    from IPython.display import Audio

    if mix is not None:
        signals = level_to_mixture(signals, mix)
    arrays = {name: _numpy(x).reshape(-1) for name, x in signals.items()}
    peak = max(float(np.abs(a).max()) for a in arrays.values()) or 1.0
    rows = []
    for name, a in arrays.items():
        player = Audio(a / peak, rate=sample_rate, normalize=False)._repr_html_()
        label = f'<b style="color:{speaker_color(name)}">{html.escape(name)}</b>'
        rows.append(f"<tr><td>{label}</td><td>{player}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def listen(signals: dict, sample_rate: int = SAMPLE_RATE, mix=None):
    """Display labelled players for ``{name: (time,)}``, all scaled by the loudest one's peak.

    By default the signals are played as given. With ``mix`` (the mixture, ``(time,)``) each one is first
    scaled to its share of the mixture (``level_to_mixture``), so that model outputs of any gain sound as loud
    as the speaker they carry.
    """
    from IPython.display import HTML, display

    display(HTML(players_html(signals, sample_rate, mix=mix)))


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A Markdown table (show it with ``IPython.display.Markdown``); cells are written with ``str``, and a
    ``|`` inside a cell is escaped."""

    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    if any(len(r) != len(header) for r in rows):
        raise ValueError(f"every row needs {len(header)} cells, like the header {header}")
    return "\n".join([line(header), line(["---"] * len(header)), *map(line, rows)])


def plot_filterbank(weight, sample_rate: int = SAMPLE_RATE, axes=None, title: str | None = None):
    """Filters ``(N, L)`` (or a conv weight ``(N, 1, L)``) sorted by centre frequency, with their responses.

    Left: each filter's samples as one row (time in ms); right: its magnitude response in dB (frequency in
    Hz). Rows are ordered by the frequency of the response's peak, so a filterbank that tiles frequency shows
    a diagonal on the right. Returns the two axes.
    """
    freqs, db, order = filter_responses(weight, sample_rate)
    w = _numpy(weight).reshape(len(order), -1)[order.numpy()]
    if axes is None:
        axes = plt.subplots(1, 2, figsize=(9, 3.2))[1]
    length_ms = 1000 * w.shape[1] / sample_rate
    limit = float(np.abs(w).max()) or 1.0
    axes[0].imshow(w, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit, origin="lower",
                   extent=(0, length_ms, 0, len(w)), interpolation="nearest")
    axes[0].set(xlabel="time (ms)", ylabel="filter (by centre frequency)", title=title)
    axes[1].imshow(db.numpy()[order.numpy()], aspect="auto", cmap="magma", vmin=-40, vmax=0, origin="lower",
                   extent=(0, float(freqs[-1]), 0, len(w)), interpolation="nearest")
    axes[1].set(xlabel="frequency (Hz)", ylabel="filter (by centre frequency)",
                title="magnitude response (dB)")
    return axes


def plot_encoder_masks(mask, encoder_weight, sample_rate: int = SAMPLE_RATE, stride: int = 8, ax=None,
                       title: str | None = None):
    """A mask on a learned basis, ``(N, frames)``, with its N rows sorted by the centre frequency of the
    encoder's filters ``encoder_weight`` (``(N, 1, L)`` or ``(N, L)``), so that it reads like a spectrogram
    mask: time in seconds (``stride`` samples per frame), y ticks at the filters' centre frequencies in Hz,
    white = keep. Returns the axes.
    """
    freqs, responses_db, order = filter_responses(encoder_weight, sample_rate)
    centre_hz = freqs[responses_db.argmax(-1)][order]
    values = _numpy(mask)[order.numpy()]
    ax = ax or plt.subplots(figsize=(9, 3))[1]
    ax.imshow(values, origin="lower", aspect="auto", cmap="gray", vmin=0, vmax=1, interpolation="antialiased",
              extent=(0, values.shape[-1] * stride / sample_rate, 0, len(order)))
    ticks = np.linspace(0, len(order) - 1, 5).astype(int)
    ax.set(yticks=ticks + 0.5, yticklabels=[f"{centre_hz[t]:.0f}" for t in ticks],
           ylabel="filter centre (Hz)", xlabel="time (s)", title=title)
    return ax


def plot_masked_codes(masks, code, own_codes, encoder_weight, sample_rate: int = SAMPLE_RATE, stride: int = 8,
                      label: str = "model"):
    """What a Conv-TasNet keeps of the mixture for each talker, one row per talker: its mask ``m_i``, the
    masked mixture code ``|w ⊙ m_i|`` and the talker's own code ``|U s_i|``, both in dB below the loudest
    own code, filters sorted by centre frequency, a colourbar on each image.

    Shapes: ``masks (n_src, N, frames)`` (in the talkers' order), ``code`` = w ``(N, frames)``,
    ``own_codes`` = the encoder on each talker alone ``(n_src, N, frames)``; ``encoder_weight (N, 1, L)``.
    Returns ``(figure, masked codes |w ⊙ m_i| (n_src, N, frames))``.
    """
    masked = (code * masks).abs()
    order = np.asarray(filter_responses(encoder_weight)[2])
    peak = own_codes.abs().max()
    extent = (0, code.shape[-1] * stride / sample_rate, 0, code.shape[0])
    n_src = masks.shape[0]
    fig, axes = plt.subplots(n_src, 3, figsize=(15, 3 * n_src), sharex=True, constrained_layout=True)
    for i in range(n_src):
        plot_encoder_masks(masks[i], encoder_weight, sample_rate, stride, ax=axes[i, 0])
        axes[i, 0].set(ylabel="sorted filters: centre (Hz)")
        axes[i, 0].set_title(f"mask m{i + 1} ({label})", color=speaker_color(i))
        fig.colorbar(axes[i, 0].images[-1], ax=axes[i, 0], label="mask")
        for ax, image, what in ((axes[i, 1], masked[i], f"masked mixture code |w ⊙ m{i + 1}|"),
                                (axes[i, 2], own_codes[i].abs(), f"talker s{i + 1}'s own code |U s{i + 1}|")):
            db = 20 * np.log10(np.maximum(_numpy(image), 1e-8) / float(peak))
            img = ax.imshow(db[order], origin="lower", aspect="auto", cmap="magma", vmin=-60, vmax=0,
                            extent=extent, interpolation="nearest")
            ax.set_yticks(axes[i, 0].get_yticks(), [t.get_text() for t in axes[i, 0].get_yticklabels()])
            ax.set(xlabel="time (s)", ylabel="sorted filters: centre (Hz)")
            ax.set_title(what, color=speaker_color(i))
            fig.colorbar(img, ax=ax, label="dB re the loudest code")
    return fig, masked


def plot_tf(image, sample_rate: int = SAMPLE_RATE, hop_length: int = 64, ax=None, title: str | None = None,
            top_db: float = 80.0):
    """A time-frequency image ``(freq, frames)`` on axes in seconds and Hz.

    A complex STFT (``tasnet_edu.masks.stft``) is shown as log magnitude (dB below its peak, ``top_db`` range,
    colour map as ``plot_spectrogram``); a real image such as a mask is shown as is on 0 … 1 (grey scale,
    white = 1). Returns the image artist (for a colour bar).
    """
    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    is_complex = np.iscomplexobj(image)
    values = _numpy(np.abs(image))
    n_freq, n_frames = values.shape
    extent = (0, n_frames * hop_length / sample_rate, 0, sample_rate / 2)
    ax = ax or plt.subplots(figsize=(9, 3))[1]
    if is_complex:
        db = 20 * np.log10(np.maximum(values, 1e-10) / (values.max() or 1.0))
        img = ax.imshow(db, origin="lower", aspect="auto", extent=extent, cmap="magma", vmin=-top_db, vmax=0)
    else:
        img = ax.imshow(values, origin="lower", aspect="auto", extent=extent, cmap="gray", vmin=0, vmax=1,
                        interpolation="nearest")
    ax.set(xlabel="time (s)", ylabel="frequency (Hz)", title=title)
    return img


# --- block diagrams ---------------------------------------------------------------------------------------
# Drawn with matplotlib patches from a model (or its config), so a diagram shows the shapes the code builds.
_BOX = {"signal": "#eef3fb", "layer": "#f6f6f6", "mask": "#fdeeee", "op": "white"}


def _diagram_axes(ax, size, xlim, ylim):
    ax = ax or plt.subplots(figsize=size)[1]
    ax.set(xlim=xlim, ylim=ylim, aspect="equal")
    ax.axis("off")
    return ax


def _box(ax, x, y, text, kind="layer", width=1.8, height=0.9, fontsize=8):
    """A rounded box centred on (x, y) with ``text``; returns its (left, right, bottom, top) edges."""
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height, boxstyle="round,pad=0.03",
                                facecolor=_BOX[kind], edgecolor="0.3", lw=0.9))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)
    return x - width / 2, x + width / 2, y - height / 2, y + height / 2


def _circle(ax, x, y, symbol, radius=0.22):
    from matplotlib.patches import Circle

    ax.add_patch(Circle((x, y), radius, facecolor="white", edgecolor="0.3", lw=0.9))
    ax.text(x, y, symbol, ha="center", va="center", fontsize=11)


def _arrow(ax, start, end, label=None, label_side="above", color="0.25", fontsize=7.5, offset=0.13):
    """An arrow from ``start`` to ``end`` (points), with an optional shape label beside its middle."""
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="-|>", color=color, lw=0.9,
                                                          shrinkA=0, shrinkB=0))
    if label:
        mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
        if start[1] == end[1]:
            dy = offset if label_side == "above" else -offset
            ax.text(mx, my + dy, label, ha="center", va="bottom" if dy > 0 else "top", fontsize=fontsize,
                    color="0.15")
        else:
            ax.text(mx + offset, my, label, ha="left", va="center", fontsize=fontsize, color="0.15")


def _polyline_arrow(ax, points, label=None, color="0.25"):
    """A path through ``points`` whose last segment carries the arrow head."""
    xs, ys = zip(*points[:-1], strict=True)
    ax.plot(xs, ys, color=color, lw=0.9)
    _arrow(ax, points[-2], points[-1], color=color)
    if label:
        (x0, y0), (x1, y1) = points[0], points[1]
        ax.text((x0 + x1) / 2, max(y0, y1) + 0.1, label, ha="center", va="bottom", fontsize=7.5, color="0.15")


def _config(model_or_config) -> dict:
    return dict(model_or_config if isinstance(model_or_config, dict) else model_or_config.config)


def draw_conv_tasnet(model_or_config, time: int | None = None, ax=None):
    """Block diagram of a Conv-TasNet: encoder → bottleneck → TCN → masks → ⊙ → decoder, with shapes.

    ``model_or_config`` is a ``ConvTasNet`` or its ``config`` dict, so the channel counts and the frame count
    K are the model's: with ``time`` (samples of the input) K is computed as the model frames it (right
    padding to whole frames, hop L/2); without it the shapes say ``K``. C is the number of speakers.
    Returns the figure.
    """
    c = {**dict(n_src=2, N=512, L=16, B=128, H=512, Sc=128, P=3, X=8, R=3, norm="gLN", causal=False,
                mask_act="relu"), **_config(model_or_config)}
    hop = c["L"] // 2
    if time is None:
        K, T = "K", "T"
    else:
        K, T = max(1, -(-(time - c["L"]) // hop) + 1), time
    C, N = c["n_src"], c["N"]
    ax = _diagram_axes(ax, (12.5, 4.6), (-0.3, 14.2), (-1.0, 4.2))
    top, bottom = 3.0, 0.6
    _box(ax, 0.5, top, "mixture x", "signal", width=1.2)
    _box(ax, 3.4, top, f"encoder U\n{N} filters of L = {c['L']}\nhop L/2 = {hop}", width=2.3, height=1.1)
    _circle(ax, 7.6, top, "⊙")
    _box(ax, 10.5, top, f"decoder V\n{N} basis signals\nof L = {c['L']}, overlap-add", width=2.5, height=1.1)
    _box(ax, 13.2, top, f"ŝ_i\n{C} × {T}", "signal", width=1.6)
    _arrow(ax, (1.1, top), (2.25, top), f"1 × {T}")
    _arrow(ax, (4.55, top), (7.38, top), f"w: N × K = {N} × {K}")
    _arrow(ax, (7.82, top), (9.25, top), f"d_i = w ⊙ m_i\n{C} × {N} × {K}")
    _arrow(ax, (11.75, top), (12.4, top))
    norm = f"{c['norm']} ({'causal' if c['causal'] else 'non-causal'})"
    _box(ax, 3.4, bottom, f"bottleneck\n{c['norm']} + 1×1 conv\nN → B = {c['B']}", width=2.3, height=1.1)
    _box(ax, 6.5, bottom, f"TCN: R = {c['R']} × X = {c['X']} blocks\nH = {c['H']}, P = {c['P']}, "
         f"d = 1 … {2 ** (c['X'] - 1)}\n{norm}", width=2.9, height=1.1)
    _box(ax, 10.1, bottom, f"mask conv\nPReLU, 1×1 conv\nSc = {c['Sc']} → C·N, {c['mask_act']}", "mask",
         width=2.5, height=1.1)
    _polyline_arrow(ax, [(5.9, top), (5.9, 1.75), (3.4, 1.75), (3.4, 1.15)])
    _arrow(ax, (4.55, bottom), (5.05, bottom), f"B × K\n{c['B']} × {K}", label_side="below", offset=0.6)
    _arrow(ax, (7.95, bottom), (8.85, bottom), f"Σ skips\nSc × K\n{c['Sc']} × {K}", label_side="below",
           offset=0.6)
    _polyline_arrow(ax, [(11.35, bottom), (11.8, bottom), (11.8, 1.9), (7.6, 1.9), (7.6, top - 0.22)])
    ax.text(9.7, 2.0, f"masks m_i: C × N × K = {C} × {N} × {K}", ha="center", va="bottom", fontsize=7.5)
    ax.text(0.2, -0.6, "separator (mask estimation)", fontsize=8, color="0.4", style="italic")
    ax.set_title("Conv-TasNet: the encoder codes the mixture, the TCN estimates one mask per speaker, "
                 "the decoder turns each masked code into a waveform", fontsize=9)
    return ax.figure


def draw_conv_block(block=None, *, B: int = 128, H: int = 512, Sc: int = 128, P: int = 3, dilation: int = 1,
                    norm: str = "gLN", causal: bool = False, residual: bool = True, ax=None):
    """One 1-D conv block of the TCN: 1×1 conv → PReLU → norm → depthwise dilated conv → PReLU → norm, then a
    residual 1×1 conv (added to the input, to the next block) and a skip 1×1 conv (to the sum of skips).

    Pass a ``tasnet_edu.tcn.Conv1DBlock`` as ``block`` to draw its channel counts, kernel, dilation, norm and
    causality; or give them as keywords. Returns the figure.
    """
    if block is not None:
        spec = block.describe()  # tcn.BlockSpec: the block's declared layout
        B, H, Sc, P = (spec.sizes[symbol] for symbol in ("B", "H", "Sc", "P"))
        dilation, causal, norm = spec.depthwise.dilation, spec.depthwise.causal, spec.pointwise_norm.kind
        residual = spec.residual_conv is not None
    ax = _diagram_axes(ax, (13.5, 3.8), (-0.5, 16.8), (-1.4, 2.9))
    y = 0.6
    pad = f"left pad {(P - 1) * dilation}" if causal else f"pad {(P - 1) * dilation // 2} each side"
    steps = [("input", f"B × K\n{B} × K", "signal", 1.3), ("1×1 conv", f"B → H\n{B} → {H}", "layer", 1.4),
             ("PReLU", "", "layer", 1.0), (norm, "", "layer", 1.0),
             ("D-conv", f"depthwise, P = {P}\ndilation d = {dilation}\n{pad}", "layer", 2.0),
             ("PReLU", "", "layer", 1.0), (norm, "", "layer", 1.0)]
    x, centres = 0.4, []
    for i, (name, detail, kind, width) in enumerate(steps):
        if i:
            x += width / 2 + 0.45
            _arrow(ax, (centres[-1][0] + centres[-1][1] / 2, y), (x - width / 2, y))
        _box(ax, x, y, name + ("\n" + detail if detail else ""), kind, width=width, height=1.2)
        centres.append((x, width))
        x += width / 2
    right = x
    res_y, skip_y = 1.9, -0.7
    _box(ax, right + 1.7, skip_y, f"skip 1×1 conv\nH → Sc = {Sc}", "mask", width=2.0, height=0.8)
    _polyline_arrow(ax, [(right, y), (right + 0.35, y), (right + 0.35, skip_y), (right + 0.7, skip_y)])
    ax.text(right + 0.45, y + 0.08, f"H × K\n{H} × K", fontsize=7, va="bottom")
    _arrow(ax, (right + 2.7, skip_y), (right + 5.6, skip_y), f"to Σ skips\nSc × K = {Sc} × K", offset=0.1)
    if residual:
        _box(ax, right + 1.7, res_y, f"residual 1×1 conv\nH → B = {B}", width=2.0, height=0.8)
        _polyline_arrow(ax, [(right + 0.35, y), (right + 0.35, res_y), (right + 0.7, res_y)])
        _circle(ax, right + 3.4, res_y, "+")
        _arrow(ax, (right + 2.7, res_y), (right + 3.18, res_y))
        _polyline_arrow(ax, [(0.4, y + 0.6), (0.4, 2.6), (right + 3.4, 2.6), (right + 3.4, res_y + 0.22)],
                        label="input (identity)")
        _arrow(ax, (right + 3.62, res_y), (right + 5.6, res_y), f"to the next block\nB × K = {B} × K",
               offset=0.1)
        outputs = "a residual and a skip output"
    else:
        ax.text(right + 1.7, res_y, "no residual output:\nthe TCN's last block", ha="center", va="center",
                fontsize=8, color="0.4", style="italic")
        outputs = "only a skip output (the last block)"
    ax.set_title(f"One 1-D conv block (dilation {dilation}, {norm}, {'causal' if causal else 'non-causal'}): "
                 f"depthwise-separable, with {outputs}", fontsize=9)
    return ax.figure


def draw_tasnet(model_or_config, ax=None):
    """TasNet (ICASSP 2018): the gated encoder of one segment and the LSTM separator, with sizes.

    ``model_or_config`` is a ``TasNet`` or its ``config`` dict. Encoder: ``x̂_k = x_k / ‖x_k‖``,
    ``w_k = ReLU(U x̂_k) ⊙ σ(V x̂_k)``; separator: layer norm → LSTM layers → fully connected → softmax over
    speakers; decoder: ``ŝ_k = (w_k ⊙ m_k) B · ‖x_k‖``. Returns the figure.
    """
    c = {**dict(n_src=2, N=500, L=40, stride=None, H=500, layers=4, bidirectional=True, encoder="gated"),
         **_config(model_or_config)}
    N, L, C = c["N"], c["L"], c["n_src"]
    lstm = f"{'BLSTM' if c['bidirectional'] else 'LSTM'} × {c['layers']}\n{c['H']} units, residual"
    ax = _diagram_axes(ax, (12, 4.4), (-0.3, 14.0), (-1.0, 4.3))
    top, gate_hi, gate_lo, bottom = 2.6, 3.55, 1.65, 0.2
    _box(ax, 0.8, top, f"segment x_k\nL = {L} samples", "signal", width=1.5)
    _box(ax, 2.9, top, "x̂_k =\nx_k / ‖x_k‖", width=1.4)
    _box(ax, 5.0, gate_hi, f"U x̂_k, ReLU\nN = {N}", width=1.6, height=0.8)
    _box(ax, 5.0, gate_lo, f"V x̂_k, sigmoid\nN = {N}", width=1.6, height=0.8)
    _circle(ax, 6.6, top, "⊙")
    _circle(ax, 8.6, top, "⊙")
    _box(ax, 10.6, top, f"decoder B\n{N} → {L} samples\n× ‖x_k‖", width=1.8, height=1.1)
    _box(ax, 12.8, top, f"ŝ_k\n{C} × {L}", "signal", width=1.3)
    _arrow(ax, (1.55, top), (2.2, top))
    _polyline_arrow(ax, [(3.6, top), (3.9, top), (3.9, gate_hi), (4.2, gate_hi)])
    _polyline_arrow(ax, [(3.9, top), (3.9, gate_lo), (4.2, gate_lo)])
    _polyline_arrow(ax, [(5.8, gate_hi), (6.6, gate_hi), (6.6, top + 0.22)])
    _polyline_arrow(ax, [(5.8, gate_lo), (6.6, gate_lo), (6.6, top - 0.22)])
    _arrow(ax, (6.82, top), (8.38, top), f"w_k ≥ 0: N = {N}")
    _arrow(ax, (8.82, top), (9.7, top), f"{C} × {N}")
    _arrow(ax, (11.5, top), (12.15, top))
    _box(ax, 3.2, bottom, f"layer norm\nover N = {N}", width=1.6, height=0.9)
    _box(ax, 5.9, bottom, lstm, width=2.2, height=0.9)
    _box(ax, 8.6, bottom, f"FC → C·N\nsoftmax over\nC = {C} speakers", "mask", width=1.9, height=1.1)
    _polyline_arrow(ax, [(7.4, top), (7.4, 1.1), (3.2, 1.1), (3.2, bottom + 0.45)])
    _arrow(ax, (4.0, bottom), (4.8, bottom))
    _arrow(ax, (7.0, bottom), (7.65, bottom))
    _arrow(ax, (8.6, bottom + 0.55), (8.6, top - 0.22), f"m_k: {C} × {N}")
    ax.text(0.2, -0.7, "gated encoder (top left) · LSTM separator (bottom) · decoder (top right)", fontsize=8,
            color="0.4", style="italic")
    ax.set_title("TasNet: non-negative gated codes of each segment, LSTM masks, a decoder that restores the "
                 "segment's norm", fontsize=9)
    return ax.figure


def draw_si_snr_geometry(est=None, ref=None, ax=None):
    """SI-SNR as geometry: ŝ split into ``s_target`` (its projection on s) and ``e_noise`` (orthogonal).

    With ``est`` and ``ref`` (tensors ``(time,)``) the angle drawn is the angle between the zero-mean signals
    of that pair; without them an illustrative 25° is drawn. ŝ is drawn with unit length, and s as a longer
    arrow along its direction (SI-SNR ignores its length). The title gives
    ``10 log10(‖s_target‖² / ‖e_noise‖²)`` of the angle drawn. Returns the figure.
    """
    if est is None or ref is None:
        angle = np.deg2rad(25.0)
    else:
        e, r = _numpy(est).astype(np.float64), _numpy(ref).astype(np.float64)
        e, r = e - e.mean(), r - r.mean()
        angle = float(np.arccos(np.clip(e @ r / (np.linalg.norm(e) * np.linalg.norm(r)), -1, 1)))
    ax = _diagram_axes(ax, (6.5, 4), (-0.3, 1.7), (-0.3, 1.1))
    hat = np.array([np.cos(angle), np.sin(angle)])            # ŝ, unit length
    target = np.array([hat[0], 0.0])                          # its projection on the direction of s
    blue, grey = speaker_color(0), "0.35"

    def vector(end, start=(0, 0), **style):
        ax.annotate("", xy=tuple(end), xytext=tuple(start),
                    arrowprops=dict(arrowstyle="-|>", shrinkA=0, shrinkB=0, **style))

    vector((1.55, 0), color=blue, lw=1.2, alpha=0.45)
    vector(hat, color="k", lw=1.6)
    vector(target, color=blue, lw=2.6)
    vector(hat, target, color=grey, lw=1.6, ls="--")
    corner = 0.05 * np.sign(hat[0] or 1)
    ax.plot([target[0] - corner, target[0] - corner, target[0]], [0, 0.05, 0.05], color=grey, lw=0.8)
    ax.text(1.55, 0.04, "s (reference)", color=blue, ha="right", va="bottom", fontsize=9)
    ax.text(target[0] / 2, -0.05, "s_target = ⟨ŝ, s⟩ s / ‖s‖²", color=blue, ha="center", va="top", fontsize=9)
    ax.text(hat[0] + 0.04, hat[1] / 2, "e_noise = ŝ − s_target", color=grey, ha="left", va="center",
            fontsize=9)
    ax.text(hat[0] / 2 - 0.04, hat[1] / 2 + 0.04, "ŝ (estimate)", ha="right", va="bottom", fontsize=9)
    db = 10 * np.log10(max(np.cos(angle) ** 2, 1e-12) / max(np.sin(angle) ** 2, 1e-12))
    ax.set_title(f"SI-SNR = 10 log10(‖s_target‖² / ‖e_noise‖²) = 10 log10(cot² θ)\n"
                 f"= {db:.1f} dB for the angle drawn, θ = {np.rad2deg(angle):.1f}°", fontsize=9)
    return ax.figure
