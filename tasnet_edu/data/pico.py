"""Optional voices from SVOX Pico: six HMM-based synthetic voices that install with pip alone.

espeak-ng's formant synthesis is far from a person; Pico, the engine Android shipped for years, is
statistical parametric synthesis trained on recordings of one speaker per language, so its voices keep more
of a person's timbre than formant rules do. The PyPI package ``ttspico`` (Apache-2.0), a source release
that pip builds with a C compiler, brings six voices, all women's: ``en-US``, ``en-GB``, ``de-DE``,
``es-ES``, ``fr-FR``, ``it-IT``. It is an *optional* extra, ``pip install -e ".[speech]"``; without it,
synthesis raises ``CourseError`` with one line that says so (listing speakers and sentences needs no engine).

A *speaker* is one voice with a pitch, a speaking rate, a spectral tilt and a vocal-tract scale (as in
``speech``). Half of each voice's speakers are lowered toward a man's voice (pitch 55–72 % and a longer
vocal tract), since Pico has no man's voice. The *voices*, not only the speakers, are split between train,
validation and test (``VOICE_SPLITS``), and each voice speaks its own language's sentences
(``speech.sentence_splits(language)``, from ``resources/sentences*.txt``).

Pico writes 16-bit samples at 16 kHz, about 240× faster than real time on one CPU core; the same text and
speaker give the same samples (a fresh engine per utterance: a reused one carries state between calls).

Example:
    >>> spk = list_speakers("test")[0]                                  # doctest: +SKIP
    >>> wav = synthesize("The boat drifted past the pier.", spk)         # float32 (time,) at 8 kHz
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from tasnet_edu import SAMPLE_RATE
from tasnet_edu.data import speech
from tasnet_edu.errors import CourseError

PACKAGE = "ttspico"
LICENCE = "Apache-2.0 (SVOX Pico engine and voice data, packaged by ttspico)"
NATIVE_RATE = 16000  # Pico's output sample rate
PREFIX = "pico/"  # every Pico speaker name starts with it: pico/<voice>/<prosody>
#: Voice (Pico's language code) → the voice file's speaker id. All six are women's voices.
VOICES = {"en-US": "lh0", "en-GB": "kh0", "de-DE": "gl0", "es-ES": "zl0", "fr-FR": "nk0", "it-IT": "cm0"}
#: Held-out voices, fixed: test holds an English voice, so the unseen-voice score is on the course's language.
VOICE_SPLITS = {"train": ("de-DE", "en-US", "fr-FR", "it-IT"), "valid": ("es-ES",), "test": ("en-GB",)}
#: Pico's volume in percent: 100 clips loud syllables (0.8 % of samples); at 30 no sentence tried peaked
#: above 0.72 of full scale.
VOLUME = 30
PER_VOICE = 8  # speakers made from each voice


def missing_message() -> str:
    """The one line shown when the extra is not installed."""
    return (f"tasnet_edu.data.pico (the Pico voices) needs the PyPI package {PACKAGE}: "
            'pip install -e ".[speech]"')


def _module():
    """The ``ttspico`` module, or ``CourseError`` (one line) when it is missing or does not load."""
    try:
        import ttspico
    except ImportError:
        raise CourseError(missing_message()) from None
    return ttspico


@lru_cache(maxsize=1)
def _language_dir() -> Path | None:
    """The folder of Pico's ``*_ta.bin`` / ``*_sg.bin`` files that the ttspico wheel installed.

    ttspico installs them as data files under the install scheme's data folder, which is not always
    ``sys.prefix`` (Debian's and Colab's Python put it under ``/usr/local``), so we ask the package's record.
    """
    try:
        files = importlib.metadata.files(PACKAGE) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    found = [f for f in files if f.name == "en-US_ta.bin"]
    return Path(found[0].locate()).resolve().parent if found else None


def _engine(voice: str):
    """A fresh Pico engine for ``voice`` (a reused engine's output depends on what it said before)."""
    ttspico = _module()
    folder = _language_dir()
    try:
        return ttspico.TtsEngine(voice, lang_dir=str(folder) if folder else None)
    except RuntimeError:
        raise CourseError(f"{PACKAGE} found no voice data for {voice} (looked in {folder}); "
                          f"reinstall it: pip install --force-reinstall {PACKAGE}") from None


def backend_info() -> dict:
    """Engine, package version, output rate and licence, for dataset manifests."""
    _module()
    return {"engine": "SVOX Pico", "package": f"{PACKAGE} {importlib.metadata.version(PACKAGE)}",
            "sample_rate": NATIVE_RATE, "licence": LICENCE}


@dataclass(frozen=True)
class PicoSpeaker:
    """One Pico speaker: a voice, prosody and timbre.

    Args:
        voice: Pico language code, a key of ``VOICES`` (e.g. ``"de-DE"``).
        pitch: pitch in percent of the voice's own (Pico accepts 50–200).
        rate: speaking rate in percent of the voice's own (Pico accepts 20–500).
        tilt: first-order spectral tilt ``y[n] = x[n] - tilt * x[n-1]``; > 0 brighter, < 0 duller.
        vtl: vocal-tract scale: < 1 moves all formants (and pitch) down, like a longer vocal tract.
    """

    voice: str
    pitch: int = 100
    rate: int = 100
    tilt: float = 0.0
    vtl: float = 1.0

    @property
    def name(self) -> str:
        """A short unique id, e.g. ``pico/de-DE/p64s105v0.9t0.12``."""
        return f"{PREFIX}{self.voice}/p{self.pitch}s{self.rate}v{self.vtl:g}t{self.tilt:g}"

    @property
    def group(self) -> str:
        """Its speaker group, the voice (``pico/de-DE``): never two speakers of one voice in a mixture."""
        return f"{PREFIX}{self.voice}"

    @property
    def language(self) -> str:
        """The language of the sentences this voice reads: ``"en"``, ``"de"``, …"""
        return self.voice.split("-")[0]

    def to_dict(self) -> dict:
        return {"name": self.name, **asdict(self)}


def _speaker(voice: str, k: int) -> PicoSpeaker:
    """The ``k``-th speaker of ``voice``; even ``k`` are lowered toward a man's voice."""
    rng = np.random.default_rng(int(speech.stable_unit("pico-speaker", voice, k) * 2**63))
    low = k % 2 == 0
    pitch = rng.integers(55, 73) if low else rng.integers(88, 126)
    vtl = rng.uniform(0.86, 0.94) if low else rng.uniform(0.96, 1.08)
    return PicoSpeaker(voice=voice, pitch=int(pitch), rate=int(rng.integers(85, 121)),
                       tilt=round(float(rng.uniform(-0.4, 0.4)), 3), vtl=round(float(vtl), 3))


def list_speakers(split: str | None = None, per_voice: int = PER_VOICE) -> list[PicoSpeaker]:
    """All Pico speakers of one split (``"train"``, ``"valid"``, ``"test"``) or of all splits (``None``).

    ``per_voice`` speakers per voice, the same on every call and machine (no engine is needed to list them).
    """
    if split is not None and split not in speech.SPLITS:
        raise CourseError(f"split must be one of {speech.SPLITS} or None, got {split!r}")
    if per_voice < 1:
        raise CourseError(f"per_voice must be ≥ 1, got {per_voice}")
    splits = speech.SPLITS if split is None else (split,)
    return [_speaker(v, k) for s in splits for v in VOICE_SPLITS[s] for k in range(per_voice)]


def _pcm(text: str, speaker: PicoSpeaker) -> np.ndarray:
    """int16 ``(time,)`` at 16 kHz from a fresh engine."""
    if speaker.voice not in VOICES:
        raise CourseError(f"Pico has no voice {speaker.voice!r}; choose from {sorted(VOICES)}")
    eng = _engine(speaker.voice)
    eng.pitch, eng.rate, eng.volume = speaker.pitch, speaker.rate, VOLUME
    # Pico reads <…> as markup (its own pitch and speed tags wrap the text): keep it out of the text.
    data = eng.speak(text.replace("<", " ").replace(">", " "))
    return np.frombuffer(data or b"", dtype=np.int16)


def synthesize(text: str, speaker: PicoSpeaker, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Speak ``text`` with ``speaker``: float32 ``(time,)`` at ``sample_rate``, silence trimmed, peak ≤ 1
    (the 16 kHz output given the speaker's tilt and vocal-tract scale by ``speech.timbre``)."""
    if not text.strip():
        raise CourseError("pico.synthesize: the text is empty")
    pcm = _pcm(text, speaker)
    if pcm.size == 0 or not np.any(pcm):
        raise CourseError(f"Pico produced no sound for {text!r} with voice {speaker.name}")
    return speech.timbre(pcm, NATIVE_RATE, speaker.tilt, speaker.vtl, sample_rate)


def summary() -> dict:
    """Engine, licence, and each split's voices and speaker count, for ``manifest.json``."""
    return {**backend_info(), "voices": {s: list(v) for s, v in VOICE_SPLITS.items()},
            "speakers_per_voice": PER_VOICE}
