"""Ready-to-use models: a checkpoint written by ``tasnet-edu train``, or a model the course ships by name.

``load("course-small")`` or ``load("runs/x/best.pt")`` returns the model in eval mode on the requested
device. Checkpoints are read with ``torch.load(..., weights_only=True)``: a checkpoint is data (tensors,
numbers, strings), never code, so a file from the internet cannot run anything on the reader's machine.
``load_weights(model, checkpoint)`` puts a checkpoint's weights into a model you built yourself, and says
which hyper-parameters differ when they do not fit.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from tasnet_edu.checkpoints import inference_part, load_checkpoint, model_from_checkpoint, save_checkpoint
from tasnet_edu.errors import CourseError

RESOURCES = Path(__file__).resolve().parent / "resources"

#: Models the course ships: name → file under ``tasnet_edu/resources/``, written there by ``export``.
#: ``course-small-espeak``: a non-causal Conv-TasNet (preset ``course-small`` of ``tasnet_edu.train``) trained
#: on the course's espeak voices only (``data/course-train``); ``course-small``: that model gone on with
#: recordings of people mixed in (``data/mixed``, then ``data/mixed-seconds``; chosen on held-out real
#: speakers, ``data/real``), the default of ``tasnet-edu separate``; ``course-small-causal``: an earlier stage
#: of ``course-small`` (``runs/real-2`` at epoch 79) made causal (cLN, left padding only, its look-ahead taps
#: cut: ``models.conv_tasnet.causal_copy``) and trained on, on the same data; ``deep-clustering``: a BLSTM
#: deep clustering model (preset ``deep-clustering``). README.md ("The shipped models") gives the time each
#: took and its scores.
SHIPPED = {
    "course-small": "course-small.pt",
    "course-small-espeak": "course-small-espeak.pt",
    "course-small-causal": "course-small-causal.pt",
    "deep-clustering": "deep-clustering.pt",
}

#: The commands that made each shipped model (the data command is shared), then ``export`` of the checkpoint
#: the last one wrote (``best_checkpoint``: a run's ``best.pt``, or an average). ``course-small`` trained 14
#: epochs, then went on from that run's best weights with a fresh optimizer (``--init``): the 14-epoch model
#: had shipped alone, without optimizer state, and the later epochs continued from it; its epoch 42 then
#: restarted at twice its last learning rate (``--lr``); its epoch 49 went on at half that rate (``--lr``
#: again), its epoch 53 at that same rate, and epoch 64 of that last run ships. ``deep-clustering`` was
#: trained by the course's earlier deep clustering script, the loop that preset ``deep-clustering`` now
#: replaces with the same recipe (20 validations 500 steps apart, the rate halved after 3 without a better
#: one), and its file converted to the common checkpoint format (weights unchanged; its per-epoch records have
#: no training loss or time).
MAKE_DATA = "tasnet-edu make-data --out data/course-train --n-train 3000 --n-valid 100 --n-test 200"
#: Recordings of people (``tasnet_edu.data.natural``): the Debian packages, a set of held-out real speakers
#: (validation ``cv/`` and test ``tt/``), and training mixtures where each talker is a person or an espeak
#: voice with equal odds.
MAKE_NATURAL = (
    "tasnet-edu fetch-speech --cache data/natural-cache",
    "tasnet-edu make-data --out data/real --n-valid 150 --n-test 150 --speech natural "
    "--natural-cache data/natural-cache --seed 1",
    "tasnet-edu make-data --out data/mixed --n-train 6000 --speech all --natural-cache data/natural-cache "
    "--seed 2",
)
ESPEAK_ONLY = (MAKE_DATA, "tasnet-edu train --preset course-small --data data/course-train "
                          "--out runs/course-small",
               "tasnet-edu train --init runs/course-small/best.pt --epochs 42 --data data/course-train "
               "--out runs/course-small-2",
               "tasnet-edu train --init runs/course-small-2/best.pt --lr 2.5e-4 --epochs 49 "
               "--data data/course-train --out runs/course-small-3",
               "tasnet-edu train --init runs/course-small-3/best.pt --lr 1.25e-4 --epochs 54 "
               "--data data/course-train --out runs/course-small-4",
               "tasnet-edu train --init runs/course-small-4/best.pt --epochs 64 "
               "--data data/course-train --out runs/course-small-5")
WITH_PEOPLE = (*ESPEAK_ONLY, *MAKE_NATURAL,
               "tasnet-edu train --init runs/course-small-5/best.pt --lr 5e-4 --level active "
               "--data data/mixed --valid-data data/real --epochs 76 --out runs/real-1")
#: ``course-small`` went on from ``runs/real-1`` with the people drawn by the seconds they recorded (the run
#: was started with ``--epochs 85`` and stopped after epoch 82: the same steps as the first command; resumed
#: with ``--epochs 100`` and stopped after epoch 92, then with ``--epochs 110 --keep-epochs`` and stopped
#: after epoch 101, its best being epoch 94: the same steps as the second).
BY_SECONDS = (*WITH_PEOPLE,
              "tasnet-edu make-data --out data/mixed-seconds --n-train 6000 --speech all "
              "--natural-cache data/natural-cache --seed 2 --people-by seconds",
              "tasnet-edu train --init runs/real-1/best.pt --lr 5e-4 --level active "
              "--data data/mixed-seconds --valid-data data/real --epochs 82 --out runs/real-2",
              "tasnet-edu train --resume --level active --data data/mixed-seconds --valid-data data/real "
              "--epochs 94 --out runs/real-2")
#: Then a warm restart from that epoch 94 at half the first rate, every epoch kept (run from a copy of
#: ``runs/real-2`` whose ``best.pt`` was epoch 94; stopped after epoch 100 and resumed, stopped for time after
#: epoch 111, its best: the same steps as this command). Epoch 111 ships: of epoch 94, the run's best epoch
#: and the mean of its epochs 95–111, it scored best on all 150 validation mixtures (a rule fixed before the
#: run). Resumed once more (``--resume --epochs 130``, stopped for time after epoch 119), it still did: epoch
#: 111 5.56 dB, the best later epoch (117) 5.49, the mean of epochs 112–119 5.46.
WARM_RESTART = (*BY_SECONDS,
                "tasnet-edu train --init runs/real-2/best.pt --lr 2.5e-4 --keep-epochs --level active "
                "--data data/mixed-seconds --valid-data data/real --epochs 111 --out runs/real-3")
RECIPES = {
    "course-small-espeak": ESPEAK_ONLY,
    "course-small": WARM_RESTART,
    # runs/real-2's best.pt after its first command (epoch 79), made causal; stopped after epoch 4 and resumed
    # (``--resume --epochs 16``, stopped after epoch 12; ``--resume --epochs 40 --keep-epochs``, it
    # early-stopped after epoch 28, its best being epoch 18): the same steps as the first command. Then a warm
    # restart from epoch 18 at half the first rate, stopped for time after epoch 24 and resumed (``--resume
    # --epochs 60``), stopped for time after epoch 31: the same steps as the last command. Epoch 25, its best,
    # ships: of epoch 24 (shipped before), the best new epoch and the mean of epochs 25-31, it scored best on
    # all 150 validation mixtures, the rule course-small's epoch 111 was chosen by.
    "course-small-causal": (*BY_SECONDS[:-1],
                            "tasnet-edu train --init runs/real-2/best.pt --causal --lr 5e-4 --level active "
                            "--data data/mixed-seconds --valid-data data/real --epochs 18 "
                            "--out runs/causal-real-2",
                            "tasnet-edu train --init runs/causal-real-2/best.pt --lr 2.5e-4 --keep-epochs "
                            "--level active --data data/mixed-seconds --valid-data data/real --epochs 25 "
                            "--out runs/causal-real-3"),
    "deep-clustering": (MAKE_DATA, "tasnet-edu train --preset deep-clustering --data data/course-train "
                                   "--out runs/deep-clustering"),
}


def best_checkpoint(name: str) -> str:
    """The checkpoint the last command of ``RECIPES[name]`` leaves as the model (what ``export`` shipped): its
    ``--out`` when that is a file (``tasnet-edu average``), else ``best.pt`` in that run folder."""
    out = re.search(r"--out (\S+)", RECIPES[name][-1]).group(1)
    return out if out.endswith(".pt") else f"{out}/best.pt"


def train_hint(name: str) -> str:
    """How to get the shipped model ``name`` when its file is missing: where it comes from, or the recipe."""
    best = best_checkpoint(name)
    return (f"it ships inside the package (a git checkout or an install with package data has it); or train "
            f"one: `{'`, then `'.join(RECIPES[name])}`, and load {best} instead (`--checkpoint {best}`)")


#: What a checkpoint says about itself besides its weights (``record``).
RECORD_KEYS = ("config", "epoch", "metrics", "versions")


def shipped_path(name: str) -> Path:
    """Where the shipped model ``name`` lives inside the package (whether or not it is there yet)."""
    if name not in SHIPPED:
        raise CourseError(f"no shipped model named {name!r}; known: {', '.join(SHIPPED)}")
    return RESOURCES / SHIPPED[name]


def resolve(name_or_path) -> Path:
    """A shipped model's name or a checkpoint path → an existing checkpoint file, or a ``CourseError``."""
    if str(name_or_path) in SHIPPED:
        path = shipped_path(str(name_or_path))
        if not path.is_file():
            raise CourseError(
                f"the model {name_or_path!r} is missing (expected at {path}); {train_hint(str(name_or_path))}"
            )
        return path
    path = Path(name_or_path)
    if not path.is_file():
        raise CourseError(
            f"{path}: no such checkpoint file, and not a shipped model name ({', '.join(SHIPPED)})"
        )
    return path


