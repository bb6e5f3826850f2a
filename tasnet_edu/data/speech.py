"""Speech synthesised on the machine: many distinct English voices from espeak-ng, no download needed.

The PyPI package ``espeakng-loader`` ships the libespeak-ng shared library and its voice data; we drive it
through ``ctypes``. A *speaker* is one combination of

- an English **dialect** (US, New York, British, RP, Scottish, Lancaster, West Midlands, Caribbean),
- a **voice variant** from espeak's ``voices/!v`` folder (``m1``…``m8``, ``f1``…``f5``, the Klatt
  voices, and ~80 community voices with their own formants, pitch and breathiness),
- prosody: base **pitch**, pitch **range**, speaking **rate**,
- timbre: a spectral **tilt** (bright or dull voice) and a **vocal-tract scale** (all formants moved up or
  down together, as in vocal-tract-length perturbation).

Synthetic speech is cleaner and more regular than people are, and a separation model trained on it will be
judged on real recordings. So the voices are made as varied as the engine allows, and the *variants* (not only
the speakers) are split disjointly between train, validation and test: test voices are truly unseen.

Example:
    >>> spk = list_speakers("test")[0]                       # doctest: +SKIP
    >>> wav = synthesize("The boat drifted past the pier.", spk)  # float32 (time,) at 8 kHz
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import threading
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from tasnet_edu import SAMPLE_RATE
from tasnet_edu.audio import resample
from tasnet_edu.errors import CourseError

DIALECTS = (
    # "en" is British English (espeak's file for en-gb).
    "en-us", "en-us-nyc", "en", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029",
)
SPLITS = ("train", "valid", "test")
# Fractions of the voice variants (per gender group) that go to the held-out splits.
HELD_OUT = {"test": 0.2, "valid": 0.12}

# espeak_AUDIO_OUTPUT / espeak_PARAMETER / espeak_POSITION_TYPE values from speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_RATE, _PITCH, _RANGE = 1, 3, 4
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: a dialect, a voice variant, prosody and timbre.

    Args:
        dialect: espeak English voice, e.g. ``"en-gb-scotland"``.
        variant: file name in espeak's ``voices/!v`` folder, e.g. ``"f3"`` or ``"klatt2"``.
        pitch: base pitch, 0–100 (espeak's scale; 50 is the variant's own pitch).
        pitch_range: intonation range, 0–100 (0 is monotone, 50 the default).
        rate: speaking rate in words per minute (espeak's default is 175).
        tilt: first-order spectral tilt ``y[n] = x[n] - tilt * x[n-1]``; > 0 brighter, < 0 duller.
        vtl: vocal-tract scale: > 1 moves all formants (and pitch) up, like a shorter vocal tract.
    """

    dialect: str
    variant: str
    pitch: int = 50
    pitch_range: int = 50
    rate: int = 175
    tilt: float = 0.0
    vtl: float = 1.0

    @property
    def name(self) -> str:
        """A short unique id, e.g. ``en-gb+f3/p42r61w168`` (``variant_of`` reads its variant back)."""
        return f"{self.dialect}+{self.variant}/p{self.pitch}r{self.pitch_range}w{self.rate}"

    @property
    def group(self) -> str:
        """Its speaker group, the dialect and voice variant (``en-gb+f3``): the speakers that differ only in
        prosody and timbre."""
        return f"{self.dialect}+{self.variant}"

    def to_dict(self) -> dict:
        return {"name": self.name, **asdict(self)}


def variant_of(name: str) -> str:
    """The voice variant of the speaker named ``name`` (``Speaker.name``): ``en-gb+f3/p42r61w168`` →
    ``f3``."""
    return name.split("/")[0].split("+")[1]


