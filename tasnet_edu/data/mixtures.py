"""Two-speaker mixtures made like wsj0-2mix, from speech synthesised on the machine.

The recipe follows the wsj0-2mix scripts (Hershey et al. 2016) where it matters for training and evaluation:

- each mixture pairs two utterances by **different speakers** (made from different espeak voice variants) of
  the same split; the speaker sets (and even the voice variants) of train / valid / test are disjoint, and
  so are their sentences;
- both utterances are brought to the same RMS level, then the **first source is made louder by a relative
  level drawn uniformly in 0–5 dB**. Convention: ``s1`` is always the louder (or equally loud) source, ``s2``
  the quieter one. Training with PIT does not depend on it, but a model trained *without* PIT can exploit it;
- ``min`` length mode: both utterances start at sample 0 and the mixture ends with the shorter one;
- 8 kHz, 16-bit WAV files in the wsj0-2mix layout ``tr/ cv/ tt/``, each with ``mix/ s1/ s2/`` holding files
  of the same name, so one loader reads our mixtures and the real corpus.

Unlike wsj0-2mix, each utterance gets a mild per-utterance augmentation (a random band-limiting EQ, for some
a short synthetic room reverberation, and a faint noise floor 35–55 dB below the speech) so that a model
sees more than dry synthetic voices. The sources ``s1``/``s2`` are stored *as they sound in the mixture*
(after EQ, reverb and noise floor), and the stored 16-bit samples satisfy ``mix == s1 + s2`` exactly.

Every random choice comes from ``numpy.random.default_rng([seed, split, index])``, so the same command gives
byte-identical files. A run writes into a hidden sibling folder and renames it when complete: an interrupted
run never leaves a folder that looks finished.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import numpy as np
import scipy.signal

from tasnet_edu import SAMPLE_RATE
from tasnet_edu.audio import active_rms, load, resample, save
from tasnet_edu.data import natural, pico, speech, voices
from tasnet_edu.errors import CourseError

GENERATOR_VERSION = 3  # bump whenever the recipe changes: cached datasets are then regenerated
SPLIT_DIRS = {"train": "tr", "valid": "cv", "test": "tt"}
MAX_DB = 5.0  # relative level range 0–5 dB, as in wsj0-2mix
OVERLAP = ("full", "partial", "mixed")  # min-length overlap (wsj0-2mix), offsets (Libri2Mix "max"), both
MIN_OVERLAP_S = 1.0  # a partly overlapped pair still talks at once this long (or the shorter utterance)
REVERB_PROB = 0.4
MAX_SENTENCES = 3
REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- the recipe of one mixture
def plan_mixture(split: str, index: int, seed: int, max_db: float = MAX_DB) -> dict:
    """All random choices of mixture ``index`` of ``split``: speakers, texts, levels (relative level uniform
    in 0–``max_db`` dB), augmentations."""
    rng = np.random.default_rng([seed, speech.SPLITS.index(split), index])
    speakers = speech.list_speakers(split)
    texts = speech.sentence_splits()[split]
    a = int(rng.integers(len(speakers)))
    # Different speakers *and* different voice variants: two speakers made from one variant share formants.
    others = [i for i, spk in enumerate(speakers) if spk.variant != speakers[a].variant]
    b = others[int(rng.integers(len(others)))]
    # An utterance is 1–3 sentences (~2–7 s), so that "min" mode leaves mixtures of a few seconds.
    n_a, n_b = rng.integers(1, MAX_SENTENCES + 1, size=2)
    picks = rng.choice(len(texts), size=n_a + n_b, replace=False)
    text_a, text_b = (" ".join(texts[i] for i in idx) for idx in (picks[:n_a], picks[n_a:]))
    rel_db = float(rng.uniform(0.0, max_db))
    pairs = ((speakers[a], text_a, rel_db / 2), (speakers[b], text_b, -rel_db / 2))
    sources = [{"speaker": spk.name, "text": text, "gain_db": round(gain_db, 4), **_channel(rng)}
               for spk, text, gain_db in pairs]
    return {
        "relative_db": round(rel_db, 4),
        "peak": round(float(rng.uniform(0.25, 0.9)), 3),  # level augmentation: the mixture's peak
        "s1": sources[0],
        "s2": sources[1],
    }


def _channel(rng: np.random.Generator) -> dict:
    """Random per-utterance channel: EQ corners, reverberation time (or none), noise floor, and a seed."""
    return {
        "highpass_hz": round(float(rng.uniform(40, 200)), 1),
        "lowpass_hz": round(float(rng.uniform(2800, 3900)), 1) if rng.random() < 0.3 else None,
        "rt60_s": round(float(rng.uniform(0.1, 0.4)), 3) if rng.random() < REVERB_PROB else None,
        "noise_db": round(float(rng.uniform(-55, -35)), 2),
        "seed": int(rng.integers(2**31)),
    }


def _text(texts: tuple[str, ...], rng: np.random.Generator) -> str:
    """1 to ``MAX_SENTENCES`` different sentences of ``texts`` (all of them if there are fewer), joined."""
    n = min(len(texts), int(rng.integers(1, MAX_SENTENCES + 1)))
    return " ".join(texts[i] for i in rng.choice(len(texts), size=n, replace=False))


def _espeak_source(split: str, rng: np.random.Generator, taken: set[str]) -> tuple[dict, str]:
    """An espeak talker of ``split`` whose variant is not in ``taken``: ``(source, variant)``."""
    choices = [v for v in speech.list_speakers(split) if v.variant not in taken]
    voice = choices[int(rng.integers(len(choices)))]
    text = _text(speech.sentence_splits()[split], rng)
    return {"kind": "espeak", "speaker": voice.name, "text": text}, voice.variant


def _pico_source(split: str, rng: np.random.Generator, taken: set[str]) -> tuple[dict, str] | None:
    """A Pico talker of ``split`` whose voice is not in ``taken``: ``(source, voice)``; ``None`` if none is
    left. It reads 1–3 of the split's sentences in its own language."""
    choices = [s for s in pico.list_speakers(split) if pico.voice_of(s.name) not in taken]
    if not choices:
        return None
    spk = choices[int(rng.integers(len(choices)))]
    text = _text(speech.sentence_splits(spk.language)[split], rng)
    return {"kind": "pico", "speaker": spk.name, "text": text}, pico.voice_of(spk.name)


