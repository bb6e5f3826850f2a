"""The separation models of the course: ``DeepClustering`` (ch. 04), ``TasNet`` (ch. 06), ``ConvTasNet`` (ch. 08).

All mask-based time-domain models map a mixture ``(batch, time)`` to estimates ``(batch, n_src, time)``.
"""

import importlib

_HOME = {"ConvTasNet": "conv_tasnet", "TasNet": "tasnet", "DeepClustering": "deep_clustering"}
__all__ = list(_HOME)


def __getattr__(name: str):
    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
