"""Two-speaker mixtures made like wsj0-2mix, from speech synthesised on the machine or recorded by people.

The recipe follows the wsj0-2mix scripts (Hershey et al. 2016) where it matters for training and evaluation:

- each mixture pairs two utterances by **different speakers** (of different speaker groups: espeak voice
  variants, Pico voices, people) of the same split; the speaker sets (and even the voice variants) of
  train / valid / test are disjoint, and so are their sentences;
- both utterances are brought to the same level, then the **first source is made louder by a relative
  level drawn uniformly in 0–5 dB**. Convention: ``s1`` is always the louder (or equally loud) source, ``s2``
  the quieter one. Training with PIT does not depend on it, but a model trained *without* PIT can exploit it;
- ``min`` length mode: both utterances start at sample 0 and the mixture ends with the shorter one;
- 8 kHz, 16-bit WAV files in the wsj0-2mix layout ``tr/ cv/ tt/``, each with ``mix/ s1/ s2/`` holding files
  of the same name (``layout``), so one loader reads our mixtures and the real corpus.

Unlike wsj0-2mix, each utterance gets a mild per-utterance augmentation (a random band-limiting EQ, for some
a short synthetic room reverberation, and a faint noise floor 35–55 dB below the speech) so that a model
sees more than dry synthetic voices. The sources ``s1``/``s2`` are stored *as they sound in the mixture*
(after EQ, reverb and noise floor), and the stored 16-bit samples satisfy ``mix == s1 + s2`` exactly.

Who talks and every other random choice is drawn first, into a typed plan (``plans``: the voice families of
``families``), from ``numpy`` streams seeded by ``[seed, split, index, …]``, so the same command gives
byte-identical files; ``render_mixture`` then makes the sound. A run writes into a hidden sibling folder and
renames it when complete: an interrupted run never leaves a folder that looks finished.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import scipy.signal

from tasnet_edu import SAMPLE_RATE
from tasnet_edu.audio import active_rms, load, save
from tasnet_edu.data import layout, plans, speech
from tasnet_edu.data.layout import MIN_OVERLAP_S, SOURCE_KEYS, SPLIT_DIRS, read_manifest
from tasnet_edu.data.plans import MAX_DB, Channel, MixturePlan, Overlap, Recipe, Rendered
from tasnet_edu.errors import CourseError

GENERATOR_VERSION = 3  # bump whenever the recipe changes: cached datasets are then regenerated
REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- the sound of one mixture
def synthetic_rir(rt60_s: float, sample_rate: int, rng: np.random.Generator, tail: float = 0.3) -> np.ndarray:
    """A small-room impulse response: a direct path plus exponentially decaying noise (60 dB in ``rt60_s``).

    Not a room simulation, but it has the two things that matter to a separator: a smeared tail that overlaps
    the next phonemes, and a direct-to-reverberant ratio that keeps the speech intelligible. The direct path
    is 1 and the tail's energy ``tail**2`` (0.3: the reverberant energy is about 10 dB below the direct
    sound; a talker farther from the microphone has a larger ``tail``).
    """
    n = int(rt60_s * sample_rate)
    t = np.arange(n) / sample_rate
    decay = rng.standard_normal(n) * np.exp(-6.9 * t / rt60_s)  # 10^(-60/20) = e^-6.9 at t = rt60
    decay[: int(0.003 * sample_rate)] = 0.0  # first reflections arrive a few ms after the direct sound
    rir = tail * decay / np.sqrt(np.sum(decay**2))
    rir[0] = 1.0
    return rir


def _color(wav: np.ndarray, channel: Channel, sample_rate: int) -> np.ndarray:
    """Per-utterance channel: band-limiting EQ, optional reverberation, then a microphone noise floor.

    The noise floor (``noise_db`` re. the speech RMS) replaces the synthesiser's digital silence between
    words, which no real recording has; it belongs to the source, so ``mix == s1 + s2`` still holds.
    """
    rng = np.random.default_rng(channel.seed)
    sos = scipy.signal.butter(2, channel.highpass_hz, "highpass", fs=sample_rate, output="sos")
    wav = scipy.signal.sosfilt(sos, wav)
    if channel.lowpass_hz:
        sos = scipy.signal.butter(4, channel.lowpass_hz, "lowpass", fs=sample_rate, output="sos")
        wav = scipy.signal.sosfilt(sos, wav)
    if channel.rt60_s:
        rir = synthetic_rir(channel.rt60_s, sample_rate, rng)
        wav = scipy.signal.fftconvolve(wav, rir)[: len(wav)]
    noise = rng.standard_normal(len(wav)) * np.sqrt(np.mean(wav**2)) * 10 ** (channel.noise_db / 20)
    return wav + noise


def place(lengths: tuple[int, int], start: float, sample_rate: int = SAMPLE_RATE) -> tuple[list[int], int]:
    """Offsets (samples) of two utterances of ``lengths`` in a partially overlapped mixture, and its length.

    The second utterance begins anywhere from ``MIN_OVERLAP_S`` (or the shorter length) before the first one
    ends back to the same amount after its own start (``start`` 0 → it starts first, 1 → it starts last), so
    one talker may start later, stop earlier or both; the mixture spans both (Libri2Mix's ``max`` mode).
    """
    la, lb = lengths
    m = min(round(MIN_OVERLAP_S * sample_rate), la, lb)
    lo, hi = -(lb - m), la - m
    shift = lo + round(start * (hi - lo))
    offsets = [max(0, -shift), max(0, shift)]
    return offsets, max(offsets[0] + la, offsets[1] + lb)


def _layout(waves: list[np.ndarray], overlap: Overlap | None,
            sample_rate: int) -> tuple[list[np.ndarray], list[int] | None, float | None]:
    """The two sources laid out in the mixture, each talker's start (samples) and how long both talk at once
    (seconds; both ``None`` without an ``overlap``): truncated to the shorter (``min`` mode) or, for a
    partial mixture, padded with silence around their offsets."""
    if overlap is None or not overlap.partial:
        length = min(len(w) for w in waves)  # wsj0-2mix "min" mode
        if overlap is None:
            return [w[:length] for w in waves], None, None
        return [w[:length] for w in waves], [0, 0], round(length / sample_rate, 4)
    offsets, length = place((len(waves[0]), len(waves[1])), overlap.start, sample_rate)
    both = min(o + len(w) for o, w in zip(offsets, waves, strict=True)) - max(offsets)
    out = [np.zeros(length) for _ in waves]
    for o, w, x in zip(offsets, waves, out, strict=True):
        x[o:o + len(w)] = w
    return out, offsets, round(both / sample_rate, 4)


def _level(wav: np.ndarray, level: str, sample_rate: int) -> float:
    """The level that a gain acts on: the RMS of the active speech (``"active"``) or of all of ``wav``."""
    if level == "active":
        return active_rms(wav, sample_rate)
    return float(np.sqrt(np.mean(wav**2)))


def to_int16(s1: np.ndarray, s2: np.ndarray, peak: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two sources ``(time,)`` scaled together so the loudest of ``s1 + s2``, ``s1`` and ``s2`` peaks at
    ``peak`` of full scale, as 16-bit ``(mix, s1, s2)`` with ``mix == s1 + s2`` exactly."""
    scale = peak * 32767 / max(np.abs(s1 + s2).max(), np.abs(s1).max(), np.abs(s2).max())
    q1, q2 = (np.round(s * scale).astype(np.int16) for s in (s1, s2))
    return (q1.astype(np.int32) + q2).astype(np.int16), q1, q2


def render_mixture(plan: MixturePlan, families: Mapping, sample_rate: int = SAMPLE_RATE) -> Rendered:
    """Synthesise (or read) and mix one planned mixture → a ``Rendered``: int16 ``waves`` ``(mix, s1, s2)``,
    each ``(time,)``, with their length in seconds, the files each source read, and (with an ``Overlap``)
    each talker's start and how long both talk at once.

    ``families`` maps each source's ``kind`` to the family that speaks it (``Recipe.families``).
    ``mix == s1 + s2`` holds exactly on the stored 16-bit samples. A plan with a partial ``overlap`` pads
    each source with digital silence where its talker is quiet.
    """
    spoken = [families[src.talk.kind].speak(src.talk, src.channel.seed, sample_rate) for src in plan.sources]
    waves = [_color(wav, src.channel, sample_rate)
             for (wav, _), src in zip(spoken, plan.sources, strict=True)]
    partial = bool(plan.overlap and plan.overlap.partial)
    laid, offsets, overlap_s = _layout(waves, plan.overlap, sample_rate)
    # Levels are set on the truncated signals, so the stored s1/s2 level ratio is exactly relative_db; a
    # partial mixture levels each whole utterance before it was padded (on its active speech, or its RMS).
    s1, s2 = (w / _level(whole if partial else w, plan.level, sample_rate) * 10 ** (src.gain_db / 20)
              for w, whole, src in zip(laid, waves, plan.sources, strict=True))
    return Rendered(to_int16(s1, s2, plan.peak), round(len(s1) / sample_rate, 4),
                    tuple(files for _, files in spoken), offsets, overlap_s)


# --------------------------------------------------------------------------- a whole dataset
def _check_counts(counts: dict[str, int]) -> None:
    for split, n in counts.items():
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise CourseError(f"the number of {split} mixtures must be a whole number ≥ 0, got {n!r}")
    if sum(counts.values()) == 0:
        raise CourseError("asked for 0 mixtures in all splits; give --n-train/--n-valid/--n-test > 0")


def _folder_counts(counts: dict[str, int]) -> dict[str, int]:
    """``{"train": n, …}`` → ``{"tr": n, …}``: counts keyed by split folder, as in ``manifest.json``."""
    return {SPLIT_DIRS[split]: n for split, n in counts.items()}


def _manifest(counts: dict[str, int], seed: int, records: dict[str, list[dict]], recipe: Recipe) -> dict:
    """``manifest.json``: the recipe's record, the engine, seed and counts, and per split its espeak voices
    and sentences, the speakers used and every mixture's record (``MixturePlan.record``)."""
    splits = {}
    for split, split_records in records.items():
        used = sorted({r[k]["speaker"] for r in split_records for k in SOURCE_KEYS})
        splits[SPLIT_DIRS[split]] = {
            "split": split,
            "count": counts[split],
            "variants": list(speech.variant_splits()[split]),
            "speakers_available": len(speech.list_speakers(split)),
            "speakers_used": used,
            "sentences_available": len(speech.sentence_splits()[split]),
            "mixtures": split_records,
        }
    return {
        **recipe.manifest(),
        "generator": "tasnet_edu.data.mixtures",
        "generator_version": GENERATOR_VERSION,
        "backend": speech.backend_info(),
        "seed": seed,
        "sample_rate": SAMPLE_RATE,
        "mode": "min",
        "counts": _folder_counts(counts),
        "level_convention": f"s1 is the louder source: s1/s2 RMS ratio uniform in 0-{recipe.max_db:g} dB "
                            "(relative_db)",
        "splits": splits,
    }


def _prepare_output(out_dir: Path, overwrite: bool) -> Path:
    """Check that ``out_dir`` can be created; return a fresh hidden sibling to write into."""
    if out_dir.exists() and not overwrite:
        raise CourseError(f"{out_dir} already exists; choose another --out or pass --overwrite")
    parent = out_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = parent / f".{out_dir.name}.partial-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
    except OSError as err:
        raise CourseError(
            f"cannot write in {parent} ({err.strerror}); choose a writable --out folder"
        ) from None
    return tmp


def _publish(tmp: Path, out_dir: Path) -> None:
    """Replace ``out_dir`` with the finished ``tmp`` folder by renames only."""
    old = None
    if out_dir.exists():
        old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
        out_dir.rename(old)
    tmp.rename(out_dir)
    if old is not None:
        shutil.rmtree(old)


def make_mixtures(
    out_dir, n_train: int, n_valid: int, n_test: int, seed: int = 0, *, overwrite: bool = False,
    progress: bool = True, speech_kind: str = "espeak", natural_cache=None, people_by: str = "speaker",
    festival: bool = False, held_out: str = "default", max_db: float = MAX_DB, overlap: str = "full",
    partial_share: float = 0.5, pseudo_speakers: bool = False,
) -> Path:
    """Generate a two-speaker dataset in the wsj0-2mix layout and return its root folder.

    Args:
        out_dir: folder to create; it holds ``tr/ cv/ tt/`` (each ``mix/ s1/ s2/``) and ``manifest.json``.
        n_train, n_valid, n_test: number of mixtures per split (0 leaves a split empty).
        seed: every random choice (pairs, sentences, levels, augmentations) derives from it.
        overwrite: replace an existing ``out_dir`` (only once the new one is complete).
        progress: show a tqdm progress bar.
        speech_kind: ``"espeak"`` (synthetic voices only, needs nothing), ``"natural"`` (people only, from
            ``natural_cache``), ``"pico"`` (Pico voices, the ``speech`` extra), ``"all"`` (people and espeak
            voices with equal odds) or ``"all+pico"`` (the same with half of the espeak talkers made Pico
            speakers; needs the ``speech`` extra). ``plans`` tells who talks in each.
        natural_cache: folder filled by ``tasnet-edu fetch-speech`` (``natural.fetch``).
        people_by: ``"speaker"`` or ``"seconds"``: how people are drawn (``families.People``).
        festival: the Festival voices rendered into ``natural_cache`` (``tasnet-edu render-festival``) join
            the training people (never validation or test); for the kinds with people only.
        held_out: ``"default"`` or ``"wide"``: which people are held out (``natural.held_out_splits``); the
            wide split holds out 10 validation and 6 test people and trains on none of them.
        max_db: relative levels are uniform in 0–``max_db`` dB (wsj0-2mix: 5).
        overlap: ``"full"`` (``min`` mode), ``"partial"`` or ``"mixed"`` (``plans.plan_overlap``, ``place``).
        partial_share: the share of partly overlapped mixtures when ``overlap="mixed"``.
        pseudo_speakers: each training person's utterance becomes a pseudo-speaker's (``voices``).

    ``manifest.json`` records the seed, counts, the voice variants and speakers of each split and, per
    mixture, both texts, speakers and their speaker groups, gains and augmentations (``layout`` says what a
    reader may rely on). Same arguments → byte-identical files.
    """
    counts = {"train": n_train, "valid": n_valid, "test": n_test}
    _check_counts(counts)
    recipe = plans.recipe(speech_kind, natural_cache, people_by, festival, held_out, max_db, overlap,
                          partial_share, pseudo_speakers)
    return write_mixtures(out_dir, counts, seed, recipe, overwrite=overwrite, progress=progress)


def write_mixtures(out_dir, counts: dict[str, int], seed: int, recipe: Recipe, *, overwrite: bool = False,
                   progress: bool = True) -> Path:
    """Write ``counts`` (``{"train"|"valid"|"test": n}``) mixtures of ``recipe`` (``plans.recipe``) drawn from
    ``seed`` into ``out_dir``, with their manifest; return ``out_dir``."""
    from tqdm.auto import tqdm

    out_dir = Path(out_dir).expanduser().absolute()
    tmp = _prepare_output(out_dir, overwrite)
    families = recipe.families
    records = {}
    try:
        with tqdm(total=sum(counts.values()), desc=f"make-data {out_dir.name}", disable=not progress) as bar:
            for split, n in counts.items():
                folder = tmp / SPLIT_DIRS[split]
                for sub in (layout.MIX_DIR, *SOURCE_KEYS):
                    (folder / sub).mkdir(parents=True)
                if n:
                    recipe.check_split(split)
                records[split] = []
                for index in range(n):
                    plan = recipe.plan(split, index, seed)
                    rendered = render_mixture(plan, families)
                    name = layout.file_name(index)
                    for sub, wav in zip((layout.MIX_DIR, *SOURCE_KEYS), rendered.waves, strict=True):
                        save(folder / sub / name, wav, SAMPLE_RATE)
                    records[split].append(plan.record(name, rendered))
                    bar.update()
        layout.write_manifest(tmp, _manifest(counts, seed, records, recipe))
        _publish(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def voices_used(root, split: str) -> set[str]:
    """The voice variants (names in espeak's ``voices/!v``) of every espeak talker in ``split``'s mixtures.

    Read from ``manifest.json``; compare with ``speech.variant_splits()["train"]`` to check that a test set
    holds only voices never trained on.
    """
    manifest = read_manifest(root)
    folder = SPLIT_DIRS.get(split, split)
    if manifest is None or folder not in manifest.get("splits", {}):
        raise CourseError(f"{root}: no manifest.json with a {split!r} split "
                          "(was it made by tasnet-edu make-data?)")
    sources = layout.sources_by_file(manifest).items()
    return {speech.variant_of(record["speaker"]) for (where, _, _), record in sources
            if where == folder and layout.source_kind(record) == "espeak"}


def data_root() -> Path:
    """Where ``ensure_mixtures`` caches datasets: ``$TASNET_EDU_DATA``, else the repository's ``data/``.

    (A package installed outside a checkout of the course caches in ``~/.cache/tasnet-edu`` instead.)
    """
    if os.environ.get("TASNET_EDU_DATA"):
        return Path(os.environ["TASNET_EDU_DATA"])
    in_checkout = (REPO / "pyproject.toml").is_file()
    return REPO / "data" if in_checkout else Path.home() / ".cache" / "tasnet-edu"


def ensure_mixtures(n_train: int, n_valid: int, n_test: int, seed: int = 0, root=None) -> Path:
    """Return a dataset with these counts and seed, generating it once and reusing it afterwards.

    The cache lives under ``root`` (default ``data_root()``) in a folder named after the arguments; it is
    reused when its manifest records the same counts, seed and generator version, regenerated otherwise.
    """
    counts = _folder_counts({"train": n_train, "valid": n_valid, "test": n_test})
    root = Path(root) if root is not None else data_root()
    out = root / f"mix2-tr{n_train}-cv{n_valid}-tt{n_test}-seed{seed}"

    def matches() -> bool:
        m = read_manifest(out)
        key = (counts, seed, GENERATOR_VERSION)
        return bool(m) and (m["counts"], m["seed"], m["generator_version"]) == key

    if matches():
        return out
    try:
        return make_mixtures(out, n_train, n_valid, n_test, seed, overwrite=True)
    except OSError:
        if matches():  # another process finished the same dataset first
            return out
        raise


# --------------------------------------------------------------------------- committed samples
def samples_dir() -> Path:
    """The repository's ``data_samples/`` folder: a few committed test-split mixtures (wsj0-2mix layout)."""
    path = REPO / "data_samples"
    if not (path / layout.MANIFEST).is_file():
        raise CourseError(f"{path} is missing: the course's samples ship with its git repository; clone it")
    return path


def load_sample_mixture(index: int = 0, real: bool = False):
    """Committed sample ``index`` → ``(mix (time,), sources (2, time))`` float32 tensors at 8 kHz.

    ``real=True``: a mixture of two recorded people (held-out speakers, ``data_samples/real``) instead of two
    espeak voices. ``sources[0]`` is ``s1`` (the louder speaker), and ``mix == sources.sum(0)`` up to float
    rounding.
    """
    import torch

    folder = (samples_dir() / "real" if real else samples_dir()) / SPLIT_DIRS["test"]
    files = sorted((folder / layout.MIX_DIR).glob("*.wav"))
    if not 0 <= index < len(files):
        raise CourseError(f"sample index {index} out of range: {folder} holds {len(files)} mixtures")
    name = files[index].name
    mix, s1, s2 = (load(folder / sub / name, sample_rate=SAMPLE_RATE)[0]
                   for sub in (layout.MIX_DIR, *SOURCE_KEYS))
    return torch.from_numpy(mix), torch.from_numpy(np.stack([s1, s2]))
