"""Natural speech that can be had offline: recordings of people shipped in Debian packages.

espeak-ng's formant synthesis is not human speech (no jitter, no breath, idealised formant transitions), and a
model trained on it alone does not separate real recordings. These packages hold real voices:

- **Asterisk** telephone prompts (``asterisk-core-sounds-*-wav``, ``asterisk-prompt-*``): studio recordings at
  8 kHz, one voice talent per package (Allison Smith recorded both the English and the Spanish set);
- **Fish Fillets** (``fillets-ng-data-cs``, ``-nl``): acted game dialogue, two main and several minor voices
  per language; the files do not say who speaks, so a language's dialogue counts as one speaker group;
- **Tux Paint** stamp descriptions (``tuxpaint-stamps-default``): short sentences read by volunteers, one
  voice per language;
- **KLettres**, **KTuberling** (``klettres-data``, ``ktuberling-data``): single letters, syllables and words
  read by volunteers, one voice per language; several words of one voice are joined into an utterance;
- **Festival** voices (``festival-*``): sentences spoken by Festival's diphone, unit-selection and HTS voices,
  each made from one person's recordings; they are not recordings of sentences, so they are rendered into the
  cache (``tasnet_edu.data.festival``), only ever train, and are read only when asked for (``festival=True``).

A *speaker* here is a speaker group (``asterisk/Allison``, ``tuxpaint/fr``); two utterances of one group are
never mixed together. ``speaker_splits`` assigns every speaker, not every utterance, to train / valid / test.

``fetch(cache)`` fills a cache folder with ``apt-get download`` + ``dpkg-deb -x`` (no root needed, any Debian
or Ubuntu, Colab included); ``tasnet-edu render-festival --cache`` adds the Festival voices. Everything else
reads that folder; a missing package is skipped with one line.

Reserved for judging the models and never read here: CMU ARCTIC recordings and every voice built from them.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

from tasnet_edu import SAMPLE_RATE
from tasnet_edu.audio import resample
from tasnet_edu.data.speech import stable_unit, trim_silence
from tasnet_edu.errors import CourseError

SPLITS = ("train", "valid", "test")
MIN_HELD_OUT_S = 300.0  # a speaker with less speech than this (5 min) always trains: too little to score on
CLIP_FRACTION = 1e-3  # a file with more samples than this at full scale is clipped, and skipped


@dataclass(frozen=True)
class Source:
    """One Debian package of recordings.

    Args:
        package: Debian package name.
        family: ``asterisk``, ``fillets``, ``tuxpaint``, ``klettres`` or ``ktuberling``.
        licence: the recordings' licence, from the package's ``copyright`` file.
        speaker: the speaker id for every file (``None``: derived from the path, see ``speaker_of``).
        pattern: glob of the speech files below the package root.
        raw_gsm: the files are headerless GSM 6.10 at 8 kHz.
        rendered: synthesised into the cache by ``tasnet_edu.data.festival``, not a Debian package: such a
            source only trains, and ``index`` reads it only with ``festival=True``.
    """

    package: str
    family: str
    licence: str
    speaker: str | None = None
    pattern: str = "**/*.wav"
    raw_gsm: bool = False
    rendered: bool = False


_AST = "usr/share/asterisk/sounds"
_FISH = "usr/share/games/fillets-ng/sound"
SOURCES: dict[str, Source] = {s.package: s for s in (
    Source("asterisk-core-sounds-en-wav", "asterisk", "CC-BY-SA-3.0", "asterisk/Allison", f"{_AST}/**/*.wav"),
    Source("asterisk-core-sounds-es-wav", "asterisk", "CC-BY-SA-3.0", "asterisk/Allison", f"{_AST}/**/*.wav"),
    Source("asterisk-core-sounds-fr-wav", "asterisk", "CC-BY-SA-3.0", "asterisk/June", f"{_AST}/**/*.wav"),
    Source("asterisk-core-sounds-it-wav", "asterisk", "CC-BY-3.0", "asterisk/Carlo", f"{_AST}/**/*.wav"),
    Source("asterisk-core-sounds-ru-wav", "asterisk", "CC-BY-3.0", "asterisk/IvrvoiceRU", f"{_AST}/**/*.wav"),
    Source("asterisk-prompt-it-menardi-wav", "asterisk",
           "CC-BY-SA-3.0 (attribution: voice prompts by Marco Menardi and Paola Dal Zot, http://www.voip.ammdomus.it)",
           "asterisk/Menardi", f"{_AST}/**/*.wav"),
    Source("asterisk-prompt-es-co", "asterisk", "GPL-2 (Avatar Ltda. / July E. Jiménez)", "asterisk/es-co",
           f"{_AST}/**/*.gsm", raw_gsm=True),
    Source("asterisk-prompt-fr-armelle", "asterisk", "GPL-2 (Michel Gutierrez)", "asterisk/Armelle",
           f"{_AST}/**/*.gsm", raw_gsm=True),
    Source("fillets-ng-data-cs", "fillets", "GPL-2+", "fillets/cs", f"{_FISH}/**/*.ogg"),
    Source("fillets-ng-data-nl", "fillets", "GPL-2+", "fillets/nl", f"{_FISH}/**/*.ogg"),
    Source("tuxpaint-stamps-default", "tuxpaint", "GPL-2", None, "usr/share/tuxpaint/stamps/**/*_desc*.ogg"),
    Source("klettres-data", "klettres", "GPL-2+", None, "usr/share/klettres/*/*/*.ogg"),
    Source("ktuberling-data", "ktuberling", "GPL-2+ / CC-BY", None, "usr/share/ktuberling/sounds/*/*"),
    *(Source(f"festival-{name}", "festival", licence, f"festival/{name}", "*.wav", rendered=True)
      for name, licence in (
          ("kal", "Festvox free licence (Alan W Black, Kevin Lenzo, 1998)"),
          ("ked", "Festvox free licence (Alan W Black, Kevin Lenzo, 1998)"),
          ("lp", "GPL-2+ (Piero Cosi, ISTC-CNR)"), ("pc", "GPL-2+ (Piero Cosi, ISTC-CNR)"),
          ("fi-lj", "LGPL-2.1+ (Suopuhe, University of Helsinki)"),
          ("fi-mv", "LGPL-2.1+ (Suopuhe, University of Helsinki)"),
          ("cs-dita", "GPL-3+ (Brailcom)"), ("cs-krb", "GPL-3+ (Brailcom)"),
          ("cs-machac", "GPL-3+ (Brailcom)"), ("cs-ph", "GPL-2+ (Brailcom)"),
          ("ca-ona", "LGPL-2.1+ (Festcat, Universitat Politecnica de Catalunya)"),
          ("ru-nsh", "BSD-like (Nickolay V. Shmyrev)"),
      )),
)}
AUDIO_SUFFIXES = {".wav", ".ogg", ".opus", ".flac", ".gsm"}


@dataclass(frozen=True)
class Recording:
    """One file of natural speech: where it is, whose it is, how long (seconds, as stored)."""

    path: Path
    source: str
    speaker: str
    seconds: float

    @property
    def name(self) -> str:
        """``package/path/inside/it``: where the file is in any cache."""
        parts = self.path.parts
        return "/".join(parts[len(parts) - parts[::-1].index(self.source) - 1:])


# --------------------------------------------------------------------------- fetching
def fetch(cache, packages=None, log=print) -> list[str]:
    """Download and unpack the Debian packages of ``SOURCES`` into ``cache`` (``cache/<package>/``).

    No root is needed: ``apt-get download`` writes the ``.deb`` into a temporary folder and ``dpkg-deb -x``
    unpacks it. A package already unpacked (its ``.complete`` marker exists) is not fetched again; one that
    cannot be had is reported in one line and skipped. Returns the packages now in the cache.
    """
    require_debian_tools("fetching natural speech")
    cache = Path(cache).expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    done = []
    debian = [name for name, source in SOURCES.items() if not source.rendered]
    for package in packages or debian:
        if package not in debian:
            raise CourseError(f"unknown natural-speech package {package!r}; choose from {debian} "
                              "(the festival-* voices are made by `tasnet-edu render-festival`)")
        if not (cache / package / ".complete").is_file():
            err = unpack([package], cache / package)
            if err:
                log(f"skipped {package}: {err}")
                continue
        done.append(package)
    return done


def require_debian_tools(purpose: str) -> None:
    """``CourseError`` (one line) unless ``apt-get`` and ``dpkg-deb``, which ``unpack`` runs, are here."""
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise CourseError(f"{purpose} needs {tool} (Debian/Ubuntu); it is not on this machine")


def unpack(packages: list[str], target: Path) -> str | None:
    """``apt-get download`` the Debian ``packages`` and ``dpkg-deb -x`` them all into ``target``, marked
    complete (``target/.complete``); ``None`` on success, else the reason in a few words. An interrupted or
    failed unpack leaves ``target`` as it was: only a finished one gets that name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        partial = Path(tmp) / "x"
        for package in packages:
            got = subprocess.run(["apt-get", "download", package], cwd=tmp, capture_output=True, text=True)
            debs = list(Path(tmp).glob(f"{package}_*.deb"))
            if got.returncode != 0 or not debs:
                return f"{package}: " + (got.stderr.strip().splitlines() or ["apt-get download failed"])[-1]
            unpacked = subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(partial)], capture_output=True,
                                      text=True)
            if unpacked.returncode != 0:
                return f"dpkg-deb could not unpack {debs[0].name} ({unpacked.stderr.strip()})"
        (partial / ".complete").write_text("\n".join(d.name for d in sorted(Path(tmp).glob("*.deb"))) + "\n")
        if target.exists():
            shutil.rmtree(target)
        partial.rename(target)
    return None