def stable_unit(*keys) -> float:
    """A number in [0, 1) fixed by ``keys`` on every machine and Python version (unlike ``hash``)."""
    digest = hashlib.sha256("/".join(map(str, keys)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class _Espeak:
    """The espeak-ng C library in synchronous mode, loaded afresh for every utterance.

    espeak keeps hidden global state between utterances (the phase of its pitch flutter, filter memories,
    its noise generator), so the same call would give slightly different samples depending on what was said
    before. Unloading the library after each utterance makes every utterance depend only on its own text and
    speaker, which is what makes generated datasets byte-identical. Reloading costs a few milliseconds.
    """

    def __init__(self):
        try:
            import espeakng_loader
        except ImportError:
            raise CourseError(
                "no speech backend: the package espeakng-loader is missing; run `pip install espeakng-loader`"
            ) from None
        self.library_path = espeakng_loader.get_library_path()
        self.data_path = Path(espeakng_loader.get_data_path())
        self._chunks: list[np.ndarray] = []
        self._callback = _SYNTH_CALLBACK(self._collect)  # keep a reference: C holds only the pointer
        self._libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        self._lock = threading.Lock()
        lib = self._open()
        try:
            lib.espeak_Info.restype = ctypes.c_char_p
            self.version = lib.espeak_Info(None).decode()
        finally:
            self._close(lib)

    def _open(self) -> ctypes.CDLL:
        try:
            lib = ctypes.CDLL(self.library_path)
        except OSError as err:
            raise CourseError(f"no speech backend: libespeak-ng failed to load ({err}); "
                              "reinstall espeakng-loader for this platform") from None
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self.data_path).encode(), 0)
        if rate <= 0:
            self._close(lib)
            raise CourseError(f"no speech backend: espeak-ng found no voice data in {self.data_path}")
        self.sample_rate = rate
        lib.espeak_SetSynthCallback(self._callback)
        return lib

    @staticmethod
    def _close(lib: ctypes.CDLL) -> None:
        import _ctypes

        lib.espeak_Terminate()
        unload = getattr(_ctypes, "dlclose", None) or _ctypes.FreeLibrary  # POSIX / Windows
        unload(lib._handle)

    def _collect(self, wav, n, _events) -> int:
        if wav and n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0  # 0 = go on synthesising

    def _seed_noise(self, lib: ctypes.CDLL, seed: int) -> None:
        """Breathy voices add random noise; seed it per utterance so the same call gives the same samples."""
        if hasattr(lib, "espeak_ng_SetRandSeed"):  # espeak-ng ≥ 1.52
            lib.espeak_ng_SetRandSeed(ctypes.c_long(seed))
        self._libc.srand(ctypes.c_uint(seed))  # older versions draw from the C library's rand()

    def has_voice(self, name: str) -> bool:
        with self._lock:
            lib = self._open()
            try:
                return lib.espeak_SetVoiceByName(name.encode()) == 0
            finally:
                self._close(lib)

    def synth(self, text: str, speaker: Speaker) -> np.ndarray:
        """int16 samples at ``self.sample_rate`` (22.05 kHz)."""
        with self._lock:
            lib = self._open()
            try:
                if lib.espeak_SetVoiceByName(f"{speaker.dialect}+{speaker.variant}".encode()) != 0:
                    raise CourseError(f"espeak-ng has no voice {speaker.dialect!r}; see speech.DIALECTS")
                # Parameters after the voice: selecting a voice resets them.
                for param, value in ((_RATE, speaker.rate), (_PITCH, speaker.pitch),
                                     (_RANGE, speaker.pitch_range)):
                    lib.espeak_SetParameter(param, int(value), 0)
                self._seed_noise(lib, int(stable_unit("noise", speaker.name, text) * 2**31))
                self._chunks = []
                data = text.encode("utf-8")
                lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            finally:
                self._close(lib)
            chunks, self._chunks = self._chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


@lru_cache(maxsize=1)
def engine() -> _Espeak:
    """The process's espeak-ng engine (raises ``CourseError`` when no speech backend is installed)."""
    return _Espeak()


def backend_info() -> dict:
    """Name and version of the speech engine, for dataset manifests."""
    eng = engine()
    return {"engine": "espeak-ng", "version": eng.version, "sample_rate": eng.sample_rate}


