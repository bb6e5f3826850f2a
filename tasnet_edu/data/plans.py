"""Typed plans of generated mixtures, and the recipes that draw them.

A ``MixturePlan`` holds every random choice of one mixture before any sound is made: its two ``Source``s
(each a ``Talk`` of a voice family, a gain and a ``Channel``), the mixture's peak and, unless both talk from
start to end, an ``Overlap``. A ``Recipe`` draws the plan of mixture ``index`` of a split from the seed alone
(``Recipe.plan``); ``mixtures.render_mixture`` makes its sound; ``MixturePlan.record`` is what the manifest
keeps of it. ``recipe(...)`` builds the recipe of ``make-data``'s options:

=============  ======================================================================  ===========
``--speech``   who talks (``families``)                                                main stream
=============  ======================================================================  ===========
``espeak``     two espeak voices of different variants (``Espeak.draw_pair``)           none
``pico``       Pico voices; an espeak voice where the split has no Pico voice left       2
``natural``    people                                                                   1
``all``        a person or an espeak voice, by a coin                                   1
``all+pico``   as ``all``, with half of the espeak voices made Pico voices (stream 3)    1
=============  ======================================================================  ===========

The espeak recipe levels the sources on their plain RMS and is the course's first: its manifests record
neither a source's ``kind`` nor its ``level``. The others level them on the active speech
(``audio.active_rms``), since a person's pauses would make them louder. Options draw from streams of their
own (overlap 4, pseudo-speakers 5), so leaving them out leaves every other choice as it was.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from tasnet_edu.data import natural, speech
from tasnet_edu.data.families import (
    Coin,
    Espeak,
    Family,
    FirstFree,
    People,
    PeopleAndFestival,
    Pico,
    StandIn,
    Streams,
    Talk,
    check_people_by,
)
from tasnet_edu.data.layout import MIN_OVERLAP_S, SOURCE_KEYS
from tasnet_edu.errors import CourseError

MAX_DB = 5.0  # relative level range 0–5 dB, as in wsj0-2mix
OVERLAP = ("full", "partial", "mixed")  # min-length overlap (wsj0-2mix), offsets (Libri2Mix "max"), both
REVERB_PROB = 0.4
SPEECH = ("espeak", "natural", "pico", "all", "all+pico")
WITH_PEOPLE = ("natural", "all", "all+pico")  # the kinds that need recordings of people (--natural-cache)
PICO_STREAM, OVERLAP_STREAM = 3, 4


@dataclass(frozen=True)
class Channel:
    """One utterance's channel: high-pass (and maybe low-pass) EQ corners in Hz, reverberation time in
    seconds (or none), noise floor in dB re. the speech, and the seed of its noise and reverberation."""

    highpass_hz: float
    lowpass_hz: float | None
    rt60_s: float | None
    noise_db: float
    seed: int

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Channel:
        return cls(
            highpass_hz=round(float(rng.uniform(40, 200)), 1),
            lowpass_hz=round(float(rng.uniform(2800, 3900)), 1) if rng.random() < 0.3 else None,
            rt60_s=round(float(rng.uniform(0.1, 0.4)), 3) if rng.random() < REVERB_PROB else None,
            noise_db=round(float(rng.uniform(-55, -35)), 2),
            seed=int(rng.integers(2**31)),
        )


@dataclass(frozen=True)
class Source:
    """One talker of a mixture: who and what (``talk``), its gain in dB, its channel."""

    talk: Talk
    gain_db: float
    channel: Channel


@dataclass(frozen=True)
class Overlap:
    """A mixture's overlap: ``partial`` (one talker starts later or stops earlier), and then ``start`` in
    [0, 1), where the second utterance begins in the range ``mixtures.place`` allows."""

    partial: bool
    start: float | None


@dataclass(frozen=True)
class Rendered:
    """What rendering a plan gave: int16 ``waves`` ``(mix, s1, s2)``, each ``(time,)``, and their length in
    seconds; the files each source read (``None``: a synthetic voice); with an ``Overlap``, each talker's
    start (samples) and how long both talk at once."""

    waves: tuple[np.ndarray, np.ndarray, np.ndarray]
    seconds: float
    files: tuple[list[str] | None, list[str] | None]
    offsets: list[int] | None = None
    overlap_s: float | None = None


@dataclass(frozen=True)
class MixturePlan:
    """Every random choice of one mixture.

    Args:
        relative_db: how much louder ``s1`` is than ``s2`` (dB, ≥ 0).
        peak: the mixture's peak, in full scale.
        sources: ``s1`` and ``s2``.
        level: ``"rms"`` (the plain RMS) or ``"active"`` (``audio.active_rms``): what the gains act on.
        overlap: ``None`` for the ``min`` mode (both talk from start to end, nothing recorded).
    """

    relative_db: float
    peak: float
    sources: tuple[Source, Source]
    level: str = "rms"
    overlap: Overlap | None = None

    def record(self, file: str, rendered: Rendered) -> dict:
        """The manifest's record of this mixture, stored as ``file`` and rendered as ``rendered``."""
        out: dict = {"file": file, "relative_db": self.relative_db, "peak": self.peak,
                     "seconds": rendered.seconds}
        for key, source, files in zip(SOURCE_KEYS, self.sources, rendered.files, strict=True):
            out[key] = {**source.talk.record(), "gain_db": source.gain_db, **asdict(source.channel)}
            if self.level == "rms":  # the espeak recipe's records, older than the other kinds, hold neither
                del out[key]["kind"]
            else:
                out[key]["level"] = self.level
            if files is not None:
                out[key]["files"] = files
        if self.overlap is not None:
            out.update(overlap=asdict(self.overlap), offsets=rendered.offsets, overlap_s=rendered.overlap_s)
        return out


