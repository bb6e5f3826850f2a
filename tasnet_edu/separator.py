"""The separator interface: what the package reads from anything it separates with.

A model (``ConvTasNet``, ``TasNet``, ``DeepClustering``), a wrapper around one (``inference.ShiftAverage``)
and an engine that runs one (``compiled.FastConvTasNet``) all provide it, so ``inference``, ``separate``,
``evaluate`` and ``pretrained.load`` take any of them. It is a ``typing.Protocol``: a class provides it by
having the members, without inheriting from it.

Example:
    >>> from tasnet_edu.models import ConvTasNet
    >>> model = ConvTasNet.tiny(sample_rate=16000)
    >>> isinstance(model, Separator), model.sample_rate, model.stride
    (True, 16000, 8)
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from tasnet_edu.errors import CourseError


@runtime_checkable
class Separator(Protocol):
    """Maps mixtures to their sources at one sample rate.

    Members:

    * ``sample_rate`` — Hz; the rate it was trained at, which its input must have. Set when the object
      is built (a model's constructor keyword, a wrapper's from the model it wraps);
    * ``n_src`` — the number of sources it returns;
    * ``stride`` — hop in samples between its analysis frames (the encoder's, or the STFT's);
    * ``L`` — samples in one analysis frame: the shortest input it separates;
    * ``config`` — the keyword arguments that rebuild the network (``ConvTasNet(**model.config)``);
      ``sample_rate`` is not among them: a checkpoint records it beside them;
    * ``separator(mix)`` — ``mix (batch, time)`` → estimates ``(batch, n_src, time)``.
    """

    sample_rate: int
    n_src: int
    stride: int
    L: int
    config: dict

    def __call__(self, mix: torch.Tensor) -> torch.Tensor: ...


#: The members ``check_separator`` looks for, in the order the docstring gives them.
MEMBERS = tuple(Separator.__annotations__)


def check_separator(obj, who: str) -> None:
    """Raise ``CourseError`` naming ``who`` and each missing member unless ``obj`` is a ``Separator``."""
    missing = [name for name in MEMBERS if not hasattr(obj, name)]
    if missing or not callable(obj):
        lacks = ", ".join(missing) if missing else "a call (mix) -> estimates"
        raise CourseError(f"{who} needs a separator (tasnet_edu.separator.Separator: {', '.join(MEMBERS)} "
                          f"and a call); {type(obj).__name__} lacks {lacks}")


def copy_members(dst, src) -> None:
    """Give ``dst`` the ``MEMBERS`` of ``src`` (a wrapper or an engine takes those of the model it runs)."""
    for name in MEMBERS:
        setattr(dst, name, getattr(src, name))