def _variant_settings(path: Path) -> dict[str, list[str]]:
    settings = {}
    for line in path.read_text(errors="replace").splitlines():
        words = line.split("//")[0].split()
        if words and not words[0].startswith("#"):
            settings[words[0].lower()] = words[1:]
    return settings


def _usable(settings: dict[str, list[str]]) -> bool:
    """False for voices that do not sound like a person talking: whispers and strong robotic echoes."""
    voicing = settings.get("voicing", ["100"])
    echo = settings.get("echo", ["0", "0"])
    try:
        whisper = int(voicing[0]) < 25
        robotic = len(echo) > 1 and int(echo[1]) > 100
    except ValueError:
        return False
    return not (whisper or robotic or "fast_test" in settings.get("name", []))


@lru_cache(maxsize=1)
def list_variants() -> dict[str, str]:
    """Usable voice variants in the shipped data: ``{variant: "male" | "female" | "other"}``."""
    folder = engine().data_path / "voices" / "!v"
    variants = {}
    for path in sorted(folder.iterdir()):
        settings = _variant_settings(path)
        if _usable(settings):
            gender = (settings.get("gender") or ["other"])[0].lower()
            variants[path.name] = gender if gender in ("male", "female") else "other"
    return variants


@lru_cache(maxsize=1)
def variant_splits() -> dict[str, tuple[str, ...]]:
    """``{"train"|"valid"|"test": variants}``: disjoint, gender-stratified, the same on every machine.

    Held-out variants are chosen by a hash of their name, not by the dataset seed, so every dataset generated
    by the course keeps the same test voices unseen.
    """
    by_gender: dict[str, list[str]] = {}
    for variant, gender in list_variants().items():
        by_gender.setdefault(gender, []).append(variant)
    splits = {s: [] for s in SPLITS}
    for names in by_gender.values():
        names.sort(key=lambda v: stable_unit("variant-split", v))
        n_test = max(1, round(HELD_OUT["test"] * len(names)))
        n_valid = max(1, round(HELD_OUT["valid"] * len(names)))
        splits["test"] += names[:n_test]
        splits["valid"] += names[n_test:n_test + n_valid]
        splits["train"] += names[n_test + n_valid:]
    return {s: tuple(sorted(v)) for s, v in splits.items()}


RESOURCES = Path(__file__).resolve().parent.parent / "resources"
SENTENCES_FILE = RESOURCES / "sentences.txt"


def read_sentences(path: Path) -> tuple[str, ...]:
    """The non-empty lines of a sentence file that are not ``#`` comments."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


@lru_cache(maxsize=16)
def load_sentences(language: str = "en") -> tuple[str, ...]:
    """The course's sentences in ``language`` (written for the course, CC0; see each file's header):
    ``"en"`` ``sentences.txt``, the espeak voices' list; others ``sentences_<language>.txt``."""
    path = SENTENCES_FILE if language == "en" else RESOURCES / f"sentences_{language}.txt"
    if not path.is_file():
        raise CourseError(f"{path} is missing: the course has no sentences in {language!r}")
    return read_sentences(path)


def split_sentences(sentences) -> dict[str, tuple[str, ...]]:
    """``{"train"|"valid"|"test": sentences}``, disjoint and fixed by a hash of each sentence (not a seed)."""
    splits = {s: [] for s in SPLITS}
    for text in sentences:
        u = stable_unit("sentence-split", text)
        held = u < HELD_OUT["test"] + HELD_OUT["valid"]
        split = "test" if u < HELD_OUT["test"] else "valid" if held else "train"
        splits[split].append(text)
    return {s: tuple(v) for s, v in splits.items()}


@lru_cache(maxsize=16)
def sentence_splits(language: str = "en") -> dict[str, tuple[str, ...]]:
    """The course's sentences in ``language`` split by ``split_sentences``."""
    return split_sentences(load_sentences(language))


