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


def _texts(fig):
    return "\n".join(t.get_text() for ax in fig.axes for t in [*ax.texts, ax.title])


def test_conv_tasnet_diagram_takes_its_shapes_from_the_model():
    from tasnet_edu.models import ConvTasNet

    model = ConvTasNet.tiny()
    frames = model.encode(torch.zeros(1, 16000)).shape[-1]
    text = _texts(viz.draw_conv_tasnet(model, time=16000))
    for part in ("encoder", "bottleneck", "TCN", "mask conv", "decoder", "⊙"):
        assert part in text
    assert f"w: N × K = 64 × {frames}" in text and f"2 × 64 × {frames}" in text
    assert "R = 2 × X = 7 blocks" in text and "d = 1 … 64" in text and "N → B = 32" in text
    assert "2 × 16000" in text
    symbolic = _texts(viz.draw_conv_tasnet(ConvTasNet.paper().config))
    assert "w: N × K = 512 × K" in symbolic and "H = 512, P = 3" in symbolic


def test_conv_block_diagram_reads_the_block():
    from tasnet_edu.tcn import TCN

    tcn = TCN(B=16, H=24, Sc=8, P=3, X=3, R=1, norm="cLN", causal=True)
    middle = _texts(viz.draw_conv_block(tcn.blocks[1]))
    order = ["1×1 conv", "PReLU", "cLN", "D-conv", "residual 1×1 conv", "skip 1×1 conv"]
    assert all(name in middle for name in order)
    assert "B → H\n16 → 24" in middle and "dilation d = 2" in middle and "left pad 4" in middle
    assert "H → Sc = 8" in middle and "to the next block" in middle and "causal" in middle
    last = _texts(viz.draw_conv_block(tcn.blocks[-1]))
    assert "residual 1×1 conv" not in last and "the TCN's last block" in last and "dilation d = 4" in last
    keywords = _texts(viz.draw_conv_block(B=128, H=512, Sc=128, P=3, dilation=8))
    assert "pad 8 each side" in keywords and "gLN" in keywords


def test_tasnet_diagram_shows_the_gated_encoder_and_lstm_separator():
    from tasnet_edu.models import TasNet

    text = _texts(viz.draw_tasnet(TasNet(N=32, L=40, H=16, layers=2, bidirectional=False)))
    for part in ("x_k / ‖x_k‖", "ReLU", "sigmoid", "LSTM × 2", "16 units", "softmax", "N = 32", "L = 40"):
        assert part in text
    assert "BLSTM" not in text
    assert "BLSTM × 4" in _texts(viz.draw_tasnet(TasNet.paper().config))


def test_si_snr_geometry_is_drawn_for_the_pair_given():
    from tasnet_edu import metrics

    g = torch.Generator().manual_seed(0)
    ref = torch.randn(2000, generator=g)
    est = ref + 0.5 * torch.randn(2000, generator=g)
    fig = viz.draw_si_snr_geometry(est, ref)
    text = _texts(fig)
    for label in ("s_target", "e_noise = ŝ − s_target", "ŝ (estimate)", "s (reference)"):
        assert label in text
    assert f"= {float(metrics.si_snr(est, ref)):.1f} dB" in text
    assert "θ = 25.0°" in _texts(viz.draw_si_snr_geometry())
