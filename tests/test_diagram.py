"""The block diagrams of ``tasnet_edu.viz`` are legible: no two labels print over each other, and the text
of a box stays inside the box. Checked on the rendered figure, from the bounding boxes matplotlib draws."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

from tasnet_edu import viz  # noqa: E402
from tasnet_edu.models import ConvTasNet, TasNet  # noqa: E402
from tasnet_edu.tcn import TCN  # noqa: E402

MARGIN_PX = 2.0  # labels keep this far apart (pixels at the default 100 dpi)
EDGE_PX = 5.0    # and a box's text this far from its edge (about 1 mm)


def _paper_conv_tasnet():
    with torch.device("meta"):
        return ConvTasNet.paper()


DIAGRAMS = {
    "conv_tasnet, 4 s": lambda: viz.draw_conv_tasnet(_paper_conv_tasnet(), time=4 * 8000),
    "conv_tasnet, symbols": lambda: viz.draw_conv_tasnet(_paper_conv_tasnet()),
    "conv_tasnet, causal tiny": lambda: viz.draw_conv_tasnet(ConvTasNet.tiny(causal=True, norm="cLN"),
                                                             time=8000),
    "conv_block": lambda: viz.draw_conv_block(TCN(B=16, H=32, Sc=16, P=3, X=8, R=3, norm="gLN").blocks[2]),
    "conv_block, last": lambda: viz.draw_conv_block(TCN(B=16, H=32, Sc=16, P=3, X=8, R=3).blocks[-1]),
    "conv_block, paper sizes": lambda: viz.draw_conv_block(B=128, H=512, Sc=128, dilation=128, causal=True),
    "tasnet": lambda: viz.draw_tasnet(TasNet(N=64, L=40, H=64, layers=2, bidirectional=False)),
    "tasnet, paper": lambda: viz.draw_tasnet(TasNet.paper()),
}


def _label_boxes(fig):
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    texts = [t for t in ax.texts if t.get_text().strip()]
    return ax, renderer, [(t.get_text(), t.get_window_extent(renderer)) for t in texts]


def overlapping_labels(fig) -> list[tuple[str, str]]:
    """Pairs of labels whose bounding boxes (grown by ``MARGIN_PX / 2``) intersect."""
    _, _, boxes = _label_boxes(fig)
    grown = [(text, box.expanded(1, 1).padded(MARGIN_PX / 2)) for text, box in boxes]
    return [(a, b) for i, (a, box_a) in enumerate(grown) for b, box_b in grown[i + 1:]
            if box_a.overlaps(box_b)]


def labels_leaving_their_box(fig) -> list[str]:
    """Labels whose centre lies in a drawn box but whose bounding box reaches within ``EDGE_PX`` of its edge,
    or beyond it."""
    ax, renderer, boxes = _label_boxes(fig)
    patches = [p.get_window_extent(renderer) for p in ax.patches if isinstance(p, FancyBboxPatch)]
    bad = []
    for text, box in boxes:
        centre = ((box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2)
        for patch in patches:
            if patch.contains(*centre):
                inner = patch.padded(-EDGE_PX)
                inside = inner.x0 <= box.x0 <= box.x1 <= inner.x1 and inner.y0 <= box.y0 <= box.y1 <= inner.y1
                if not inside:
                    bad.append(text)
    return bad


@pytest.mark.parametrize("name", DIAGRAMS)
def test_no_two_labels_overlap(name):
    fig = DIAGRAMS[name]()
    try:
        assert overlapping_labels(fig) == []
    finally:
        plt.close(fig)


@pytest.mark.parametrize("name", DIAGRAMS)
def test_box_text_stays_inside_its_box(name):
    fig = DIAGRAMS[name]()
    try:
        assert labels_leaving_their_box(fig) == []
    finally:
        plt.close(fig)


def test_the_checks_catch_overlapping_and_overflowing_labels():
    """The two checks can fail: two labels on one spot, and a long text in a small box."""
    fig, ax = plt.subplots(figsize=(4, 2))
    ax.set(xlim=(0, 4), ylim=(0, 2))
    ax.text(1, 1, "first label", ha="center")
    ax.text(1.05, 1.02, "second label", ha="center")
    viz._box(ax, 3, 1, "a text far wider than its box", width=0.5, height=0.4)
    try:
        assert overlapping_labels(fig) == [("first label", "second label")]
        assert labels_leaving_their_box(fig) == ["a text far wider than its box"]
    finally:
        plt.close(fig)