# --------------------------------------------------------------------------- indexing
def speaker_of(source: Source, rel: Path) -> str | None:
    """The speaker group of file ``rel`` (relative to the package root); ``None`` for what is not speech."""
    if rel.suffix.lower() not in AUDIO_SUFFIXES or "silence" in rel.parts:
        return None
    if source.speaker:
        return source.speaker
    if source.family == "tuxpaint":  # name_desc.ogg: English, name_desc_fr.ogg: French, name.ogg: an effect
        stem = rel.stem
        if "_desc" not in stem:
            return None
        lang = stem.rsplit("_desc", 1)[1].lstrip("_").split(".")[0] or "en"
        return f"tuxpaint/{lang}"
    lang = rel.parts[3]  # usr/share/klettres/<lang>/… and usr/share/ktuberling/sounds/<lang>/…
    return f"{source.family}/{rel.parts[4] if source.family == 'ktuberling' else lang}"


def _seconds(path: Path, source: Source) -> float:
    if source.raw_gsm:
        return path.stat().st_size / 33 * 160 / 8000  # 33-byte GSM frames of 160 samples
    return sf.info(str(path)).duration


def index(cache, log=print, festival: bool = False) -> list[Recording]:
    """Every speech file of every source in ``cache``, sorted; unreadable files skipped and counted.

    The rendered Festival voices take part only with ``festival=True`` (so a data set made without them reads
    the same cache the same way after they were rendered into it).
    """
    cache = Path(cache).expanduser()
    recordings, skipped, missing = [], 0, []
    for name, source in SOURCES.items():
        root = cache / name
        if source.rendered and not festival:
            continue
        if not (root / ".complete").is_file():
            missing.append(name)
            continue
        for path in sorted(root.glob(source.pattern)):
            speaker = speaker_of(source, path.relative_to(root))
            if speaker is None or not path.is_file():
                continue
            try:
                seconds = _seconds(path, source)
            except (sf.LibsndfileError, RuntimeError, OSError):
                skipped += 1
                continue
            if seconds > 0.1:
                recordings.append(Recording(path, name, speaker, round(seconds, 3)))
    unusable = sorted({r.speaker for r in recordings} - _usable_speakers(recordings))
    if unusable:
        log(f"natural speech: left out {', '.join(unusable)}: the first files read are clipped or silent")
        recordings = [r for r in recordings if r.speaker not in unusable]
    if missing:
        how = "render-festival" if all(SOURCES[m].rendered for m in missing) else "fetch-speech"
        log(f"natural speech: {len(missing)} package(s) not in {cache} ({', '.join(missing)}); "
            f"make them with `tasnet-edu {how} --cache {cache}`")
    if skipped:
        log(f"natural speech: skipped {skipped} unreadable file(s)")
    return recordings


