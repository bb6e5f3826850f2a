"""Festival's voices, rendered into the natural-speech cache: more people for training.

The Debian packages of recordings (``natural``) hold about sixty speaker groups, most of them a few minutes of
single words. The Festival speech synthesis system (University of Edinburgh) adds twelve more people in six
languages. Its voices are not rules, as espeak's formants are, but units cut from one person's recordings:

- **diphone** voices (English kal and ked, Italian lp and pc, Finnish lj and mv, Czech dita, krb, machac,
  ph): every transition between two phones, recorded once and joined by residual-excited LPC, so the voice
  source is the person's, the rhythm and melody the synthesiser's;
- **unit selection** (Russian nsh, ``clunits``): longer stretches of the person's speech;
- **HTS** (Catalan ona): a statistical model of the person's voice, vocoded, as Pico is.

``render(cache)`` downloads Festival and the voices' Debian packages into ``cache/festival-engine`` (``apt-get
download`` + ``dpkg-deb -x``, no root), runs the ``festival`` binary from there, and writes every voice's
training sentences (``speech.sentence_splits(language)["train"]``, each at three speaking rates) into
``cache/festival-<voice>/`` as 8 kHz WAV files: the sources ``natural.SOURCES`` lists as ``festival-*``.
They are only ever training speakers, and ``make-data --festival`` adds them to the people; without it
nothing changes.

Reserved for judging the models and never rendered: every voice built from CMU ARCTIC speakers
(``festvox-us-slt-hts``, and flite's voices).

Example:
    >>> render("data/natural-cache")                   # doctest: +SKIP
    >>> natural.index("data/natural-cache", festival=True)  # the people, with the twelve voices
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from tasnet_edu import SAMPLE_RATE
from tasnet_edu.audio import resample
from tasnet_edu.data import natural, speech
from tasnet_edu.errors import CourseError

ENGINE = ("festival", "libestools2.5", "festlex-cmu", "festlex-poslex")  # the binary, its library, English
STRETCHES = (0.9, 1.0, 1.15)  # Festival's Duration_Stretch: each sentence at three speaking rates
TIMEOUT_S = 600  # one voice's sentences, in one festival process


@dataclass(frozen=True)
class Voice:
    """One Festival voice and what it needs.

    Args:
        name: the voice's name in Festival (selected with ``(voice_<name>)``).
        source: its ``natural.SOURCES`` name, ``festival-<short>``, which holds the licence.
        packages: the Debian packages of its units and its language (lexicon, text rules).
        language: the sentences it reads, ``speech.load_sentences(language)``.
        encoding: the text encoding its front end reads (the Latin voices predate UTF-8).
        index: a Scheme variable holding the path of its unit index, which the package hard-codes below
            ``/usr/share`` (the Czech voices): set to the cache's copy before the voice loads.
    """

    name: str
    source: str
    packages: tuple[str, ...]
    language: str
    encoding: str = "ascii"
    index: str = ""


def _czech(short: str) -> Voice:
    return Voice(f"czech_{short}", f"festival-cs-{short}", (f"festvox-czech-{short}", "festival-czech"), "cs",
                 "iso-8859-2", f"czech-{short}-unisyn-index:voices/czech/czech_{short}/group/{short}.group")


VOICES = {v.source: v for v in (
    Voice("kal_diphone", "festival-kal", ("festvox-kallpc16k",), "en"),
    Voice("ked_diphone", "festival-ked", ("festvox-kdlpc16k",), "en"),
    Voice("lp_diphone", "festival-lp", ("festvox-italp16k", "festlex-ifd"), "it", "latin-1"),
    Voice("pc_diphone", "festival-pc", ("festvox-itapc16k", "festlex-ifd"), "it", "latin-1"),
    Voice("suo_fi_lj_diphone", "festival-fi-lj", ("festvox-suopuhe-lj", "festvox-suopuhe-common"), "fi",
          "latin-1"),
    Voice("hy_fi_mv_diphone", "festival-fi-mv", ("festvox-suopuhe-mv", "festvox-suopuhe-common"), "fi",
          "latin-1"),
    *(_czech(short) for short in ("dita", "krb", "machac", "ph")),
    Voice("upc_ca_ona_hts", "festival-ca-ona", ("festvox-ca-ona-hts", "festival-ca"), "ca", "latin-1"),
    Voice("msu_ru_nsh_clunits", "festival-ru-nsh", ("festvox-ru",), "ru", "utf-8"),
)}


# --------------------------------------------------------------------------- the engine
def fetch_engine(cache, voices=None, log=print) -> Path:
    """``cache/festival-engine``: Festival and the packages of ``voices`` (default all) unpacked together.

    Done once; a later call with voices not yet in it unpacks everything again. Raises ``CourseError`` (one
    line) when the tools or a package cannot be had.
    """
    natural.require_debian_tools("rendering the Festival voices")
    root = Path(cache).expanduser().absolute() / "festival-engine"
    packages = sorted({*ENGINE, *(p for v in _chosen(voices) for p in v.packages)})
    marker = root / ".packages"
    if (root / ".complete").is_file() and marker.is_file():
        if set(packages) <= set(marker.read_text().split()):
            return root
    log(f"festival: fetching {len(packages)} Debian packages into {root}")
    err = natural.unpack(packages, root)
    if err:
        raise CourseError(f"festival: could not fetch {err}")
    marker.write_text("\n".join(packages) + "\n")
    return root


def _chosen(voices) -> list[Voice]:
    names = list(VOICES) if voices is None else list(voices)
    unknown = [n for n in names if n not in VOICES]
    if unknown:
        raise CourseError(f"unknown Festival voice(s) {unknown}; choose from {list(VOICES)}")
    return [VOICES[n] for n in names]


def _quote(text: str) -> str:
    """``text`` as a Scheme string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def script(voice: Voice, jobs: list[tuple[str, float, Path]], share: Path) -> str:
    """The Scheme program that speaks each ``(text, stretch, wav path)`` of ``jobs`` with ``voice``.

    A sentence Festival cannot speak leaves no file (``unwind-protect``), and the others go on.
    """
    lines = []
    if voice.index:
        var, rel = voice.index.split(":")
        lines.append(f"(set! {var} {_quote(str(share / rel))})")
    lines.append(f"(voice_{voice.name})")
    for text, stretch, out in jobs:
        lines.append(f"(Parameter.set 'Duration_Stretch {stretch})")
        save = f"(utt.save.wave (SynthText {_quote(text)}) {_quote(str(out))} 'riff)"
        lines.append(f"(unwind-protect {save} nil)")
    return "\n".join(lines) + "\n"


