"""Draw the README's picture: the paper's Conv-TasNet as ``tasnet_edu.viz.draw_conv_tasnet`` draws it.

Usage: python scripts/draw_readme_figure.py   (writes docs/conv_tasnet.png; run it when the diagram changes)
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from tasnet_edu import viz  # noqa: E402
from tasnet_edu.models import ConvTasNet  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "docs" / "conv_tasnet.png"


def main() -> Path:
    ax = viz.draw_conv_tasnet(ConvTasNet.paper(), time=32000)
    ax.figure.savefig(OUT, dpi=110, bbox_inches="tight")
    return OUT


if __name__ == "__main__":
    print(f"wrote {main()}")