def plan_pico_mixture(split: str, index: int, seed: int, max_db: float = MAX_DB) -> dict:
    """All random choices of mixture ``index`` of ``split`` for ``--speech pico``.

    Both talkers are Pico speakers of different voices. A split with a single Pico voice (validation and
    test: ``pico.VOICE_SPLITS``) pairs it with an espeak voice of the same split instead. Levels are set on
    the active speech, as for natural speech.
    """
    rng = np.random.default_rng([seed, speech.SPLITS.index(split), index, 2])
    rel_db = float(rng.uniform(0.0, max_db))
    sources, taken = [], set()
    for gain_db in (rel_db / 2, -rel_db / 2):
        src, name = _pico_source(split, rng, taken) or _espeak_source(split, rng, taken)
        taken.add(name)
        sources.append({**src, "gain_db": round(gain_db, 4), "level": "active", **_channel(rng)})
    return {"relative_db": round(rel_db, 4), "peak": round(float(rng.uniform(0.25, 0.9)), 3),
            "s1": sources[0], "s2": sources[1]}


def plan_natural_mixture(split: str, index: int, seed: int, pool: dict[str, list], speech_kind: str,
                         with_pico: bool = False, people_by: str = "speaker", max_db: float = MAX_DB,
                         pseudo_speakers: bool = False) -> dict:
    """All random choices of mixture ``index`` of ``split`` when natural speech takes part.

    ``speech_kind`` ``"natural"``: both talkers are people (``pool``: the split's natural speakers and their
    recordings); ``"all"``: each talker is a person or an espeak voice with equal odds, so pairs mix real
    with real, real with synthetic and synthetic with synthetic. A person's utterance is 3–6 s of their
    recordings joined (``natural.utterance``), sped up or slowed down by up to 10 % in training (speed
    perturbation: pitch and tempo together). Levels are set on the *active* speech (``audio.active_rms``),
    not the plain RMS; the relative level is uniform in 0–``max_db`` dB.

    ``pseudo_speakers``: each training person's utterance gets a voice of its own (``voices.draw``: formant
    and pitch factors drawn independently), from a stream of its own, so every other choice stays the same;
    validation and test people are never changed.

    ``with_pico`` (``"all+pico"``): half of the espeak talkers become Pico speakers (when a Pico voice of the
    split is still free), decided by a stream of their own, so every other choice is the one made without
    Pico: people 1/2, espeak 1/4, Pico 1/4.

    ``people_by``: how a person is drawn. ``"speaker"``: every speaker group of the split equally often, so
    a KTuberling voice with 12 words counts as much as Fish Fillets' 100 minutes of dialogue; ``"seconds"``:
    in proportion to the speech each one recorded, as wsj0-2mix draws utterances, so every second of the
    recordings is equally likely to be heard (continuous speech then makes most of the people's share).
    """
    rng = np.random.default_rng([seed, speech.SPLITS.index(split), index, 1])
    pico_rng = np.random.default_rng([seed, speech.SPLITS.index(split), index, 3]) if with_pico else None
    voice_rng = np.random.default_rng([seed, speech.SPLITS.index(split), index, 5])
    people = sorted(pool)
    rel_db = float(rng.uniform(0.0, max_db))
    sources, taken = [], set()
    for gain_db in (rel_db / 2, -rel_db / 2):
        natural = speech_kind == "natural" or rng.random() < 0.5
        if natural:
            name = _pick_person([p for p in people if p not in taken], pool, people_by, rng)
            src = {"kind": "natural", "speaker": name, "seconds": round(float(rng.uniform(3.0, 6.0)), 3),
                   "speed": round(float(rng.uniform(0.9, 1.1)), 3) if split == "train" else 1.0}
            if pseudo_speakers and split == "train":
                src["voice"] = voices.draw(voice_rng)
        else:
            src, name = _espeak_source(split, rng, taken)
            if pico_rng is not None and pico_rng.random() < 0.5:
                src, name = _pico_source(split, pico_rng, taken) or (src, name)
        taken.add(name)
        sources.append({**src, "gain_db": round(gain_db, 4), "level": "active", **_channel(rng)})
    return {"relative_db": round(rel_db, 4), "peak": round(float(rng.uniform(0.25, 0.9)), 3),
            "s1": sources[0], "s2": sources[1]}