def _run(root: Path, voice: Voice, program: str, workdir: Path) -> subprocess.CompletedProcess:
    """Run ``festival -b`` on ``program`` from the unpacked ``root`` (its libraries, its data folder)."""
    share = root / "usr/share/festival"
    path = workdir / "speak.scm"
    path.write_bytes(program.encode(voice.encoding))
    env = {**os.environ, "LD_LIBRARY_PATH": os.pathsep.join(
        filter(None, [str(root / "usr/lib/x86_64-linux-gnu"), os.environ.get("LD_LIBRARY_PATH")]))}
    # cwd = the data folder: the Czech front end looks for its lexicon in "." and /usr/share/festival only
    return subprocess.run([str(root / "usr/bin/festival"), "--libdir", f"{share}/", "--datadir", f"{share}/",
                           "-b", str(path)], cwd=share, env=env, capture_output=True, timeout=TIMEOUT_S)


# --------------------------------------------------------------------------- rendering
def render_voice(root: Path, voice: Voice, cache: Path) -> tuple[int, int, float]:
    """Speak ``voice``'s training sentences into ``cache/<voice.source>/`` (marked complete only when done).

    Returns ``(files kept, files left out, seconds kept)``: a sentence that gives no file, a silent one or a
    clipped one (``natural.is_clipped``) is left out. Raises ``CourseError`` when Festival cannot run the
    voice at all.
    """
    if not (root / "usr/bin/festival").is_file():
        raise CourseError(f"no festival binary in {root}: delete that folder and render again")
    target = cache / voice.source
    texts = speech.sentence_splits(voice.language)["train"]
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        out = Path(tmp) / "x"
        out.mkdir()
        jobs = [(text, stretch, out / f"{i:04d}-{round(stretch * 100):03d}.wav")
                for i, text in enumerate(texts) for stretch in STRETCHES]
        try:
            done = _run(root, voice, script(voice, jobs, root / "usr/share/festival"), Path(tmp))
        except subprocess.TimeoutExpired:
            raise CourseError(f"festival: {voice.name} took more than {TIMEOUT_S} s") from None
        except OSError as err:  # no binary, or one this machine cannot run
            raise CourseError(f"festival: cannot run {err.filename or 'festival'} ({err.strerror})") from None
        seconds = [s for s in (_keep(path) for *_, path in jobs) if s is not None]
        kept = len(seconds)
        if kept == 0:
            said = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise CourseError(f"festival: {voice.name} spoke none of its {len(jobs)} sentences ({said[0]})")
        (out / ".complete").write_text(f"{voice.name}: {kept} of {len(jobs)} sentences\n")
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)
    return kept, len(jobs) - kept, sum(seconds)


def _keep(path: Path) -> float | None:
    """The length in seconds of a usable rendered file (there, not silent, not clipped), rewritten at the
    course's rate (16-bit at ``SAMPLE_RATE``: a third of Festival's 16–32 kHz); ``None``: deleted."""
    if path.is_file():
        wav, rate = sf.read(str(path), dtype="float32")
        if np.any(wav) and not natural.is_clipped(wav):
            wav = np.clip(resample(wav, rate, SAMPLE_RATE), -1, 1)
            sf.write(str(path), wav, SAMPLE_RATE, subtype="PCM_16")
            return len(wav) / SAMPLE_RATE
    path.unlink(missing_ok=True)
    return None


def render(cache, voices=None, log=print) -> list[str]:
    """Render ``voices`` (default all; names of ``VOICES``) into ``cache``; returns the sources now there.

    A voice already rendered (its ``.complete`` marker exists) is kept; one that fails is reported in one
    line and skipped.
    """
    cache = Path(cache).expanduser().absolute()  # festival runs in its data folder: no relative paths
    chosen = _chosen(voices)
    todo = [v for v in chosen if not (cache / v.source / ".complete").is_file()]
    root = fetch_engine(cache, [v.source for v in todo], log) if todo else None
    for voice in todo:
        try:
            kept, dropped, seconds = render_voice(root, voice, cache)
        except CourseError as err:
            log(f"skipped {voice.source}: {err}")
            continue
        log(f"{voice.source}: {kept} files, {seconds / 60:.1f} min, {dropped} left out")
    return [v.source for v in chosen if (cache / v.source / ".complete").is_file()]
