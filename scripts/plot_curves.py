"""Draw training runs' validation curves from their ``log.csv`` files (docs/real-speech.md's figures).

Usage:
    python scripts/plot_curves.py --out docs/real-speech-curves.png --title "What to notice" \\
        "conditions s1=runs/pilot-conditions-s1" "single s1=runs/pilot-single-s1"

Each run is ``LABEL=FOLDER``; the figure shows validation SI-SNRi (dB) per epoch, one line per run, a
marker where the learning rate changed.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def read_log(folder: Path) -> dict[str, list[float]]:
    """The ``log.csv`` of a run folder as columns: ``epoch``, ``valid_si_snri`` and ``lr``, in epoch order.

    A header repeated by a resumed run is skipped; a later row for an epoch replaces an earlier one."""
    path = folder / "log.csv"
    if not path.is_file():
        raise SystemExit(f"{path}: no log.csv (is {folder} a run folder?)")
    rows = {}
    with path.open() as f:
        for row in csv.DictReader(f):
            if row["epoch"] != "epoch":
                rows[int(row["epoch"])] = (float(row["valid_si_snri"]), float(row["lr"]))
    epochs = sorted(rows)
    return {"epoch": epochs, "valid_si_snri": [rows[e][0] for e in epochs],
            "lr": [rows[e][1] for e in epochs]}


def plot(runs: dict[str, Path], title: str, ax=None):
    """One line of validation SI-SNRi per run, an open circle at each epoch whose learning rate fell."""
    ax = ax or plt.subplots(figsize=(8, 4.2))[1]
    for label, folder in runs.items():
        log = read_log(folder)
        line, = ax.plot(log["epoch"], log["valid_si_snri"], marker=".", label=label)
        halved = [i for i in range(1, len(log["lr"])) if log["lr"][i] < log["lr"][i - 1]]
        ax.plot([log["epoch"][i] for i in halved], [log["valid_si_snri"][i] for i in halved], "o",
                mfc="none", ms=9, color=line.get_color())
    ax.set(xlabel="epoch (750 steps)", ylabel="validation SI-SNRi (dB)", title=title)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    parser.add_argument("--title", required=True, help="what the reader should notice")
    parser.add_argument("runs", nargs="+", help="LABEL=FOLDER")
    args = parser.parse_args()
    runs = {}
    for item in args.runs:
        label, sep, folder = item.partition("=")
        if not sep:
            raise SystemExit(f"{item}: expected LABEL=FOLDER")
        runs[label] = Path(folder)
    ax = plot(runs, args.title)
    ax.figure.savefig(args.out, dpi=100, bbox_inches="tight")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
