"""Voice families: who may talk in a generated mixture, and how each talker's utterance is made.

A family is one class behind one interface (``Family``):

- ``draw(split, streams, taken)``: a talker of ``split`` for one mixture (a ``Talk``: the speaker, its
  speaker group, what it says) whose voice is not in ``taken``, and that voice; ``None`` when none is left;
- ``speak(talk, seed)``: the dry utterance, float64 ``(time,)`` at 8 kHz, and the files it read (people);
- ``manifest()``: what the dataset's manifest records about the family; ``check_split(split)`` fails (one
  line) before a split the family cannot fill.

The families: ``Espeak`` (espeak-ng voices, ``speech``), ``Pico`` (SVOX Pico voices, ``pico``, the ``speech``
extra), ``People`` (recordings of people, ``natural``) and ``PeopleAndFestival`` (the people with Festival's
voices, rendered by ``festival``, among the training people: drawn as people are).

Casts combine families for one talker with the same ``draw``: ``Coin`` (a person or a voice, by a coin),
``FirstFree`` (the first family with a voice left), ``StandIn`` (another family takes over a share of one
family's talkers, deciding from a stream of its own so that every other choice stays what it was).

Every random choice comes from ``Streams``: the streams of one mixture, ``numpy`` generators seeded by
``[seed, split, index, stream]``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from functools import cached_property

import numpy as np

from tasnet_edu import SAMPLE_RATE
from tasnet_edu.audio import resample
from tasnet_edu.data import natural, pico, speech, voices
from tasnet_edu.errors import CourseError

MAX_SENTENCES = 3  # an utterance of a synthetic voice is 1–3 sentences (~2–7 s)
PEOPLE_BY = ("speaker", "seconds")
PSEUDO_STREAM = 5  # the stream of the pseudo-speakers' factors


class Streams:
    """The random streams of mixture ``index`` of ``split``: ``numpy`` generators seeded by ``[seed, split
    number, index]`` plus a stream number (none for ``None``). ``main`` is the recipe's stream; ``of(n)``
    another one, the same generator on every call."""

    def __init__(self, seed: int, split: str, index: int, main: int | None, made: dict | None = None):
        self.key = [seed, speech.SPLITS.index(split), index]
        self.made = {} if made is None else made
        self.main = self.of(main)

    def of(self, stream: int | None) -> np.random.Generator:
        if stream not in self.made:
            self.made[stream] = np.random.default_rng(self.key + ([] if stream is None else [stream]))
        return self.made[stream]

    def on(self, stream: int) -> Streams:
        """The same streams with ``stream`` as the main one."""
        seed, split, index = self.key
        return Streams(seed, speech.SPLITS[split], index, stream, self.made)


@dataclass(frozen=True)
class Talk:
    """Who talks in a source and what: the family's part of its plan.

    Args:
        kind: the family: ``"espeak"``, ``"pico"`` or ``"natural"`` (a person).
        speaker: the talker's name (``Speaker.name``, ``PicoSpeaker.name``, a person's speaker group).
        group: its speaker group (``layout``): two talkers of one group never share a mixture.
        text: what a synthetic voice reads.
        seconds: how much of a person's recordings (seconds, before the speed change).
        speed: a person's speed factor (pitch and tempo together; 1.0 outside training).
        voice: a pseudo-speaker's factors ``{"formant", "pitch"}`` (``voices.draw``), or ``None``.
    """

    kind: str
    speaker: str
    group: str
    text: str | None = None
    seconds: float | None = None
    speed: float | None = None
    voice: dict | None = None

    def record(self) -> dict:
        """The fields the manifest records: those that are set."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


Drawn = tuple[Talk, str]  # a talker and its voice, which the other talker of the mixture must not share


def check_people_by(people_by: str) -> None:
    """One-line ``CourseError`` unless ``people_by`` is one of ``PEOPLE_BY``."""
    if people_by not in PEOPLE_BY:
        raise CourseError(f"people_by must be one of {PEOPLE_BY}, got {people_by!r}")


