"""Figures: the mask of a learned basis is drawn with its filters sorted by centre frequency."""

import math

import matplotlib
import pytest

matplotlib.use("Agg")
import torch  # noqa: E402

from tasnet_edu import viz  # noqa: E402


def test_plot_encoder_masks_sorts_rows_by_centre_frequency():
    n, length, sr = 4, 16, 8000
    t = torch.arange(length) / sr
    freqs_hz = torch.tensor([3000.0, 500.0, 2000.0, 1000.0])          # filters out of order
    weight = torch.sin(2 * math.pi * freqs_hz[:, None] * t)[:, None] * torch.hann_window(length)
    mask = torch.arange(n, dtype=torch.float32)[:, None].repeat(1, 10) / n  # row k has value k / n
    ax = viz.plot_encoder_masks(mask, weight, sr, stride=8)
    shown = ax.images[0].get_array()
    assert [round(float(v) * n) for v in shown[:, 0]] == [1, 3, 2, 0]   # 500, 1000, 2000, 3000 Hz
    labels = [float(tick.get_text()) for tick in ax.get_yticklabels()]
    assert labels == sorted(labels)
    assert ax.images[0].get_extent()[1] == 10 * 8 / sr


def test_markdown_table_escapes_bars_and_checks_row_lengths():
    text = viz.markdown_table(["system", "dB"], [["a|b", 1.5], ["c", "—"]])
    assert text.splitlines() == ["| system | dB |", "| --- | --- |", "| a\\|b | 1.5 |", "| c | — |"]
    with pytest.raises(ValueError, match="2 cells"):
        viz.markdown_table(["system", "dB"], [["a"]])