def load(name_or_path, device="cpu") -> torch.nn.Module:
    """Load a shipped model (a name in ``SHIPPED``) or a checkpoint file, ready to separate.

    Args:
        name_or_path: a name in ``SHIPPED`` or the path of a checkpoint written by ``tasnet-edu train``.
        device: where the model goes (``"cpu"``, ``"cuda"``, a ``torch.device``).

    Returns:
        the model in eval mode, built with the configuration the checkpoint records;
        ``model(mix (batch, time)) → (batch, n_src, time)``; ``model.sample_rate`` is the rate (Hz) it was
        trained at, which ``tasnet_edu.separate`` resamples to.

    Raises:
        CourseError: unknown name, model not shipped yet, missing/truncated/foreign checkpoint, weights that
        do not fit the recorded configuration, or a CUDA device on a machine without one.

    Example:
        >>> model = load("runs/course-small/best.pt")  # doctest: +SKIP
    """
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CourseError(f"device {str(device)!r} was asked for, but this machine has no CUDA GPU; use cpu")
    return model_from_checkpoint(load_checkpoint(resolve(name_or_path))).to(device)


def record(name_or_path) -> dict:
    """What a checkpoint says about itself, without its weights: ``config`` (the ``TrainConfig`` fields),
    ``epoch``, ``metrics`` (best validation SI-SNRi, the per-epoch log) and ``versions`` (torch, Python,
    course package at training time)."""
    checkpoint = load_checkpoint(resolve(name_or_path))
    return {k: checkpoint[k] for k in RECORD_KEYS if k in checkpoint}