def sentences(texts: tuple[str, ...], rng: np.random.Generator) -> str:
    """1 to ``MAX_SENTENCES`` different sentences of ``texts`` (all of them if there are fewer), joined."""
    n = min(len(texts), int(rng.integers(1, MAX_SENTENCES + 1)))
    return " ".join(texts[i] for i in rng.choice(len(texts), size=n, replace=False))


class Family(ABC):
    """A voice family (see the module's docstring)."""

    kind: str

    @abstractmethod
    def draw(self, split: str, streams: Streams, taken: set[str]) -> Drawn | None:
        """A talker of ``split`` whose voice is not in ``taken``, drawn from ``streams.main``."""

    @abstractmethod
    def speak(self, talk: Talk, seed: int, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, list | None]:
        """``talk``'s dry utterance, float64 ``(time,)``, and the files it was read from (``None``: none);
        ``seed`` is its source's channel seed."""

    def members(self) -> tuple[Family, ...]:
        """The families a cast draws from: a family is its own."""
        return (self,)

    def check_split(self, split: str) -> None:
        """Raise ``CourseError`` when ``split`` cannot be filled (default: it always can)."""
        return None

    def manifest(self) -> dict:
        """What the manifest records about the family (default: nothing)."""
        return {}


class Espeak(Family):
    """espeak-ng's voices (``speech``): each talker reads 1–3 of its split's sentences. Two talkers of one
    voice variant (``Speaker.variant``) share formants, so the variant is what the other must not share."""

    kind = "espeak"

    @cached_property
    def speakers(self) -> dict[str, speech.Speaker]:
        return {s.name: s for s in speech.list_speakers()}

    def draw(self, split: str, streams: Streams, taken: set[str]) -> Drawn:
        rng = streams.main
        choices = [v for v in speech.list_speakers(split) if v.variant not in taken]
        voice = choices[int(rng.integers(len(choices)))]
        text = sentences(speech.sentence_splits()[split], rng)
        return Talk(self.kind, voice.name, voice.group, text=text), voice.variant

    def draw_pair(self, split: str, rng: np.random.Generator) -> tuple[Talk, Talk]:
        """Two talkers of ``split`` of different variants with 1–3 sentences each, all different (the espeak
        recipe's draw, older than ``draw``: it picks both voices before the texts)."""
        speakers = speech.list_speakers(split)
        texts = speech.sentence_splits()[split]
        a = int(rng.integers(len(speakers)))
        others = [i for i, spk in enumerate(speakers) if spk.variant != speakers[a].variant]
        b = others[int(rng.integers(len(others)))]
        n_a, n_b = rng.integers(1, MAX_SENTENCES + 1, size=2)
        picks = rng.choice(len(texts), size=n_a + n_b, replace=False)
        said = (" ".join(texts[i] for i in idx) for idx in (picks[:n_a], picks[n_a:]))
        return tuple(Talk(self.kind, speakers[i].name, speakers[i].group, text=text)
                     for i, text in zip((a, b), said, strict=True))

    def speak(self, talk: Talk, seed: int, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, None]:
        return speech.synthesize(talk.text, self.speakers[talk.speaker], sample_rate).astype(np.float64), None


class Pico(Family):
    """SVOX Pico's voices (``pico``; the ``speech`` extra): each talker reads 1–3 of its split's sentences
    in its voice's language. A split's voices run out quickly (one in validation and test): ``draw`` then
    gives ``None``."""

    kind = "pico"

    @classmethod
    def installed(cls) -> Pico:
        """The family, where the package is installed; else the one-line ``CourseError`` that says how to
        install it (drawing plans needs no package, speaking does)."""
        pico.backend_info()
        return cls()

    @cached_property
    def speakers(self) -> dict[str, pico.PicoSpeaker]:
        return {s.name: s for s in pico.list_speakers()}

    def draw(self, split: str, streams: Streams, taken: set[str]) -> Drawn | None:
        rng = streams.main
        choices = [s for s in pico.list_speakers(split) if s.group not in taken]
        if not choices:
            return None
        spk = choices[int(rng.integers(len(choices)))]
        text = sentences(speech.sentence_splits(spk.language)[split], rng)
        return Talk(self.kind, spk.name, spk.group, text=text), spk.group

    def speak(self, talk: Talk, seed: int, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, None]:
        return pico.synthesize(talk.text, self.speakers[talk.speaker], sample_rate).astype(np.float64), None

    def manifest(self) -> dict:
        return {"pico": pico.summary()}


