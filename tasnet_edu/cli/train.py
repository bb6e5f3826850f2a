"""``tasnet-edu train``: a new run from a preset, a resumed one, or one started from a checkpoint
(``tasnet_edu.train.run_training``); the flags that override the preset become ``TrainConfig`` fields."""

from __future__ import annotations

import argparse

from tasnet_edu.errors import CourseError
from tasnet_edu.train import DATASETS, PRESETS, run_training


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``tasnet-edu train``."""
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu-tiny", help="configuration")
    parser.add_argument("--data", required=True, help="dataset root (tr/ cv/ tt/, or LibriMix's metadata/)")
    parser.add_argument("--dataset", choices=DATASETS, default="wsj0-2mix", help="layout of --data")
    parser.add_argument("--out", required=True, help="folder for last.pt, best.pt and log.csv")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument("--init", metavar="CHECKPOINT",
                        help="go on from its weights and configuration (not --preset's), fresh optimizer")
    parser.add_argument("--causal", action="store_true",
                        help="with --init: train a causal cLN model started from the checkpoint's non-causal "
                             "weights, its look-ahead taps cut (models.conv_tasnet.causal_copy)")
    parser.add_argument("--epochs", type=int, help="override the preset's max_epochs")
    parser.add_argument("--batch-size", type=int, help="override the preset's batch size")
    parser.add_argument("--segment", type=float, metavar="SECONDS",
                        help="override the preset's training crop length")
    parser.add_argument("--lr", type=float,
                        help="override the preset's learning rate; with --init, restart at this rate "
                             "instead of going on at the checkpoint's last")
    parser.add_argument("--valid-data", metavar="DIR",
                        help="validate on DIR's cv/ instead of --data's (e.g. held-out real speakers)")
    parser.add_argument("--dynamic-mix", action="store_true", help="new training mixtures every epoch")
    parser.add_argument("--level", choices=("rms", "active"),
                        help="dynamic mixing sets levels on the crop's RMS or on its active speech")
    parser.add_argument("--max-db", type=float, metavar="DB",
                        help="dynamic mixing: relative levels uniform in 0-DB dB (default 5, as wsj0-2mix)")
    parser.add_argument("--partial", type=float, metavar="SHARE",
                        help="dynamic mixing: this share of mixtures only partly overlapped (default 0)")
    parser.add_argument("--single", type=float, metavar="SHARE",
                        help="dynamic mixing: this share of crops holds one talker alone (the other output "
                             "should stay silent; default 0)")
    parser.add_argument("--rooms", type=float, metavar="SHARE",
                        help="dynamic mixing: this share of crops has both talkers in one reverberant room "
                             "(default 0)")
    parser.add_argument("--pseudo-speakers", action="store_true",
                        help="dynamic mixing: new pitch and formant factors for each crop of a person")
    parser.add_argument("--seed", type=int, help="override the seed of the data order and the model's start")
    parser.add_argument("--keep-epochs", action="store_true",
                        help="also keep each epoch's weights in OUT/epochs/ (for tasnet-edu average)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 … (default: cuda when available)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


#: The flags that must be above 0 when given → what a value of 0 or less would mean.
POSITIVE = {"epochs": "a run needs at least one epoch", "batch_size": "a batch needs at least one crop",
            "segment": "a training crop must be longer than 0 seconds",
            "lr": "a learning rate must be above 0"}


def overrides(args: argparse.Namespace) -> dict:
    """The ``TrainConfig`` fields the flags set: those given (``--max-db 0``, ``--partial 0``, ``--single 0``,
    ``--rooms 0`` too), and the switches that are on. ``--epochs``, ``--batch-size``, ``--segment`` and
    ``--lr`` of 0 or less: ``CourseError``."""
    for name, why in POSITIVE.items():
        value = getattr(args, name)
        if value is not None and not value > 0:
            raise CourseError(f"--{name.replace('_', '-')} {value}: {why}")
    given = {k: v for k, v in {"max_epochs": args.epochs, "batch_size": args.batch_size,
                               "segment": args.segment, "lr": args.lr, "level": args.level,
                               "max_db": args.max_db, "partial": args.partial, "single": args.single,
                               "rooms": args.rooms, "seed": args.seed}.items()
             if v is not None}
    if args.pseudo_speakers:
        given["pseudo_speakers"] = True
    if args.dynamic_mix:
        given["dynamic_mix"] = True
    return given


def run(args: argparse.Namespace) -> int:
    trainer = run_training(args.out, args.data, preset_name=args.preset, overrides=overrides(args),
                           dataset=args.dataset, valid_data=args.valid_data, resume=args.resume,
                           init=args.init, causal=args.causal, device=args.device,
                           progress=not args.no_progress, keep_epochs=args.keep_epochs)
    if trainer.rank == 0:
        # the trainer's best is on this run's validation set (warm_start starts it afresh on another one)
        best = trainer.best if trainer.valid_set is not None else float("nan")
        on = f" on {trainer.valid_name}" if trainer.valid_name else ""
        print(f"trained {trainer.epoch} epoch(s), {trainer.step} steps; best validation SI-SNRi{on} "
              f"{best:.2f} dB; checkpoints in {trainer.out_dir}")
    return 0