def _usable_speakers(recordings: list[Recording], probe: int = 5) -> set[str]:
    """Speakers with a usable file among their first ``probe`` (Tux Paint's Spanish set is all clipped)."""
    by_speaker: dict[str, list[Recording]] = {}
    for rec in recordings:
        by_speaker.setdefault(rec.speaker, []).append(rec)
    return {spk for spk, recs in by_speaker.items()
            if any(read(r.path, SOURCES[r.source].raw_gsm) is not None for r in recs[:probe])}


def speaker_splits(recordings: list[Recording]) -> dict[str, str]:
    """``{speaker: "train" | "valid" | "test"}``, disjoint and fixed by a hash of each speaker's name.

    Only recorded speakers with at least ``MIN_HELD_OUT_S`` of speech can be held out. In each family with
    three or more such speakers, the hash order picks two for validation and one for test (Asterisk, Tux
    Paint); all the others train, and so do all rendered (Festival) voices.
    """
    total, family = _recorded(recordings)
    splits = {rec.speaker: "train" for rec in recordings}
    for fam in sorted(set(family.values())):
        big = sorted((s for s in total if family[s] == fam and total[s] >= MIN_HELD_OUT_S),
                     key=lambda s: stable_unit("natural-split", s))
        if len(big) >= 3:
            splits[big[0]] = splits[big[1]] = "valid"
            splits[big[2]] = "test"
    return splits


