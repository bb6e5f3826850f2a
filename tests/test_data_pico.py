"""The optional SVOX Pico voices (``pip install -e ".[speech]"``): speakers, splits, synthesis, make-data.

Listing speakers, sentences and mixture plans needs no engine and always runs; what synthesises skips with a
reason where ``ttspico`` is not installed (CI), and the missing package is checked by hiding it.
"""

import json
import sys

import numpy as np
import pytest

from tasnet_edu import SAMPLE_RATE, cli
from tasnet_edu.data import WSJ0Mix, families, pico, plans, speech
from tasnet_edu.data.layout import legacy_group
from tasnet_edu.errors import CourseError


@pytest.fixture
def no_pico(monkeypatch):
    """``import ttspico`` fails, as where the extra is not installed."""
    monkeypatch.setitem(sys.modules, "ttspico", None)


def test_voices_are_split_disjointly_and_every_voice_has_speakers():
    voices = {s: {spk.group for spk in pico.list_speakers(s)} for s in pico.VOICE_SPLITS}
    assert voices["train"].isdisjoint(voices["valid"] | voices["test"])
    assert voices["valid"].isdisjoint(voices["test"])
    assert set().union(*voices.values()) == {f"pico/{v}" for v in pico.VOICES}
    assert len(pico.list_speakers()) == pico.PER_VOICE * len(pico.VOICES)
    assert len({spk.name for spk in pico.list_speakers()}) == len(pico.list_speakers())
    assert pico.list_speakers("test") == pico.list_speakers("test")  # no seed: the same on every call


def test_each_voice_has_held_out_sentences_in_its_own_language():
    for voice in pico.VOICES:
        language = voice.split("-")[0]
        splits = speech.sentence_splits(language)
        assert all(splits.values()), f"{language}: a split without sentences"
        assert not set(splits["train"]) & (set(splits["valid"]) | set(splits["test"]))
    assert "Tür" in " ".join(speech.load_sentences("de"))  # read as UTF-8


def talks(recipe, split, index, seed):
    return [source.talk for source in recipe.plan(split, index, seed).sources]


def test_pico_mixtures_pair_different_voices_or_an_espeak_voice_of_the_split():
    recipe = plans.Recipe("pico", plans.pairs("pico", pico=families.Pico()))  # plans need no package
    for index in range(20):
        train = talks(recipe, "train", index, 0)
        assert {t.kind for t in train} == {"pico"}
        assert train[0].group != train[1].group == legacy_group(train[1].speaker)
        test = talks(recipe, "test", index, 0)
        assert [t.kind for t in test] == ["pico", "espeak"]
        assert test[0].group == legacy_group(test[0].speaker) == "pico/en-GB"
    assert recipe.plan("valid", 3, seed=1) == recipe.plan("valid", 3, seed=1)


def test_all_keeps_its_people_when_pico_takes_part():
    people = families.People({"train": {f"person{i}": [] for i in range(4)}, "valid": {}, "test": {}}, {})
    plain = plans.Recipe("all", plans.pairs("all", people))
    mixed = plans.Recipe("all+pico", plans.pairs("all+pico", people, families.Pico()))
    for index in range(30):
        for was, now in zip(talks(plain, "train", index, 2), talks(mixed, "train", index, 2), strict=True):
            if was.kind == "natural":
                assert now == was
            else:
                assert now.kind in ("espeak", "pico")


def test_missing_package_gives_one_line(no_pico):
    needs = r'needs the PyPI package ttspico: pip install -e "\.\[speech\]"'
    with pytest.raises(CourseError, match=needs):
        pico.backend_info()
    with pytest.raises(CourseError, match=needs) as err:
        pico.synthesize("Hello there.", pico.list_speakers("test")[0])
    assert len(str(err.value).splitlines()) == 1


def test_make_data_pico_without_package_says_how_to_install_it(no_pico, tmp_path, capsys):
    args = ["make-data", "--out", str(tmp_path / "x"), "--n-test", "1", "--speech", "pico"]
    assert cli.main(args) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'pip install -e ".[speech]"' in err and "ttspico" in err
    assert list(tmp_path.iterdir()) == []


def test_all_never_uses_pico_and_all_plus_pico_needs_the_package(no_pico, tmp_path):
    """``all`` gives the same files with or without the extra; ``all+pico`` asks for it in one line."""
    with pytest.raises(CourseError, match="no natural speech"):  # past the package, at the empty cache
        plans.recipe("all", natural_cache=tmp_path)
    with pytest.raises(CourseError, match=r'needs the PyPI package ttspico: pip install -e "\.\[speech\]"'):
        plans.recipe("all+pico", natural_cache=tmp_path)


# --------------------------------------------------------------------------- with the extra installed
@pytest.fixture
def ttspico():
    return pytest.importorskip("ttspico", reason='needs the speech extra: pip install -e ".[speech]"')


def test_synthesis_is_8khz_speech_and_deterministic(ttspico):
    low, high = pico.list_speakers("train")[:2]  # the first is lowered toward a man's voice
    text = "The boat drifted slowly past the old wooden pier."
    wav = pico.synthesize(text, low)
    assert wav.dtype == np.float32 and wav.ndim == 1 and np.isfinite(wav).all()
    assert 1.0 < len(wav) / SAMPLE_RATE < 6.0  # a one-sentence utterance at 8 kHz
    assert np.sqrt(np.mean(wav**2)) > 0.02 and np.abs(wav).max() <= 1.0
    pico.synthesize("Something else first.", high)  # an engine's state must not carry over
    assert np.array_equal(pico.synthesize(text, low), wav)
    assert not np.array_equal(pico.synthesize(text, high)[: len(wav)], wav[: len(wav)])


def test_a_voice_reads_its_own_language(ttspico):
    german = next(s for s in pico.list_speakers("train") if s.voice == "de-DE")
    wav = pico.synthesize("Müller öffnet die große Tür.", german)
    assert len(wav) > 0.8 * SAMPLE_RATE and np.abs(wav).max() > 0.5


def test_make_data_pico_through_the_cli(ttspico, tmp_path, capsys):
    args = ["make-data", "--n-train", "2", "--n-valid", "1", "--n-test", "1", "--speech", "pico"]
    assert cli.main([*args, "--out", str(tmp_path / "a")]) == 0
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["speech"] == "pico" and manifest["pico"]["licence"].startswith("Apache-2.0")
    assert manifest["pico"]["voices"]["test"] == ["en-GB"]
    talkers = [m[k]["speaker"] for m in manifest["splits"]["tt"]["mixtures"] for k in ("s1", "s2")]
    assert {legacy_group(name) for name in talkers if name.startswith(pico.PREFIX)} == {"pico/en-GB"}
    mix, sources = WSJ0Mix(tmp_path / "a", "tr", segment=None)[0]
    assert (mix - sources.sum(0)).abs().max() < 1e-3
    assert cli.main([*args, "--out", str(tmp_path / "b")]) == 0  # the same command, the same files
    for name in ("tr/mix/00001.wav", "cv/s2/00000.wav", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