def load_weights(model: torch.nn.Module, name_or_path) -> torch.nn.Module:
    """Copy a checkpoint's weights into ``model``, a model you built yourself; returns ``model``.

    Raises:
        CourseError: when the checkpoint was trained with another configuration; the message names every
        hyper-parameter that differs, e.g. ``checkpoint has N=256, model has N=512``.
    """
    trained = load(name_or_path, device=next(model.parameters(), torch.empty(0)).device)
    if type(trained) is not type(model):
        kinds = type(trained).__name__, type(model).__name__
        raise CourseError(f"{name_or_path}: the checkpoint holds a {kinds[0]}, the model is a {kinds[1]}")
    misfit = f"{name_or_path}: its weights do not fit this model"
    ours = getattr(model, "config", None)
    differ = [
        f"checkpoint has {k}={v!r}, model has {k}={ours.get(k)!r}"
        for k, v in getattr(trained, "config", {}).items()
        if ours is not None and ours.get(k) != v
    ]
    if differ:
        raise CourseError(
            f"{misfit}: {'; '.join(differ)}; build the model with "
            "the checkpoint's values, or let `pretrained.load` build it"
        )
    try:
        model.load_state_dict(trained.state_dict())
    except RuntimeError as err:  # a model without ``config``: only the tensor shapes can tell
        raise CourseError(f"{misfit}: {' '.join(str(err).split())[:300]}") from None
    model.sample_rate = trained.sample_rate
    return model


def export(checkpoint, out) -> Path:
    """Write the inference part of a training checkpoint to ``out``: no optimizer or scheduler state.

    Adam keeps two moments per weight, so this file is about a third of the training checkpoint; it still
    loads with ``load`` (but cannot resume training). How a shipped model is made::

        export("runs/course-small/best.pt", shipped_path("course-small"))
    """
    state = load_checkpoint(resolve(checkpoint))
    return save_checkpoint(inference_part(state), out)