def _speaker(variant: str, k: int) -> Speaker:
    """The ``k``-th speaker made from ``variant``: dialect, prosody and timbre drawn from a fixed stream."""
    rng = np.random.default_rng(int(stable_unit("speaker", variant, k) * 2**63))
    return Speaker(
        dialect=DIALECTS[int(rng.integers(len(DIALECTS)))],
        variant=variant,
        pitch=int(rng.integers(25, 76)),
        pitch_range=int(rng.integers(15, 91)),
        rate=int(rng.integers(135, 211)),
        tilt=round(float(rng.uniform(-0.6, 0.6)), 3),
        vtl=round(float(rng.uniform(0.9, 1.12)), 3),
    )


def list_speakers(split: str | None = None, per_variant: int = 4) -> list[Speaker]:
    """All speakers of one split (``"train"``, ``"valid"``, ``"test"``) or of all splits (``None``).

    Each voice variant yields ``per_variant`` speakers that differ in dialect, prosody and timbre. The list is
    deterministic: the same on every call and every machine with the same espeak-ng data.
    """
    if split is not None and split not in SPLITS:
        raise CourseError(f"split must be one of {SPLITS} or None, got {split!r}")
    if per_variant < 1:
        raise CourseError(f"per_variant must be ≥ 1, got {per_variant}")
    return list(_speakers(split, per_variant))


@lru_cache(maxsize=16)
def _speakers(split: str | None, per_variant: int) -> tuple[Speaker, ...]:
    splits = SPLITS if split is None else (split,)
    variants = [v for s in splits for v in variant_splits()[s]]
    return tuple(_speaker(v, k) for v in variants for k in range(per_variant))


def trim_silence(
    wav: np.ndarray, sample_rate: int, top_db: float = 40.0, margin_s: float = 0.05
) -> np.ndarray:
    """Cut leading/trailing silence (frames more than ``top_db`` below the peak), keeping a short margin."""
    frame = max(1, int(0.01 * sample_rate))
    n = len(wav) // frame
    if n == 0:
        return wav
    energy = (wav[: n * frame].reshape(n, frame) ** 2).mean(axis=1)
    active = np.flatnonzero(energy > energy.max() * 10 ** (-top_db / 10))
    margin = int(margin_s * sample_rate)
    start = max(0, active[0] * frame - margin)
    stop = min(len(wav), (active[-1] + 1) * frame + margin)
    return wav[start:stop]


def synthesize(text: str, speaker: Speaker, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Speak ``text`` with ``speaker``: float32 ``(time,)`` at ``sample_rate``, silence trimmed, peak ≤ 1
    (the 22.05 kHz output given the speaker's tilt and vocal-tract scale by ``timbre``)."""
    if not text.strip():
        raise CourseError("synthesize: the text is empty")
    eng = engine()
    pcm = eng.synth(text, speaker)
    if pcm.size == 0 or not np.any(pcm):
        raise CourseError(f"espeak-ng produced no sound for {text!r} with voice {speaker.name}")
    return timbre(pcm, eng.sample_rate, speaker.tilt, speaker.vtl, sample_rate)


def timbre(pcm: np.ndarray, rate: int, tilt: float, vtl: float, sample_rate: int) -> np.ndarray:
    """A synthesiser's int16 output ``(time,)`` at ``rate`` Hz → float32 ``(time',)`` at ``sample_rate``
    with the speaker's spectral ``tilt`` and vocal-tract scale ``vtl``, silence trimmed, peak ≤ 1.

    The vocal-tract scale reads the output as if it were recorded at ``rate * vtl`` Hz before resampling:
    every frequency (formants and pitch) is multiplied by ``vtl`` and the duration divided by it.
    """
    wav = pcm.astype(np.float32) / 32768.0
    if tilt:
        wav = np.append(wav[:1], wav[1:] - tilt * wav[:-1]).astype(np.float32)
    wav = trim_silence(resample(wav, round(rate * vtl), sample_rate), sample_rate)
    return (wav / max(1.0, float(np.abs(wav).max()))).astype(np.float32)