class People(Family):
    """Recordings of people (``natural``): a talker is a speaker group of its split, its utterance 3–6 s of
    its recordings joined (``natural.utterance``), sped up or slowed down by up to 10 % in training (pitch
    and tempo together).

    Args:
        pool: ``{split: {speaker group: recordings}}`` (``from_cache``).
        summary: the manifest's ``natural_speakers`` (``natural.summary``).
        held_out: ``"default"`` or ``"wide"`` (``natural.held_out_splits``), for the manifest.
        people_by: how a person is drawn: ``"speaker"``, every speaker group of the split equally often (a
            KTuberling voice with 12 words counts as much as Fish Fillets' 100 minutes of dialogue);
            ``"seconds"``, in proportion to the speech each recorded, as wsj0-2mix draws utterances.
        pseudo_speakers: each training person's utterance gets a voice of its own (``voices.draw``: formant
            and pitch factors), from a stream of its own, so every other choice stays the same; validation
            and test people are never changed.
    """

    kind = "natural"

    def __init__(self, pool: dict[str, dict[str, list]], summary: dict, held_out: str = "default",
                 people_by: str = "speaker", pseudo_speakers: bool = False):
        check_people_by(people_by)
        self.pool, self.summary, self.held_out = pool, summary, held_out
        self.people_by, self.pseudo_speakers = people_by, pseudo_speakers
        self.recordings_of = {name: recs for split in pool.values() for name, recs in split.items()}

    @classmethod
    def from_cache(cls, cache, held_out: str = "default", log=print, **options) -> People:
        """The people of the natural-speech ``cache`` (``tasnet-edu fetch-speech``), split by
        ``natural.held_out_splits`` (``"wide"``: its ``excluded`` speakers join no split); ``options`` as
        the constructor's."""
        recordings = cls.recordings(cache, log)
        splits = natural.held_out_splits(recordings, held_out)
        pool: dict[str, dict[str, list]] = {s: {} for s in speech.SPLITS}
        for rec in recordings:
            if splits[rec.speaker] in pool:
                pool[splits[rec.speaker]].setdefault(rec.speaker, []).append(rec)
        summary = natural.summary(recordings, splits, persons=held_out != "default")
        return cls(pool, summary, held_out, **options)

    @classmethod
    def recordings(cls, cache, log=print) -> list[natural.Recording]:
        """The recordings of ``cache`` that this family draws from; ``CourseError`` when there are none."""
        recordings = cls._index(cache, log)
        if not recordings:
            raise CourseError(f"no natural speech in {cache}: fill it first with "
                              f"`tasnet-edu fetch-speech --cache {cache}` (Debian/Ubuntu, no root needed)")
        return recordings

    @staticmethod
    def _index(cache, log) -> list[natural.Recording]:
        return natural.index(cache, log=log)

    def check_split(self, split: str) -> None:
        if len(self.pool[split]) < 2:
            raise CourseError(f"the natural speech has fewer than 2 {split} speakers; fetch more packages")

    def draw(self, split: str, streams: Streams, taken: set[str]) -> Drawn:
        rng = streams.main
        pool = self.pool[split]
        name = self._pick([p for p in sorted(pool) if p not in taken], pool, rng)
        seconds = round(float(rng.uniform(3.0, 6.0)), 3)
        speed = round(float(rng.uniform(0.9, 1.1)), 3) if split == "train" else 1.0
        voice = voices.draw(streams.of(PSEUDO_STREAM)) if self.pseudo_speakers and split == "train" else None
        return Talk(self.kind, name, name, seconds=seconds, speed=speed, voice=voice), name

    def _pick(self, choices: list[str], pool: dict[str, list], rng: np.random.Generator) -> str:
        """One of ``choices``: uniformly, or weighted by their recorded seconds (``people_by``)."""
        if self.people_by == "speaker":
            return choices[int(rng.integers(len(choices)))]
        seconds = np.array([sum(rec.seconds for rec in pool[name]) for name in choices])
        return choices[int(np.searchsorted(np.cumsum(seconds) / seconds.sum(), rng.random(), side="right"))]

    def speak(self, talk: Talk, seed: int, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, list[str]]:
        rng = np.random.default_rng([seed, 1])
        wav, files = natural.utterance(self.recordings_of[talk.speaker], talk.seconds * talk.speed, rng,
                                       sample_rate)
        if talk.speed != 1.0:  # read as if recorded at speed × the rate: pitch and tempo move together
            wav = resample(wav, round(sample_rate * talk.speed), sample_rate)
        if talk.voice:  # a pseudo-speaker: the person with other formants and another pitch
            wav = voices.transform(wav, sample_rate, **talk.voice)
        return wav.astype(np.float64), files

    def manifest(self) -> dict:
        out: dict = {"natural_speakers": self.summary}
        if self.people_by != "speaker":  # options are recorded only when not the default
            out["people_by"] = self.people_by
        if self.held_out != "default":
            out["held_out"] = self.held_out
        if self.pseudo_speakers:
            out["pseudo_speakers"] = voices.summary()
        return out