def plan_overlap(split: str, index: int, seed: int, overlap: str, partial_share: float = 0.5) -> Overlap:
    """Whether mixture ``index`` of ``split`` overlaps its talkers fully or partly, from a stream of its own.

    ``overlap``: ``"full"`` (wsj0-2mix ``min`` mode), ``"partial"`` (every mixture offset) or ``"mixed"``
    (a ``partial_share`` of them offset).
    """
    rng = Streams(seed, split, index, OVERLAP_STREAM).main
    partial = overlap == "partial" or (overlap == "mixed" and rng.random() < partial_share)
    return Overlap(bool(partial), round(float(rng.random()), 4) if partial else None)


def _levels(rel_db: float) -> tuple[float, float]:
    """The two gains (dB) of a relative level: half of it up, half down."""
    return round(rel_db / 2, 4), round(-rel_db / 2, 4)


class EspeakPairs:
    """The espeak recipe: two espeak voices of different variants (``Espeak.draw_pair``) at plain RMS, from
    the stream ``[seed, split, index]``."""

    def __init__(self, espeak: Espeak):
        self.cast = espeak

    def pair(self, split: str, index: int, seed: int, max_db: float) -> MixturePlan:
        rng = Streams(seed, split, index, None).main
        talks = self.cast.draw_pair(split, rng)
        rel_db = float(rng.uniform(0.0, max_db))
        sources = tuple(Source(talk, gain, Channel.draw(rng))
                        for talk, gain in zip(talks, _levels(rel_db), strict=True))
        return MixturePlan(round(rel_db, 4), round(float(rng.uniform(0.25, 0.9)), 3), sources)


class TalkerPairs:
    """Two talkers drawn one after the other from ``cast`` (a family or a cast of families), the second never
    of the first one's voice, levelled on their active speech; the main stream is ``stream``."""

    def __init__(self, cast: Family, stream: int):
        self.cast, self.stream = cast, stream

    def pair(self, split: str, index: int, seed: int, max_db: float) -> MixturePlan:
        streams = Streams(seed, split, index, self.stream)
        rel_db = float(streams.main.uniform(0.0, max_db))
        sources, taken = [], set()
        for gain in _levels(rel_db):
            talk, voice = self.cast.draw(split, streams, taken)
            taken.add(voice)
            sources.append(Source(talk, gain, Channel.draw(streams.main)))
        peak = round(float(streams.main.uniform(0.25, 0.9)), 3)
        return MixturePlan(round(rel_db, 4), peak, tuple(sources), level="active")