# --------------------------------------------------------------------------- the wide held-out split
HELD_OUT = ("default", "wide")
WIDE_MIN_S = 60.0  # a held-out person of the wide split needs a minute of speech: many 3–6 s utterances
#: Validation people of the wide split, per family, picked in hash order (one person per language key).
WIDE_VALID = {"asterisk": 1, "tuxpaint": 2, "klettres": 4, "ktuberling": 4}
WIDE_MIN_PEOPLE = {"valid": 10, "test": 6}
#: Families whose voices are volunteers, one per language: the same person may have read for several of them.
VOLUNTEERS = ("tuxpaint", "klettres", "ktuberling")


def person_of(speaker: str, family: str) -> str:
    """The conservative identity of a speaker group: volunteers' voices of one language count as one person.

    Tux Paint, KLettres and KTuberling do not say who read, and one volunteer may have read for all three
    (``tuxpaint/da``, ``klettres/da``, ``ktuberling/da`` → ``volunteer/da``; ``sr@latin`` → ``sr``,
    ``pt_BR`` → ``pt``). Every other group is its own person.
    """
    if family not in VOLUNTEERS:
        return speaker
    lang = speaker.split("/", 1)[1]
    return "volunteer/" + lang.split("@")[0].split("_")[0]


def _recorded(recordings: list[Recording]) -> tuple[dict[str, float], dict[str, str]]:
    """``({speaker: seconds}, {speaker: family})`` of the recorded (not rendered) speakers."""
    total: dict[str, float] = {}
    family: dict[str, str] = {}
    for rec in recordings:
        if not SOURCES[rec.source].rendered:
            total[rec.speaker] = total.get(rec.speaker, 0.0) + rec.seconds
            family[rec.speaker] = SOURCES[rec.source].family
    return total, family


def wide_splits(recordings: list[Recording]) -> dict[str, str]:
    """The wide held-out split: ``{speaker: "train" | "valid" | "test" | "excluded"}``.

    - test: the six speaker groups that ``speaker_splits`` holds out (Asterisk's Allison, Carlo and Menardi,
      Tux Paint's be, fr and da), so no shipped model was trained on a test person and old and new models
      are scored on the same people;
    - valid: ``WIDE_VALID`` groups per family with at least ``WIDE_MIN_S`` of speech, in the hash order of
      their names, one per person (``person_of``), passing over a group whose person has more than
      ``MIN_HELD_OUT_S`` in other training groups (holding it out would cost that much training speech);
    - excluded: groups that may be the same person as a held-out one (another volunteer set of the same
      language): neither trained on nor scored;
    - train: all the others, rendered (Festival) voices included.
    """
    default = speaker_splits(recordings)
    total, family = _recorded(recordings)
    splits = {spk: "test" if split != "train" else "train" for spk, split in default.items()}
    person = {s: person_of(s, family[s]) for s in total}
    taken = {person[s] for s, split in splits.items() if split == "test"}

    def cost(spk: str) -> float:  # the training speech that holding ``spk``'s person out also removes
        return sum(total[s] for s in total if person[s] == person[spk] and s != spk and splits[s] == "train")

    for fam, quota in WIDE_VALID.items():
        candidates = sorted((s for s in total if family[s] == fam and splits[s] == "train"
                             and total[s] >= WIDE_MIN_S), key=lambda s: stable_unit("natural-wide", s))
        for spk in candidates:
            if quota and person[spk] not in taken and cost(spk) <= MIN_HELD_OUT_S:
                splits[spk], quota = "valid", quota - 1
                taken.add(person[spk])
    for spk in total:
        if splits[spk] == "train" and person[spk] in taken:
            splits[spk] = "excluded"
    return splits