PEOPLE_BY = ("speaker", "seconds")


def _pick_person(choices: list[str], pool: dict[str, list], people_by: str, rng: np.random.Generator) -> str:
    """One of ``choices`` (natural speakers): uniformly, or weighted by their recorded seconds."""
    if people_by == "speaker":
        return choices[int(rng.integers(len(choices)))]
    seconds = np.array([sum(rec.seconds for rec in pool[name]) for name in choices])
    return choices[int(np.searchsorted(np.cumsum(seconds) / seconds.sum(), rng.random(), side="right"))]


def synthetic_rir(rt60_s: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A small-room impulse response: a direct path plus exponentially decaying noise (60 dB in ``rt60_s``).

    Not a room simulation, but it has the two things that matter to a separator: a smeared tail that overlaps
    the next phonemes, and a direct-to-reverberant ratio that keeps the speech intelligible.
    """
    n = int(rt60_s * sample_rate)
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60_s)  # 10^(-60/20) = e^-6.9 at t = rt60
    tail[: int(0.003 * sample_rate)] = 0.0  # first reflections arrive a few ms after the direct sound
    rir = 0.3 * tail / np.sqrt(np.sum(tail**2))  # reverberant energy ≈ -10 dB re. the direct path
    rir[0] = 1.0
    return rir


def _color(wav: np.ndarray, src: dict, sample_rate: int) -> np.ndarray:
    """Per-utterance channel: band-limiting EQ, optional reverberation, then a microphone noise floor.

    The noise floor (``noise_db`` re. the speech RMS) replaces the synthesiser's digital silence between
    words, which no real recording has; it belongs to the source, so ``mix == s1 + s2`` still holds.
    """
    rng = np.random.default_rng(src["seed"])
    sos = scipy.signal.butter(2, src["highpass_hz"], "highpass", fs=sample_rate, output="sos")
    wav = scipy.signal.sosfilt(sos, wav)
    if src["lowpass_hz"]:
        sos = scipy.signal.butter(4, src["lowpass_hz"], "lowpass", fs=sample_rate, output="sos")
        wav = scipy.signal.sosfilt(sos, wav)
    if src["rt60_s"]:
        rir = synthetic_rir(src["rt60_s"], sample_rate, rng)
        wav = scipy.signal.fftconvolve(wav, rir)[: len(wav)]
    noise = rng.standard_normal(len(wav)) * np.sqrt(np.mean(wav**2)) * 10 ** (src["noise_db"] / 20)
    return wav + noise


Speakers = dict[str, "speech.Speaker | pico.PicoSpeaker"]


def _speak(src: dict, speakers: Speakers, pool: dict[str, list] | None, sample_rate: int) -> np.ndarray:
    """The dry utterance of one planned source, float64 ``(time,)``; a natural one records its files."""
    if src.get("kind", "espeak") == "espeak":
        return speech.synthesize(src["text"], speakers[src["speaker"]], sample_rate).astype(np.float64)
    if src["kind"] == "pico":
        return pico.synthesize(src["text"], speakers[src["speaker"]], sample_rate).astype(np.float64)
    rng = np.random.default_rng([src["seed"], 1])
    seconds = src["seconds"] * src["speed"]
    wav, src["files"] = natural.utterance(pool[src["speaker"]], seconds, rng, sample_rate)
    if src["speed"] != 1.0:  # read as if recorded at speed × the rate: pitch and tempo move together
        wav = resample(wav, round(sample_rate * src["speed"]), sample_rate)
    if "voice" in src:  # a pseudo-speaker: the person with other formants and another pitch
        wav = voices.transform(wav, sample_rate, **src["voice"])
    return wav.astype(np.float64)


def _level(wav: np.ndarray, src: dict, sample_rate: int) -> float:
    if src.get("level") == "active":
        return active_rms(wav, sample_rate)
    return float(np.sqrt(np.mean(wav**2)))


def plan_overlap(split: str, index: int, seed: int, overlap: str, partial_share: float = 0.5) -> dict:
    """Whether mixture ``index`` of ``split`` overlaps its talkers fully or partly, from a stream of its own.

    ``overlap``: ``"full"`` (wsj0-2mix ``min`` mode), ``"partial"`` (every mixture offset) or ``"mixed"``
    (a ``partial_share`` of them offset). A partial mixture records ``start``, uniform in [0, 1): where the
    second utterance begins within the range ``place`` allows once the lengths are known.
    """
    rng = np.random.default_rng([seed, speech.SPLITS.index(split), index, 4])
    partial = overlap == "partial" or (overlap == "mixed" and rng.random() < partial_share)
    return {"partial": bool(partial), "start": round(float(rng.random()), 4) if partial else None}


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


def _layout(waves: list[np.ndarray], plan: dict, sample_rate: int) -> list[np.ndarray]:
    """The two sources laid out in the mixture: truncated to the shorter (``min`` mode) or, for a partial
    mixture, padded with silence around their offsets; records ``offsets``/``overlap_s`` in ``plan``."""
    overlap = plan.get("overlap")
    if not overlap or not overlap["partial"]:
        length = min(len(w) for w in waves)  # wsj0-2mix "min" mode
        if overlap:
            plan["offsets"], plan["overlap_s"] = [0, 0], round(length / sample_rate, 4)
        return [w[:length] for w in waves]
    offsets, length = place((len(waves[0]), len(waves[1])), overlap["start"], sample_rate)
    both = min(o + len(w) for o, w in zip(offsets, waves, strict=True)) - max(offsets)
    plan["offsets"], plan["overlap_s"] = offsets, round(both / sample_rate, 4)
    out = [np.zeros(length) for _ in waves]
    for o, w, x in zip(offsets, waves, out, strict=True):
        x[o:o + len(w)] = w
    return out


def render_mixture(plan: dict, speakers: Speakers, sample_rate: int = SAMPLE_RATE,
                   pool: dict[str, list] | None = None):
    """Synthesise (or read) and mix one planned mixture → int16 arrays ``(mix, s1, s2)``, each ``(time,)``.

    ``speakers`` maps the names of espeak and Pico speakers to their ``Speaker`` / ``PicoSpeaker``;
    ``pool`` maps natural speakers to their recordings (needed when the plan has natural talkers).
    ``mix == s1 + s2`` holds exactly on the stored 16-bit samples. A plan with a partial ``overlap``
    (``plan_overlap``) pads each source with digital silence where its talker is quiet.
    """
    waves = [_color(_speak(plan[key], speakers, pool, sample_rate), plan[key], sample_rate)
             for key in ("s1", "s2")]
    partial = bool(plan.get("overlap") and plan["overlap"]["partial"])
    laid = _layout(waves, plan, sample_rate)
    # Levels are set on the truncated signals, so the stored s1/s2 level ratio is exactly relative_db; a
    # partial mixture levels each whole utterance before it was padded (on its active speech, or its RMS).
    s1, s2 = (w / _level(whole if partial else w, plan[k], sample_rate) * 10 ** (plan[k]["gain_db"] / 20)
              for w, whole, k in zip(laid, waves, ("s1", "s2"), strict=True))
    peak = max(np.abs(s1 + s2).max(), np.abs(s1).max(), np.abs(s2).max())
    scale = plan["peak"] * 32767 / peak
    q1, q2 = (np.round(s * scale).astype(np.int16) for s in (s1, s2))
    return (q1.astype(np.int32) + q2).astype(np.int16), q1, q2


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


def _manifest(counts: dict[str, int], seed: int, plans: dict[str, list[dict]], speech_kind: str = "espeak",
              people: dict | None = None, with_pico: bool = False, people_by: str = "speaker",
              festival: bool = False, options: dict | None = None) -> dict:
    splits = {}
    for split, split_plans in plans.items():
        used = sorted({p[k]["speaker"] for p in split_plans for k in ("s1", "s2")})
        splits[SPLIT_DIRS[split]] = {
            "split": split,
            "count": counts[split],
            "variants": list(speech.variant_splits()[split]),
            "speakers_available": len(speech.list_speakers(split)),
            "speakers_used": used,
            "sentences_available": len(speech.sentence_splits()[split]),
            "mixtures": split_plans,
        }
    extra = {} if speech_kind == "espeak" else {"speech": speech_kind}
    if people is not None:
        extra["natural_speakers"] = people
        if people_by != "speaker":  # recorded only when not the default, so older manifests read the same
            extra["people_by"] = people_by
        if festival:  # the Festival voices are among the training people (natural_speakers lists them)
            extra["festival"] = True
    if with_pico:  # the Pico voices of each split, the package's version and licence
        extra["pico"] = pico.summary()
    options = options or {}
    extra.update(options)  # held_out, max_db, overlap, pseudo_speakers: recorded only when not the default
    max_db = options.get("max_db", MAX_DB)
    return {
        **extra,
        "generator": "tasnet_edu.data.mixtures",
        "generator_version": GENERATOR_VERSION,
        "backend": speech.backend_info(),
        "seed": seed,
        "sample_rate": SAMPLE_RATE,
        "mode": "min",
        "counts": _folder_counts(counts),
        "level_convention": f"s1 is the louder source: s1/s2 RMS ratio uniform in 0-{max_db:g} dB "
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


SPEECH = ("espeak", "natural", "pico", "all", "all+pico")
WITH_PEOPLE = ("natural", "all", "all+pico")  # the kinds that need recordings of people (--natural-cache)


def natural_pool(cache, log=print, festival: bool = False,
                 held_out: str = "default") -> tuple[dict[str, dict[str, list]], dict]:
    """``({split: {speaker: recordings}}, summary)`` of the natural speech in ``cache`` (with the rendered
    Festival voices among the training people when ``festival``), split by ``natural.held_out_splits``
    (``held_out="wide"``: the wide split, whose ``excluded`` speakers join no split)."""
    recordings = natural.index(cache, log=log, festival=festival)
    if not recordings:
        raise CourseError(f"no natural speech in {cache}: fill it first with "
                          f"`tasnet-edu fetch-speech --cache {cache}` (Debian/Ubuntu, no root needed)")
    if festival and not any(natural.SOURCES[r.source].rendered for r in recordings):
        raise CourseError(f"--festival: no Festival voices in {cache}; render them first with "
                          f"`tasnet-edu render-festival --cache {cache}`")
    splits = natural.held_out_splits(recordings, held_out)
    pool: dict[str, dict[str, list]] = {s: {} for s in speech.SPLITS}
    for rec in recordings:
        if splits[rec.speaker] in pool:
            pool[splits[rec.speaker]].setdefault(rec.speaker, []).append(rec)
    return pool, natural.summary(recordings, splits, persons=held_out != "default")


def _plan(split: str, index: int, seed: int, speech_kind: str, pool, with_pico: bool = False,
          people_by: str = "speaker", max_db: float = MAX_DB, overlap: str = "full",
          partial_share: float = 0.5, pseudo_speakers: bool = False) -> dict:
    if speech_kind == "espeak":
        plan = plan_mixture(split, index, seed, max_db)
    elif speech_kind == "pico":
        plan = plan_pico_mixture(split, index, seed, max_db)
    elif len(pool[split]) < 2:
        raise CourseError(f"the natural speech has fewer than 2 {split} speakers; fetch more packages")
    else:
        plan = plan_natural_mixture(split, index, seed, pool[split], speech_kind, with_pico, people_by,
                                    max_db, pseudo_speakers)
    if overlap != "full":
        plan["overlap"] = plan_overlap(split, index, seed, overlap, partial_share)
    return plan


def _check_options(max_db: float, overlap: str, partial_share: float, held_out: str) -> None:
    """One-line ``CourseError`` for a level range, overlap mode, share or held-out split that cannot be."""
    if not isinstance(max_db, (int, float)) or not 0 <= max_db <= 30:
        raise CourseError(f"max_db (the largest relative level) must be in 0–30 dB, got {max_db!r}")
    if overlap not in OVERLAP:
        raise CourseError(f"overlap must be one of {OVERLAP}, got {overlap!r}")
    if not isinstance(partial_share, (int, float)) or not 0 <= partial_share <= 1:
        raise CourseError(f"partial_share (the share of partly overlapped mixtures) must be in 0–1, "
                          f"got {partial_share!r}")
    if held_out not in natural.HELD_OUT:
        raise CourseError(f"held_out must be one of {natural.HELD_OUT}, got {held_out!r}")


def _options(max_db: float, overlap: str, partial_share: float, held_out: str, pseudo_speakers: bool) -> dict:
    """The manifest's record of the options that differ from their defaults (none: older manifests)."""
    out: dict = {}
    if held_out != "default":
        out["held_out"] = held_out
    if max_db != MAX_DB:
        out["max_db"] = max_db
    if overlap != "full":
        out["overlap"] = {"mode": overlap, "partial_share": partial_share if overlap == "mixed" else None,
                          "min_overlap_s": MIN_OVERLAP_S}
    if pseudo_speakers:
        out["pseudo_speakers"] = voices.summary()
    return out


def _uses_pico(speech_kind: str) -> bool:
    """Whether the Pico voices take part: for ``pico`` and ``all+pico``, which need ttspico (the one-line
    ``CourseError`` without it). ``all`` never uses them, so its files do not depend on what is installed."""
    if speech_kind in ("pico", "all+pico"):
        pico.backend_info()  # raises the one-line CourseError without the package
        return True
    return False


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
            ``natural_cache``), ``"pico"`` (Pico voices, the ``speech`` extra; see ``plan_pico_mixture``),
            ``"all"`` (people and espeak voices with equal odds) or ``"all+pico"`` (the same with half of the
            espeak talkers made Pico speakers; needs the ``speech`` extra).
        natural_cache: folder filled by ``tasnet-edu fetch-speech`` (``natural.fetch``).
        people_by: ``"speaker"`` or ``"seconds"``: how people are drawn (``plan_natural_mixture``).
        festival: the Festival voices rendered into ``natural_cache`` (``tasnet-edu render-festival``) join
            the training people (never validation or test); for the kinds with people only.
        held_out: ``"default"`` or ``"wide"``: which people are held out (``natural.held_out_splits``); the
            wide split holds out 10 validation and 6 test people and trains on none of them.
        max_db: relative levels are uniform in 0–``max_db`` dB (wsj0-2mix: 5).
        overlap: ``"full"`` (``min`` mode), ``"partial"`` or ``"mixed"`` (``plan_overlap``, ``place``).
        partial_share: the share of partly overlapped mixtures when ``overlap="mixed"``.
        pseudo_speakers: each training person's utterance becomes a pseudo-speaker's (``voices``).

    ``manifest.json`` records the seed, counts, the voice variants and speakers of each split and, per
    mixture, both texts, speakers, gains and augmentations. Same arguments → byte-identical files.
    """
    from tqdm.auto import tqdm

    counts = {"train": n_train, "valid": n_valid, "test": n_test}
    _check_counts(counts)
    _check_options(max_db, overlap, partial_share, held_out)
    if speech_kind not in SPEECH:
        raise CourseError(f"speech must be one of {SPEECH}, got {speech_kind!r}")
    if people_by not in PEOPLE_BY:
        raise CourseError(f"people_by must be one of {PEOPLE_BY}, got {people_by!r}")
    with_people = speech_kind in WITH_PEOPLE
    if with_people and natural_cache is None:
        raise CourseError(f"--speech {speech_kind} needs --natural-cache DIR "
                          "(a folder filled by tasnet-edu fetch-speech)")
    if festival and not with_people:
        raise CourseError("--festival adds voices to the people: use it with --speech "
                          + "|".join(WITH_PEOPLE))
    if (held_out != "default" or pseudo_speakers) and not with_people:
        raise CourseError("--held-out and --pseudo-speakers concern the people: use them with --speech "
                          + "|".join(WITH_PEOPLE))
    speech.engine()  # fail early, with one line, when there is no speech backend
    with_pico = _uses_pico(speech_kind)
    pool, people = (natural_pool(natural_cache, festival=festival, held_out=held_out) if with_people
                    else (None, None))
    out_dir = Path(out_dir).expanduser().absolute()
    tmp = _prepare_output(out_dir, overwrite)
    speakers: Speakers = {s.name: s for s in speech.list_speakers()}
    if with_pico:
        speakers.update((s.name, s) for s in pico.list_speakers())
    plans = {}
    try:
        with tqdm(total=sum(counts.values()), desc=f"make-data {out_dir.name}", disable=not progress) as bar:
            for split, n in counts.items():
                folder = tmp / SPLIT_DIRS[split]
                for sub in ("mix", "s1", "s2"):
                    (folder / sub).mkdir(parents=True)
                plans[split] = []
                for index in range(n):
                    plan = {"file": f"{index:05d}.wav",
                            **_plan(split, index, seed, speech_kind, pool, with_pico, people_by, max_db,
                                    overlap, partial_share, pseudo_speakers)}
                    waves = render_mixture(plan, speakers, pool=pool and pool[split])
                    for sub, wav in zip(("mix", "s1", "s2"), waves, strict=True):
                        save(folder / sub / plan["file"], wav, SAMPLE_RATE)
                    plan["seconds"] = round(len(wav) / SAMPLE_RATE, 4)
                    plans[split].append(plan)
                    bar.update()
        manifest = _manifest(counts, seed, plans, speech_kind, people, with_pico, people_by, festival,
                             _options(max_db, overlap, partial_share, held_out, pseudo_speakers))
        manifest = json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False, default=str)
        (tmp / "manifest.json").write_text(manifest + "\n", encoding="utf-8")
        _publish(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def read_manifest(root) -> dict | None:
    """The manifest of a generated dataset, or ``None`` when ``root`` holds none (or an unreadable one)."""
    try:
        return json.loads((Path(root) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def voices_used(root, split: str) -> set[str]:
    """The voice variants (names in espeak's ``voices/!v``) of every talker in ``split``'s mixtures.

    Read from ``manifest.json``, which records each source's speaker as ``dialect+variant/prosody``; compare
    with ``speech.variant_splits()["train"]`` to check that a test set holds only voices never trained on.
    """
    manifest = read_manifest(root)
    if manifest is None or split not in manifest.get("splits", {}):
        raise CourseError(f"{root}: no manifest.json with a {split!r} split "
                          "(was it made by tasnet-edu make-data?)")
    sources = (src for mix in manifest["splits"][split]["mixtures"] for src in mix.values()
               if isinstance(src, dict) and "speaker" in src)
    return {src["speaker"].split("/")[0].split("+")[1] for src in sources if "+" in src["speaker"]}


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
    if not (path / "manifest.json").is_file():
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
    files = sorted((folder / "mix").glob("*.wav"))
    if not 0 <= index < len(files):
        raise CourseError(f"sample index {index} out of range: {folder} holds {len(files)} mixtures")
    name = files[index].name
    mix, s1, s2 = (load(folder / sub / name, sample_rate=SAMPLE_RATE)[0] for sub in ("mix", "s1", "s2"))
    return torch.from_numpy(mix), torch.from_numpy(np.stack([s1, s2]))


# --------------------------------------------------------------------------- command line
def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``tasnet-edu make-data``."""
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="folder to create")
    parser.add_argument("--n-train", type=int, default=0, metavar="N", help="training mixtures (tr/)")
    parser.add_argument("--n-valid", type=int, default=0, metavar="N", help="validation mixtures (cv/)")
    parser.add_argument("--n-test", type=int, default=0, metavar="N", help="test mixtures (tt/)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed: same seed, same files")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--speech", choices=SPEECH, default="espeak",
                        help="espeak: synthetic voices (default, needs nothing); natural: recordings of "
                             "people from --natural-cache; pico: SVOX Pico voices (pip install -e "
                             "\".[speech]\"); all: people and espeak voices; all+pico: people, espeak and "
                             "Pico voices")
    parser.add_argument("--natural-cache", type=Path, metavar="DIR",
                        help="folder filled by `tasnet-edu fetch-speech` (for --speech natural/all/all+pico)")
    parser.add_argument("--people-by", choices=PEOPLE_BY, default="speaker",
                        help="draw the people uniformly by speaker (default) or in proportion to the seconds "
                             "each recorded (continuous speech then outweighs the word lists)")
    parser.add_argument("--festival", action="store_true",
                        help="add the Festival voices rendered into --natural-cache (`tasnet-edu "
                             "render-festival`) to the training people")
    parser.add_argument("--held-out", choices=natural.HELD_OUT, default="default",
                        help="which people are held out: default (4 validation, 2 test speaker groups) or "
                             "wide (10 validation people of 4 sources, 6 test groups; none of them trains)")
    parser.add_argument("--max-db", type=float, default=MAX_DB, metavar="DB",
                        help="relative level of the two talkers uniform in 0–DB dB (default 5, as wsj0-2mix)")
    parser.add_argument("--overlap", choices=OVERLAP, default="full",
                        help="full: both talk from start to end (wsj0-2mix min mode, default); partial: "
                             "one starts later or stops earlier; mixed: a --partial-share of them partial")
    parser.add_argument("--partial-share", type=float, default=0.5, metavar="P",
                        help="share of partly overlapped mixtures with --overlap mixed (default 0.5)")
    parser.add_argument("--pseudo-speakers", action="store_true",
                        help="give each training person's utterance new formants and pitch, drawn "
                             "independently (tasnet_edu.data.voices); validation and test stay untouched")


def run_cli(args: argparse.Namespace) -> int:
    out = make_mixtures(
        args.out, args.n_train, args.n_valid, args.n_test, args.seed, overwrite=args.overwrite,
        speech_kind=args.speech, natural_cache=args.natural_cache, people_by=args.people_by,
        festival=args.festival, held_out=args.held_out, max_db=args.max_db, overlap=args.overlap,
        partial_share=args.partial_share, pseudo_speakers=args.pseudo_speakers,
    )
    print(f"wrote {args.n_train + args.n_valid + args.n_test} mixtures to {out}")
    return 0
