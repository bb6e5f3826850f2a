"""The checkpoint file: what a training run writes, a shipped model is, and ``pretrained.load`` reads.

A checkpoint is a ``torch.save``'d dict of plain data (tensors, numbers, strings, lists, dicts), read back
with ``weights_only=True``, so loading a file from the internet runs no code. Its keys are declared once, in
three nested types: ``Record`` (what a checkpoint says about itself), ``Checkpoint`` (also what loads a
model) and ``TrainingCheckpoint`` (also what an exact resume needs).
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import TypedDict

import torch

import tasnet_edu
from tasnet_edu import models
from tasnet_edu.errors import CourseError
from tasnet_edu.models.conv_tasnet import causal_copy
from tasnet_edu.utils import atomic_write

CHECKPOINT_FORMAT = "tasnet-edu-checkpoint/1"


class Record(TypedDict):
    """What a checkpoint says about itself, without its weights (``pretrained.record``)."""

    #: The ``tasnet_edu.train.TrainConfig`` fields as a dict: ``model_class`` (a name in
    #: ``tasnet_edu.models``), ``model_config`` (its keyword arguments), ``n_src``, ``sample_rate``, …
    config: dict
    epoch: int  # epochs trained
    #: ``best_valid_si_snri``, ``bad_epochs`` and ``epochs`` (one record per epoch: ``epoch``, ``step``,
    #: ``train_loss``, ``valid_si_snri``, ``lr``, ``train_seconds``, optionally ``valid_data``).
    metrics: dict
    versions: dict  # of the package, torch and Python at writing time (``versions``)


class Checkpoint(Record):
    """What a model needs without its training: enough to rebuild, load and explain it
    (``inference_part``)."""

    format: str  # ``CHECKPOINT_FORMAT``, so a foreign torch file is refused with a clear message
    state_dict: dict  # the weights


class TrainingCheckpoint(Checkpoint):
    """What a training run writes: also what an exact resume needs (``pretrained.export`` drops it)."""

    optimizer: dict
    scheduler: dict
    progress: dict  # the position inside an epoch


RECORD_KEYS = tuple(Record.__annotations__)
INFERENCE_KEYS = tuple(Checkpoint.__annotations__)
CHECKPOINT_KEYS = tuple(TrainingCheckpoint.__annotations__)


def inference_part(state: dict) -> Checkpoint:
    """``state``'s ``INFERENCE_KEYS`` (those it has, in its order): a checkpoint that loads but cannot resume
    a run."""
    return {k: v for k, v in state.items() if k in INFERENCE_KEYS}


def versions() -> dict:
    """Versions recorded in checkpoints, to explain a checkpoint that no longer loads in a year."""
    return {"tasnet_edu": tasnet_edu.__version__, "torch": str(torch.__version__),
            "python": platform.python_version()}


def save_checkpoint(state: dict, path) -> Path:
    """Write ``state`` to ``path`` atomically and on the disk (``utils.atomic_write`` with ``fsync``), so an
    interrupted save never leaves a truncated file under the real name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, fsync=True) as tmp:
        torch.save(state, tmp)
    return path


def load_checkpoint(path, map_location="cpu") -> Checkpoint:
    """Read a checkpoint (``weights_only=True``: no code runs while loading); its keys are ``Checkpoint``'s,
    and a training checkpoint's also ``TrainingCheckpoint``'s.

    Raises:
        CourseError: the file is missing, truncated or not a torch file, or a torch file of another program.
    """
    path = Path(path)
    if not path.is_file():
        raise CourseError(f"{path}: no such checkpoint file")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated zip, pickle of foreign objects, random bytes: all one answer
        raise CourseError(f"{path}: not a readable checkpoint (truncated, or not written by torch.save): "
                          f"{type(err).__name__}: {str(err).splitlines()[0][:200]}") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        found = sorted(checkpoint)[:8] if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise CourseError(f"{path}: not a tasnet-edu checkpoint (expected format {CHECKPOINT_FORMAT!r} with "
                          f"keys {list(INFERENCE_KEYS)}; found {found})")
    return checkpoint


def build_model(model_class: str, model_config: dict, n_src: int,
                sample_rate: int = tasnet_edu.SAMPLE_RATE) -> torch.nn.Module:
    """A freshly initialised ``tasnet_edu.models.<model_class>(n_src=n_src, **model_config,
    sample_rate=sample_rate)``."""
    try:
        cls = getattr(models, model_class)
    except AttributeError:
        raise CourseError(f"unknown model class {model_class!r} (tasnet_edu.models has "
                          f"{models.__all__})") from None
    return cls(**{"n_src": n_src, **model_config}, sample_rate=int(sample_rate))


def model_from_checkpoint(checkpoint: Checkpoint) -> torch.nn.Module:
    """The trained model of a checkpoint (from ``load_checkpoint``), in eval mode on the CPU, built for the
    ``sample_rate`` (Hz) it was trained at."""
    config = checkpoint["config"]
    model = build_model(config["model_class"], config["model_config"], config["n_src"], config["sample_rate"])
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as err:
        raise CourseError(f"checkpoint weights do not fit its recorded model configuration: "
                          f"{str(err).splitlines()[0]}") from None
    return model.eval()


def causal_checkpoint(checkpoint: Checkpoint) -> Checkpoint:
    """A checkpoint of ``causal_copy`` of a non-causal Conv-TasNet checkpoint, to start training from.

    Its configuration is the checkpoint's with ``causal=True`` (and cLN for gLN); it has no epochs and no
    best score: the non-causal model's validation scores are not the causal model's.
    """
    model = model_from_checkpoint(checkpoint)
    if not isinstance(model, models.ConvTasNet):
        raise CourseError(f"a causal copy needs a Conv-TasNet checkpoint; this one holds a "
                          f"{type(model).__name__}")
    causal = causal_copy(model)
    model_config = {**checkpoint["config"]["model_config"], "causal": True, "norm": causal.config["norm"]}
    return {"format": CHECKPOINT_FORMAT, "config": {**checkpoint["config"], "model_config": model_config},
            "state_dict": causal.state_dict(), "epoch": 0,
            "metrics": {"best_valid_si_snri": float("-inf"), "bad_epochs": 0, "epochs": []},
            "versions": versions()}