def held_out_splits(recordings: list[Recording], held_out: str = "default") -> dict[str, str]:
    """``speaker_splits`` (``"default"``) or ``wide_splits`` (``"wide"``); the wide split must hold at least
    ``WIDE_MIN_PEOPLE`` people in validation and test, else a one-line ``CourseError``."""
    if held_out not in HELD_OUT:
        raise CourseError(f"held_out must be one of {HELD_OUT}, got {held_out!r}")
    if held_out == "default":
        return speaker_splits(recordings)
    splits = wide_splits(recordings)
    for split, need in WIDE_MIN_PEOPLE.items():
        have = sum(v == split for v in splits.values())
        if have < need:
            raise CourseError(f"the wide split needs {need} {split} people with ≥ {WIDE_MIN_S:.0f} s each, "
                              f"found {have}; fetch all packages with `tasnet-edu fetch-speech`")
    return splits


# --------------------------------------------------------------------------- reading
def is_clipped(wav: np.ndarray) -> bool:
    """Whether more than ``CLIP_FRACTION`` of ``wav``'s samples are at full scale."""
    return float(np.mean(np.abs(wav) >= 0.999)) > CLIP_FRACTION


@lru_cache(maxsize=4096)
def read(path: Path, raw_gsm: bool, sample_rate: int = SAMPLE_RATE) -> np.ndarray | None:
    """A recording as float32 ``(time,)`` mono at ``sample_rate``; ``None``: unreadable, silent or clipped."""
    try:
        if raw_gsm:
            wav, sr = sf.read(str(path), dtype="float32", format="RAW", subtype="GSM610", samplerate=8000,
                              channels=1, always_2d=True)
        else:
            wav, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError):
        return None
    wav = wav.mean(axis=1)
    if wav.size == 0 or not np.isfinite(wav).all() or not np.any(wav) or is_clipped(wav):
        return None
    return resample(wav, sr, sample_rate)


def utterance(recs: list[Recording], seconds: float, rng: np.random.Generator,
              sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, list[str]]:
    """At least ``seconds`` of one speaker: random recordings of ``recs`` trimmed and joined by short pauses.

    Returns ``(wav (time,), files)``. Prompts and words are short, so most utterances join several; each pause
    is 0.1–0.4 s of silence (the mixture's noise floor fills it later). Unusable files are passed over.
    """
    pieces, files, length = [], [], 0
    for i in rng.permutation(len(recs)):
        rec = recs[int(i)]
        wav = read(rec.path, SOURCES[rec.source].raw_gsm, sample_rate)
        if wav is None:
            continue
        wav = trim_silence(wav, sample_rate, top_db=35.0, margin_s=0.03)
        if pieces:
            pieces.append(np.zeros(int(rng.uniform(0.1, 0.4) * sample_rate), np.float32))
        pieces.append(wav)
        files.append(rec.name)
        length += len(wav)
        if length >= seconds * sample_rate:
            break
    if not pieces:
        raise CourseError(f"no readable recording of speaker {recs[0].speaker}")
    wav = np.concatenate(pieces)
    return (wav / max(1e-9, float(np.abs(wav).max()))).astype(np.float32), files


def summary(recordings: list[Recording], splits: dict[str, str], persons: bool = False) -> dict:
    """Hours, files and licence per speaker and split, for the manifest and the README; ``persons`` adds
    each speaker's family and person (``person_of``), as the wide split records them."""
    out: dict[str, dict] = {}
    for rec in recordings:
        family = SOURCES[rec.source].family
        extra = {"family": family, "person": person_of(rec.speaker, family)} if persons else {}
        row = out.setdefault(rec.speaker, {"split": splits[rec.speaker], "files": 0, "seconds": 0.0,
                                           "sources": [], "licences": [], **extra})
        row["files"] += 1
        row["seconds"] = round(row["seconds"] + rec.seconds, 3)
        if rec.source not in row["sources"]:
            row["sources"].append(rec.source)
            row["licences"].append(SOURCES[rec.source].licence)
    return out
