"""The ``tasnet-edu`` command: ``fetch-speech``, ``render-festival``, ``make-data``, ``train``, ``average``,
``evaluate``, ``separate``, ``models``.

Each sub-command lives in the module that does the work; that module provides
``configure_parser(parser)`` (its arguments) and ``run_cli(args) -> int`` (its exit status). A ``CourseError``
is printed as one line naming the problem, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tasnet_edu.errors import CourseError
from tasnet_edu.utils import keep_freed_memory

COMMANDS = {
    "fetch-speech": ("tasnet_edu.data.natural", "download recordings of people (Debian packages)"),
    "render-festival": ("tasnet_edu.data.festival", "add Festival's voices of people to that cache"),
    "make-data": ("tasnet_edu.data", "generate offline two-speaker mixtures in the wsj0-2mix layout"),
    "train": ("tasnet_edu.train", "train a model with utterance-level PIT on SI-SNR"),
    "average": ("tasnet_edu.averaging", "average the weights of several epochs of one run"),
    "evaluate": ("tasnet_edu.evaluate", "SI-SNRi / SDRi of a checkpoint on a test set"),
    "separate": ("tasnet_edu.separate", "separate audio files into one file per speaker"),
    "models": ("tasnet_edu.pretrained", "the shipped models, or one model's card"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tasnet-edu", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(module=module)
        importlib.import_module(module).configure_parser(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    keep_freed_memory()  # a command's passes reuse memory instead of page-faulting it in each time
    try:
        return int(importlib.import_module(args.module).run_cli(args) or 0)
    except CourseError as err:
        print(f"tasnet-edu {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"tasnet-edu {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