class PeopleAndFestival(People):
    """``People`` with Festival's voices (``festival``, rendered into the same cache by ``tasnet-edu
    render-festival``) among the training people: each voice is one more speaker group, drawn like a person
    and never held out."""

    @classmethod
    def recordings(cls, cache, log=print) -> list[natural.Recording]:
        recordings = super().recordings(cache, log)
        if not any(natural.SOURCES[r.source].rendered for r in recordings):
            raise CourseError(f"--festival: no Festival voices in {cache}; render them first with "
                              f"`tasnet-edu render-festival --cache {cache}`")
        return recordings

    @staticmethod
    def _index(cache, log) -> list[natural.Recording]:
        return natural.index(cache, log=log, festival=True)

    def manifest(self) -> dict:
        return {**super().manifest(), "festival": True}


# --------------------------------------------------------------------------- casts
class Cast(Family):
    """Families combined for one talker: draws like a family; speaking is left to its members."""

    def __init__(self, *parts: Family):
        self.parts = parts

    def members(self) -> tuple[Family, ...]:
        return tuple(dict.fromkeys(f for part in self.parts for f in part.members()))

    def speak(self, talk: Talk, seed: int, sample_rate: int = SAMPLE_RATE):
        raise TypeError("a cast does not speak: its member of the talk's kind does")


class Coin(Cast):
    """``heads`` with odds ``share``, else ``tails`` (one draw of the main stream decides)."""

    def __init__(self, share: float, heads: Family, tails: Family):
        super().__init__(heads, tails)
        self.share = share

    def draw(self, split: str, streams: Streams, taken: set[str]) -> Drawn | None:
        heads, tails = self.parts
        return (heads if streams.main.random() < self.share else tails).draw(split, streams, taken)


class FirstFree(Cast):
    """The first of ``parts`` that has a voice left."""

    def draw(self, split: str, streams: Streams, taken: set[str]) -> Drawn | None:
        for part in self.parts:
            drawn = part.draw(split, streams, taken)
            if drawn is not None:
                return drawn
        return None


class StandIn(Cast):
    """``base``'s talker, replaced with odds ``share`` by one of ``other`` (when it has a voice left); the
    replacement is decided and drawn from stream ``stream``, so ``base``'s choices stay as they were."""

    def __init__(self, base: Family, other: Family, share: float, stream: int):
        super().__init__(base, other)
        self.share, self.stream = share, stream

    def draw(self, split: str, streams: Streams, taken: set[str]) -> Drawn | None:
        base, other = self.parts
        drawn = base.draw(split, streams, taken)
        if streams.of(self.stream).random() < self.share:
            drawn = other.draw(split, streams.on(self.stream), taken) or drawn
        return drawn

