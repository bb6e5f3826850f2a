"""Speech and mixtures: offline synthetic speakers, wsj0-2mix-style mixtures, and dataset loaders.

- ``speech``: speech synthesised on the machine (espeak-ng through ``espeakng-loader``), many distinct voices.
- ``natural``: recordings of people shipped in Debian packages (``tasnet-edu fetch-speech``).
- ``festival``: twelve Festival voices, each made from one person's recordings, rendered into that cache
  for training (``tasnet-edu render-festival``; ``make-data --festival``).
- ``voices``: pseudo-speakers, a person with other formants and pitch (``make-data --pseudo-speakers``).
- ``pico``: optional SVOX Pico voices (``pip install -e ".[speech]"``), six voices in five languages.
- ``families``: the voice families above behind one interface (who may talk, how an utterance is made);
  ``plans``: the typed plan of a mixture and the recipes that draw it from a seed.
- ``mixtures``: ``make_mixtures`` writes two-speaker mixtures in the wsj0-2mix layout
  (``tr/ cv/ tt/``, each with ``mix/ s1/ s2/``); ``ensure_mixtures`` caches them; the committed
  ``data_samples/``. ``tasnet-edu make-data`` runs ``make_mixtures``.
- ``layout``: that layout and the manifest's keys, which the writer and the readers share.
- ``datasets``: ``WSJ0Mix`` (reads the course's mixtures and the real corpus alike), ``LibriMix``,
  ``WHAMMix``: readers of files, which import no generator. ``dynamic``: ``DynamicMix`` (new pairs and gains
  every epoch, pseudo-speakers with ``voices``).
"""

from tasnet_edu.data.datasets import LibriMix, ShuffledOrder, WHAMMix, WSJ0Mix
from tasnet_edu.data.dynamic import DynamicMix
from tasnet_edu.data.mixtures import (
    ensure_mixtures,
    load_sample_mixture,
    make_mixtures,
    read_manifest,
    samples_dir,
)
from tasnet_edu.data.speech import Speaker, list_speakers, synthesize

__all__ = [
    "DynamicMix", "LibriMix", "ShuffledOrder", "WHAMMix", "WSJ0Mix", "Speaker", "ensure_mixtures",
    "list_speakers", "load_sample_mixture", "make_mixtures", "read_manifest", "samples_dir", "synthesize",
]
