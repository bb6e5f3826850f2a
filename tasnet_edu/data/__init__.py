"""Speech and mixtures: offline synthetic speakers, wsj0-2mix-style mixtures, and dataset loaders.

- ``speech``: speech synthesised on the machine (espeak-ng through ``espeakng-loader``), many distinct voices.
- ``mixtures``: ``make_mixtures`` writes two-speaker mixtures in the wsj0-2mix layout
  (``tr/ cv/ tt/``, each with ``mix/ s1/ s2/``); the committed ``data_samples/``.
- ``datasets``: ``WSJ0Mix`` (which reads the course's mixtures and the real corpus alike), ``LibriMix``, WHAM!.
"""

import importlib

_HOME = {
    # speech
    "synthesize": "speech", "list_speakers": "speech", "Speaker": "speech",
    # mixtures
    "make_mixtures": "mixtures", "ensure_mixtures": "mixtures", "samples_dir": "mixtures",
    "load_sample_mixture": "mixtures", "configure_parser": "mixtures", "run_cli": "mixtures",
    # datasets
    "WSJ0Mix": "datasets", "LibriMix": "datasets", "WHAMMix": "datasets", "DynamicMix": "datasets",
}


def __getattr__(name: str):
    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
