"""The tasnet-edu command: get speech, make mixtures, train, average, evaluate, separate, list the models.

One module of this package per sub-command (``cli/train.py`` for ``tasnet-edu train``, …), each a thin
layer over the library: ``configure_parser(parser)`` adds its arguments, ``run(args) -> int`` calls a library
function with them, prints the outcome and returns the exit status. Only the module of the command being run
is imported, so ``tasnet-edu --help`` does not load every library module. A ``CourseError`` is printed as
one line naming the problem, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tasnet_edu.errors import CourseError
from tasnet_edu.utils import keep_freed_memory

#: Sub-command → (its module in this package, its one-line help).
COMMANDS = {
    "fetch-speech": ("tasnet_edu.cli.fetch_speech", "download recordings of people (Debian packages)"),
    "render-festival": ("tasnet_edu.cli.render_festival", "add Festival's voices of people to that cache"),
    "make-data": ("tasnet_edu.cli.make_data",
                  "generate offline two-speaker mixtures in the wsj0-2mix layout"),
    "train": ("tasnet_edu.cli.train", "train a model with utterance-level PIT on SI-SNR"),
    "average": ("tasnet_edu.cli.average", "average the weights of several epochs of one run"),
    "evaluate": ("tasnet_edu.cli.evaluate", "SI-SNRi / SDRi of a checkpoint on a test set"),
    "separate": ("tasnet_edu.cli.separate", "separate audio files into one file per speaker"),
    "models": ("tasnet_edu.cli.models", "the shipped models, or one model's card"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``tasnet-edu`` parser with the arguments of sub-command ``command`` (its module is imported);
    the other sub-commands are listed by name and help only."""
    parser = argparse.ArgumentParser(prog="tasnet-edu", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(module=module)
        if name == command:
            importlib.import_module(module).configure_parser(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    keep_freed_memory()  # a command's passes reuse memory instead of page-faulting it in each time
    try:
        return importlib.import_module(args.module).run(args)
    except CourseError as err:
        print(f"tasnet-edu {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"tasnet-edu {args.command}: interrupted", file=sys.stderr)
        return 130
