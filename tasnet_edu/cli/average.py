"""``tasnet-edu average``: average the weights of several epochs of one run (``tasnet_edu.averaging``) and
print the average's validation score beside the best of those epochs."""

from __future__ import annotations

import argparse
from pathlib import Path

from tasnet_edu.averaging import average_files


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``tasnet-edu average``."""
    parser.add_argument("checkpoints", nargs="+", help="two or more checkpoints of one run (OUT/epochs/*.pt)")
    parser.add_argument("--out", required=True, help="the averaged checkpoint to write")
    parser.add_argument("--valid-data", metavar="DIR",
                        help="score the average on DIR's cv/ as the run validated (its valid_items)")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    averaged = average_files(args.checkpoints, out, args.valid_data)
    record = averaged["metrics"]["averaged"]
    scores = {e["epoch"]: e["valid_si_snri"] for e in averaged["metrics"]["epochs"]}
    line = f"averaged epochs {', '.join(map(str, record['epochs']))} into {out}"
    if "valid_si_snri" in record:
        best = max(scores.get(e, float("-inf")) for e in record["epochs"])
        line += f"; validation SI-SNRi {record['valid_si_snri']:.2f} dB (best of those epochs: {best:.2f} dB)"
    print(line)
    return 0