@dataclass(frozen=True)
class Recipe:
    """How a dataset's mixtures are drawn: who talks (``pairs``), levels and overlap.

    Args:
        speech: the ``--speech`` kind, for the manifest.
        pairs: ``EspeakPairs`` or ``TalkerPairs``.
        max_db: relative levels are uniform in 0–``max_db`` dB (wsj0-2mix: 5).
        overlap: ``"full"``, ``"partial"`` or ``"mixed"`` (``plan_overlap``).
        partial_share: the share of partly overlapped mixtures when ``overlap="mixed"``.
    """

    speech: str
    pairs: EspeakPairs | TalkerPairs
    max_db: float = MAX_DB
    overlap: str = "full"
    partial_share: float = 0.5

    def plan(self, split: str, index: int, seed: int) -> MixturePlan:
        """Every random choice of mixture ``index`` of ``split``, from ``seed``."""
        plan = self.pairs.pair(split, index, seed, self.max_db)
        if self.overlap == "full":
            return plan
        return replace(plan, overlap=plan_overlap(split, index, seed, self.overlap, self.partial_share))

    @property
    def families(self) -> dict[str, Family]:
        """The families that take part, by their ``kind``: the ones that speak the plans' talks."""
        return {family.kind: family for family in self.pairs.cast.members()}

    def check_split(self, split: str) -> None:
        """``CourseError`` when a family cannot fill ``split``."""
        for family in self.families.values():
            family.check_split(split)

    def manifest(self) -> dict:
        """What the manifest records of the recipe: the kind, the families' records and the options that
        differ from their defaults (so older manifests read the same)."""
        out: dict = {} if self.speech == "espeak" else {"speech": self.speech}
        for family in self.families.values():
            out.update(family.manifest())
        if self.max_db != MAX_DB:
            out["max_db"] = self.max_db
        if self.overlap != "full":
            out["overlap"] = {"mode": self.overlap, "min_overlap_s": MIN_OVERLAP_S,
                              "partial_share": self.partial_share if self.overlap == "mixed" else None}
        return out


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


def _check_people_options(speech_kind: str, natural_cache, festival: bool, held_out: str,
                          pseudo_speakers: bool) -> None:
    """One-line ``CourseError`` for options of the people without people, or people without a cache."""
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


def pairs(speech_kind: str, people: People | None = None,
          pico: Pico | None = None) -> EspeakPairs | TalkerPairs:
    """Who talks for ``speech_kind`` (the module's table), from the families that take part: ``people`` for
    the kinds with people, ``pico`` for ``pico`` and ``all+pico``."""
    espeak = Espeak()
    if speech_kind == "espeak":
        return EspeakPairs(espeak)
    if speech_kind == "pico":
        return TalkerPairs(FirstFree(pico, espeak), stream=2)
    voice = StandIn(espeak, pico, share=0.5, stream=PICO_STREAM) if speech_kind == "all+pico" else espeak
    return TalkerPairs(people if speech_kind == "natural" else Coin(0.5, people, voice), stream=1)


def recipe(speech_kind: str = "espeak", natural_cache=None, people_by: str = "speaker",
           festival: bool = False, held_out: str = "default", max_db: float = MAX_DB, overlap: str = "full",
           partial_share: float = 0.5, pseudo_speakers: bool = False, log=print) -> Recipe:
    """The recipe of ``make-data``'s options (``mixtures.make_mixtures`` documents them), checked: a
    ``CourseError`` in one line for options that cannot be, a missing engine, package or cache. Reads the
    natural-speech cache (``natural.index``) when people take part."""
    _check_options(max_db, overlap, partial_share, held_out)
    if speech_kind not in SPEECH:
        raise CourseError(f"speech must be one of {SPEECH}, got {speech_kind!r}")
    check_people_by(people_by)
    _check_people_options(speech_kind, natural_cache, festival, held_out, pseudo_speakers)
    speech.engine()  # fail early, with one line, when there is no speech backend
    # all draws no Pico voice: its files never depend on whether the package is installed
    pico = Pico.installed() if speech_kind in ("pico", "all+pico") else None
    people = None
    if speech_kind in WITH_PEOPLE:
        people = (PeopleAndFestival if festival else People).from_cache(
            natural_cache, held_out, log, people_by=people_by, pseudo_speakers=pseudo_speakers)
    return Recipe(speech_kind, pairs(speech_kind, people, pico), max_db=max_db, overlap=overlap,
                  partial_share=partial_share)
