"""One figure style for the whole course, and loudness-honest audio players.

The same colour stands for the same speaker in every chapter (``speaker_color``); time axes are in seconds,
frequency axes in Hz; titles say what to notice. Every player in a comparison shares one peak scale, so a
quiet estimate sounds quiet (``IPython.display.Audio(..., normalize=False)``).
"""

from __future__ import annotations

import html

import librosa
import librosa.display
import matplotlib.pyplot as plt
import numpy as np

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


def plot_waveforms(signals: dict, sample_rate: int = 8000, ax=None, title: str | None = None):
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
    x, sample_rate: int = 8000, n_fft: int = 256, hop_length: int = 64, ax=None, title: str | None = None,
    top_db: float = 80.0,
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


def players_html(signals: dict, sample_rate: int = 8000) -> str:
    """HTML table of labelled audio players sharing one peak scale (no per-clip normalisation)."""
    from IPython.display import Audio

    arrays = {name: _numpy(x).reshape(-1) for name, x in signals.items()}
    peak = max(float(np.abs(a).max()) for a in arrays.values()) or 1.0
    rows = []
    for name, a in arrays.items():
        player = Audio(a / peak, rate=sample_rate, normalize=False)._repr_html_()
        label = f'<b style="color:{speaker_color(name)}">{html.escape(name)}</b>'
        rows.append(f"<tr><td>{label}</td><td>{player}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def listen(signals: dict, sample_rate: int = 8000):
    """Display labelled players for ``{name: (time,)}``, all scaled by the loudest one's peak."""
    from IPython.display import HTML, display

    display(HTML(players_html(signals, sample_rate)))


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A Markdown table (show it with ``IPython.display.Markdown``); cells are written with ``str``, and a
    ``|`` inside a cell is escaped."""

    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    if any(len(r) != len(header) for r in rows):
        raise ValueError(f"every row needs {len(header)} cells, like the header {header}")
    return "\n".join([line(header), line(["---"] * len(header)), *map(line, rows)])


def plot_filterbank(weight, sample_rate: int = 8000, axes=None, title: str | None = None):
    """Filters ``(N, L)`` (or a conv weight ``(N, 1, L)``) sorted by centre frequency, with their responses.

    Left: each filter's samples as one row (time in ms); right: its magnitude response in dB (frequency in
    Hz). Rows are ordered by the frequency of the response's peak, so a filterbank that tiles frequency shows
    a diagonal on the right. Returns the two axes.
    """
    from tasnet_edu.encoders import filter_responses

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


def plot_encoder_masks(mask, encoder_weight, sample_rate: int = 8000, stride: int = 8, ax=None,
                       title: str | None = None):
    """A mask on a learned basis, ``(N, frames)``, with its N rows sorted by the centre frequency of the
    encoder's filters ``encoder_weight`` (``(N, 1, L)`` or ``(N, L)``), so that it reads like a spectrogram
    mask: time in seconds (``stride`` samples per frame), y ticks at the filters' centre frequencies in Hz,
    white = keep. Returns the axes.
    """
    from tasnet_edu.encoders import filter_responses

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


def plot_tf(image, sample_rate: int = 8000, hop_length: int = 64, ax=None, title: str | None = None,
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
