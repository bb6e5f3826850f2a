"""Checkpoint averaging: one model whose weights are the mean of several epochs of the same run.

Late in a run, at a small learning rate, the weights wander about a minimum from epoch to epoch, and each
epoch's noise is its own; their mean sits nearer the middle of that region (Polyak averaging; Izmailov et
al. 2018, "Averaging weights leads to wider optima and better generalization", which averages the weights
along one run the same way). It costs no training: ``tasnet-edu train --keep-epochs`` keeps every epoch's
weights in ``OUT/epochs/``, and

    tasnet-edu average runs/x/epochs/epoch-010.pt runs/x/epochs/epoch-011.pt … --out runs/x/average.pt \\
        --valid-data data/real

writes their mean as a checkpoint that ``pretrained.load``, ``evaluate``, ``separate`` and ``train --init``
take, scored on the run's own validation measure (``--valid-data``) to compare it with the epochs'.
Only weights of one network are averaged: the files must share the model class and configuration.
"""

from __future__ import annotations

from pathlib import Path

from tasnet_edu.checkpoints import (
    Checkpoint,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
    versions,
)
from tasnet_edu.data import datasets
from tasnet_edu.errors import CourseError
from tasnet_edu.train import TrainConfig, validation_total

#: What must be equal in every averaged checkpoint's ``config``: the network and what it was trained for.
SAME = ("model_class", "model_config", "n_src", "sample_rate")


def average_checkpoints(checkpoints: list[Checkpoint], names: list[str]) -> Checkpoint:
    """The checkpoint whose weights are the mean of ``checkpoints``' (as ``load_checkpoint`` returns them).

    Floating-point tensors are averaged in float64 and stored in their own dtype; other tensors (counters)
    are taken from the last. The result carries the configuration, epoch and curve (``metrics``) of the
    checkpoint with the most epochs, ``metrics["averaged"] = {"epochs": [...]}``, and no optimizer state:
    it loads and starts new runs (``--init``) but does not resume one.

    Args:
        checkpoints: two or more checkpoints of the same network.
        names: their file names, for messages.

    Raises:
        CourseError: fewer than two, or one whose network differs from the first's (named).
    """
    if len(checkpoints) < 2:
        raise CourseError(f"averaging needs two or more checkpoints, got {len(checkpoints)}")
    first = checkpoints[0]
    for checkpoint, name in zip(checkpoints, names, strict=True):
        differs = [k for k in SAME if checkpoint["config"].get(k) != first["config"].get(k)]
        if differs or checkpoint["state_dict"].keys() != first["state_dict"].keys():
            what = ", ".join(differs) or "weights"
            raise CourseError(f"{name}: not the same network as {names[0]} ({what} differ); only epochs of "
                              f"one model can be averaged")
    latest = max(checkpoints, key=lambda c: c["epoch"])
    state = {}
    for key, value in first["state_dict"].items():
        if value.is_floating_point():
            mean = sum(c["state_dict"][key].double() for c in checkpoints) / len(checkpoints)
            state[key] = mean.to(value.dtype)
        else:
            state[key] = checkpoints[-1]["state_dict"][key]
    epochs = sorted(c["epoch"] for c in checkpoints)
    return {"format": latest["format"], "config": latest["config"], "state_dict": state,
            "epoch": latest["epoch"], "metrics": {**latest["metrics"], "averaged": {"epochs": epochs}},
            "versions": versions()}


def validation_score(checkpoint: dict, valid_root) -> float:
    """The training run's own validation measure for ``checkpoint``'s model (``Trainer.validate``'s
    ``validation_total``) on ``valid_root``'s ``cv/``: whole utterances, PIT SI-SNRi, the first
    ``valid_items`` of its config, on the CPU."""
    config = TrainConfig(**checkpoint["config"])
    valid = datasets.WSJ0Mix(valid_root, "cv", segment=None, n_src=config.n_src,
                             sample_rate=config.sample_rate)
    total = validation_total(model_from_checkpoint(checkpoint), valid, config.valid_items)
    return float(total[0] / total[1])


def average_files(paths: list, out, valid_data=None) -> dict:
    """Average the checkpoint files ``paths`` into ``out``; with ``valid_data`` (a wsj0-2mix root) also
    record the average's validation SI-SNRi in ``metrics["averaged"]``. Returns the written checkpoint."""
    paths = [Path(p) for p in paths]
    if len(set(paths)) != len(paths):
        raise CourseError("the same checkpoint is named twice: each epoch counts once")
    if Path(out).resolve() in {p.resolve() for p in paths}:
        raise CourseError(f"{out}: --out is one of the checkpoints to average; write the average elsewhere")
    averaged = average_checkpoints([load_checkpoint(p) for p in paths], [str(p) for p in paths])
    if valid_data is not None:
        averaged["metrics"]["averaged"].update(valid_si_snri=validation_score(averaged, valid_data),
                                               valid_data=str(valid_data))
    save_checkpoint(averaged, out)
    return averaged
