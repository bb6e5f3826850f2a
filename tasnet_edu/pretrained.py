"""Ready-to-use models: a checkpoint written by ``tasnet-edu train``, or a model the course ships by name.

``load("course-small")`` or ``load("runs/x/best.pt")`` returns the model in eval mode on the requested
device. Checkpoints are read with ``torch.load(..., weights_only=True)``: a checkpoint is data (tensors,
numbers, strings), never code, so a file from the internet cannot run anything on the reader's machine.
``load_weights(model, checkpoint)`` puts a checkpoint's weights into a model you built yourself, and says
which hyper-parameters differ when they do not fit.
"""

from __future__ import annotations

from pathlib import Path

import torch

from tasnet_edu.errors import CourseError

RESOURCES = Path(__file__).resolve().parent / "resources"

#: Models the course ships: name → file under ``tasnet_edu/resources/``. ``course-small`` is a Conv-TasNet
#: trained on the course's generated mixtures (issue 9); until its file is committed, ``load`` says so.
SHIPPED = {"course-small": "course-small.pt"}

TRAIN_HINT = (
    "train one yourself: `tasnet-edu make-data --out data/course --n-train N --n-valid N --n-test N`, then "
    "`tasnet-edu train --preset colab-t4 --data data/course --out runs/course-small` (cpu-tiny for a quick "
    "CPU try), and pass the checkpoint it writes as a path"
)


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
                f"the model {name_or_path!r} has not been shipped yet (expected at {path}); {TRAIN_HINT}"
            )
        return path
    path = Path(name_or_path)
    if not path.is_file():
        raise CourseError(
            f"{path}: no such checkpoint file, and not a shipped model name ({', '.join(SHIPPED)})"
        )
    return path


def load(name_or_path, device="cpu") -> torch.nn.Module:
    """Load a shipped model (``"course-small"``) or a checkpoint file, ready to separate.

    Args:
        name_or_path: a name in ``SHIPPED`` or the path of a checkpoint written by ``tasnet-edu train``.
        device: where the model goes (``"cpu"``, ``"cuda"``, a ``torch.device``).

    Returns:
        the model in eval mode; ``model(mix (batch, time)) → (batch, n_src, time)``.

    Raises:
        CourseError: unknown name, model not shipped yet, missing/truncated/foreign checkpoint, weights that
        do not fit the recorded configuration, or a CUDA device on a machine without one.

    Example:
        >>> model = load("runs/course-small/best.pt")  # doctest: +SKIP
    """
    from tasnet_edu import train  # the checkpoint format is the trainer's: one reader, in train.py

    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CourseError("--device cuda was asked for, but this machine has no CUDA GPU; use cpu")
    checkpoint = train.load_checkpoint(resolve(name_or_path))
    model = train.model_from_checkpoint(checkpoint)
    return model.to(device).eval()
