"""Natural speech from Debian packages and Festival's voices: indexing, speaker splits, bad files, rendering,
and mixtures made from it.

The tests build a fake package cache (the packages' folder layout, tone-like "speech" written by soundfile),
so they need neither apt-get nor the network; a stand-in for the ``festival`` binary writes the voices' files.
"""

import json
import subprocess

import numpy as np
import pytest
import soundfile as sf

from tasnet_edu import audio, cli
from tasnet_edu.data import DynamicMix, WSJ0Mix, families, festival, make_mixtures, natural, plans, speech
from tasnet_edu.errors import CourseError

AST = "usr/share/asterisk/sounds"


def _voice(seconds: float, f0: float, sr: int, seed: int) -> np.ndarray:
    """A buzzy harmonic tone with syllable-rate gaps: enough structure to read, trim and mix."""
    t = np.arange(int(seconds * sr)) / sr
    wav = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    gate = (np.sin(2 * np.pi * 3.0 * t + seed) > -0.3).astype(float)
    return (0.3 * wav * gate / np.abs(wav).max()).astype(np.float32)


def _package(cache, name, files):
    for rel, wav, sr in files:
        path = cache / name / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, wav, sr)
    (cache / name / ".complete").write_text("fake\n")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """Four Asterisk voices (one in two packages), Tux Paint in four languages plus a sound effect."""
    monkeypatch.setattr(natural, "MIN_HELD_OUT_S", 5.0)
    natural.read.cache_clear()
    root = tmp_path / "cache"
    voices = {"asterisk-core-sounds-en-wav": "en_US_f_Allison",
              "asterisk-core-sounds-es-wav": "es_MX_f_Allison", "asterisk-core-sounds-fr-wav": "fr_CA_f_June",
              "asterisk-core-sounds-it-wav": "it_IT_m_Carlo",
              "asterisk-core-sounds-ru-wav": "ru_RU_f_IvrvoiceRU"}
    for i, (pkg, folder) in enumerate(voices.items()):
        files = [(f"{AST}/{folder}/p{k}.wav", _voice(1.5, 110 + 40 * i, 8000, k), 8000) for k in range(4)]
        files.append((f"{AST}/{folder}/silence/1.wav", np.zeros(8000, np.float32), 8000))
        _package(root, pkg, files)
    tux = "usr/share/tuxpaint/stamps/animals"
    _package(root, "tuxpaint-stamps-default", [
        (f"{tux}/cat_desc_fr.ogg", _voice(6.0, 200, 22050, 1), 22050),
        (f"{tux}/cat_desc.ogg", _voice(6.0, 150, 22050, 2), 22050),
        (f"{tux}/cat_desc_ro.ogg", _voice(6.0, 230, 22050, 4), 22050),
        (f"{tux}/dog_desc_da.ogg", _voice(2.0, 180, 22050, 5), 22050),
        (f"{tux}/cat.ogg", _voice(2.0, 900, 22050, 3), 22050),  # the stamp's sound effect, not speech
    ])
    return root


def test_index_finds_speakers_and_leaves_out_silence_and_effects(cache):
    recordings = natural.index(cache, log=lambda _: None)
    speakers = {r.speaker for r in recordings}
    assert speakers == {"asterisk/Allison", "asterisk/June", "asterisk/Carlo", "asterisk/IvrvoiceRU",
                        "tuxpaint/fr", "tuxpaint/en", "tuxpaint/ro", "tuxpaint/da"}
    assert not any("silence" in r.path.parts or r.path.name == "cat.ogg" for r in recordings)
    allison = [r for r in recordings if r.speaker == "asterisk/Allison"]
    assert {r.source for r in allison} == {"asterisk-core-sounds-en-wav", "asterisk-core-sounds-es-wav"}


def test_corrupt_files_are_skipped_and_counted_missing_packages_named(cache):
    bad = cache / "asterisk-core-sounds-fr-wav" / AST / "fr_CA_f_June" / "broken.wav"
    bad.write_bytes(b"RIFF not really a wave file")
    lines = []
    recordings = natural.index(cache, log=lines.append)
    assert bad not in {r.path for r in recordings}
    assert any("skipped 1 unreadable file" in line for line in lines)
    assert any("fillets-ng-data-cs" in line and "tasnet-edu fetch-speech" in line for line in lines)


def test_a_speaker_whose_files_are_all_clipped_is_left_out(cache):
    folder = cache / "asterisk-core-sounds-ru-wav" / AST / "ru_RU_f_IvrvoiceRU"
    for path in folder.glob("p*.wav"):
        sf.write(path, np.clip(_voice(1.5, 300, 8000, 0) * 20, -1, 1), 8000)
    lines = []
    speakers = {r.speaker for r in natural.index(cache, log=lines.append)}
    assert "asterisk/IvrvoiceRU" not in speakers
    assert any("left out asterisk/IvrvoiceRU" in line for line in lines)


def test_speaker_splits_are_disjoint_stable_and_hold_out_only_big_speakers(cache):
    recordings = natural.index(cache, log=lambda _: None)
    splits = natural.speaker_splits(recordings)
    assert splits == natural.speaker_splits(list(reversed(recordings)))
    held = [spk for spk, split in splits.items() if split != "train"]
    # Two families with three or more big speakers: two valid and one test speaker from each.
    assert sorted(splits[s] for s in held) == ["test", "test", "valid", "valid", "valid", "valid"]
    # Tux Paint's Danish speaker has 2 s, under the (test-sized) 5 s minimum: it trains.
    assert splits["tuxpaint/da"] == "train"


def test_utterance_joins_recordings_of_one_speaker_to_the_length_asked(cache):
    recs = [r for r in natural.index(cache, log=lambda _: None) if r.speaker == "asterisk/June"]
    wav, files = natural.utterance(recs, 3.0, np.random.default_rng(0))
    assert len(wav) >= 3.0 * 8000 and len(files) >= 2 and np.abs(wav).max() == pytest.approx(1.0)


def test_natural_mixtures_have_the_wsj0_layout_and_held_out_speakers(cache, tmp_path):
    out = make_mixtures(tmp_path / "real", 4, 3, 3, seed=0, speech_kind="natural", natural_cache=cache,
                        progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["speech"] == "natural"
    by_split = {d: {m[k]["speaker"] for m in info["mixtures"] for k in ("s1", "s2")}
                for d, info in manifest["splits"].items()}
    held = {s: v["split"] for s, v in manifest["natural_speakers"].items()}
    for folder, split in (("tr", "train"), ("cv", "valid"), ("tt", "test")):
        assert by_split[folder] and all(held[s] == split for s in by_split[folder])
    mix, sources = WSJ0Mix(out, "cv", segment=None)[0]
    assert torch_close(mix, sources.sum(0))
    first = manifest["splits"]["tr"]["mixtures"][0]["s1"]
    assert first["kind"] == "natural" and first["files"] and 0.9 <= first["speed"] <= 1.1
    assert first["group"] == first["speaker"] and first["level"] == "active"  # a person is its own group


def torch_close(a, b) -> bool:
    return bool((a - b).abs().max() < 1e-3)


def test_all_mixes_people_with_espeak_voices(cache, tmp_path):
    out = make_mixtures(tmp_path / "all", 12, 0, 0, seed=0, speech_kind="all", natural_cache=cache,
                        progress=False)
    kinds = [(m["s1"]["kind"], m["s2"]["kind"])
             for m in json.loads((out / "manifest.json").read_text())["splits"]["tr"]["mixtures"]]
    assert {"natural", "espeak"} <= {k for pair in kinds for k in pair}
    train = DynamicMix(out, "tr", segment=1.0, level="active")
    records = [m[k] for m in json.loads((out / "manifest.json").read_text())["splits"]["tr"]["mixtures"]
               for k in ("s1", "s2")]
    assert {spk for _, spk in train.pool} == {r["group"] for r in records}  # the groups as recorded
    assert len({spk for _, spk in train.pool}) > 2
    mix, sources = train[0]
    assert sources.shape == (2, 8000) and torch_close(mix, sources.sum(0))


def test_people_by_seconds_draws_people_in_proportion_to_what_they_recorded(cache):
    train = families.People.from_cache(cache, log=lambda _: None).pool["train"]
    seconds = {name: sum(r.seconds for r in recs) for name, recs in train.items()}
    assert max(seconds.values()) > 2.5 * min(seconds.values())  # the fixture's speakers differ enough

    def shares(people_by):
        people = families.People.from_cache(cache, log=lambda _: None, people_by=people_by)
        recipe = plans.Recipe("natural", plans.pairs("natural", people))
        drawn = [recipe.plan("train", i, 0).sources[0].talk.speaker for i in range(3000)]
        return {name: drawn.count(name) / len(drawn) for name in train}

    total = sum(seconds.values())
    by_seconds, by_speaker = shares("seconds"), shares("speaker")
    for name in train:  # s1 is the first draw, so its odds are exactly the weights (3000 draws: ±0.03)
        assert by_seconds[name] == pytest.approx(seconds[name] / total, abs=0.03)
        assert by_speaker[name] == pytest.approx(1 / len(train), abs=0.03)
    with pytest.raises(CourseError, match="people_by"):
        make_mixtures(cache.parent / "x", 1, 0, 0, speech_kind="natural", natural_cache=cache,
                      people_by="words")


def test_make_data_natural_needs_a_cache_and_says_how_to_fill_it(tmp_path, capsys):
    assert cli.main(["make-data", "--out", str(tmp_path / "x"), "--n-test", "2", "--speech", "natural"]) == 1
    assert "--natural-cache" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    args = ["make-data", "--out", str(tmp_path / "y"), "--n-test", "2", "--speech", "natural",
            "--natural-cache", str(empty)]
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert "no natural speech" in err and "tasnet-edu fetch-speech" in err
    assert not (tmp_path / "y").exists()


def test_fetch_without_apt_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(natural.shutil, "which", lambda tool: None)
    with pytest.raises(CourseError, match="apt-get"):
        natural.fetch(tmp_path)
    monkeypatch.undo()
    with pytest.raises(CourseError, match="unknown natural-speech package"):
        natural.fetch(tmp_path, ["not-a-package"])


def test_active_rms_ignores_pauses():
    speech_part = _voice(1.0, 150, 8000, 0)
    with_pause = np.concatenate([speech_part, np.zeros(8000, np.float32)])
    plain = float(np.sqrt(np.mean(with_pause**2)))
    assert audio.active_rms(with_pause, 8000) == pytest.approx(audio.active_rms(speech_part, 8000), rel=0.05)
    assert audio.active_rms(with_pause, 8000) > 1.3 * plain


# --------------------------------------------------------------------------- Festival's voices
def _rendered(cache, name: str, seconds: float = 8.0) -> None:
    """A fake Festival voice rendered into ``cache`` (``festival.render``'s layout: WAVs at the root)."""
    _package(cache, name, [(f"{i:04d}-100.wav", _voice(seconds / 2, 120 + 30 * i, 16000, i), 16000)
                           for i in range(2)])


def test_festival_voices_are_read_only_when_asked_and_only_train(cache, tmp_path):
    with pytest.raises(CourseError, match="no Festival voices in .*tasnet-edu render-festival"):
        make_mixtures(tmp_path / "n", 1, 0, 0, speech_kind="all", natural_cache=cache, festival=True,
                      progress=False)
    names = ("festival-kal", "festival-ked", "festival-lp")  # three voices of 8 s: held out, were they people
    for name in names:
        _rendered(cache, name)
    without = natural.index(cache, log=lambda _: None)
    assert not any(r.source in names for r in without)
    with_voices = natural.index(cache, log=lambda _: None, festival=True)
    splits = natural.speaker_splits(with_voices)
    voices = {natural.SOURCES[name].speaker for name in names}
    assert voices <= set(splits) and all(splits[v] == "train" for v in voices)
    assert {s: v for s, v in splits.items() if s not in voices} == natural.speaker_splits(without)

    out = make_mixtures(tmp_path / "f", 24, 0, 0, seed=0, speech_kind="natural", natural_cache=cache,
                        festival=True, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["festival"] is True
    kal = manifest["natural_speakers"]["festival/kal"]
    assert kal["split"] == "train" and kal["licences"] == [natural.SOURCES["festival-kal"].licence]
    used = {m[k]["speaker"] for m in manifest["splits"]["tr"]["mixtures"] for k in ("s1", "s2")}
    assert used & voices
    with pytest.raises(CourseError, match="--festival"):
        make_mixtures(tmp_path / "e", 1, 0, 0, festival=True, progress=False)


def test_festival_sources_are_not_debian_packages(tmp_path):
    with pytest.raises(CourseError, match="render-festival"):
        natural.fetch(tmp_path, ["festival-kal"])
    assert set(festival.VOICES) == {n for n, s in natural.SOURCES.items() if s.rendered}
    with pytest.raises(CourseError, match="unknown Festival voice"):
        festival.render(tmp_path, ["festival-slt"])


def test_festival_script_sets_the_voice_quotes_the_text_and_reads_its_encoding(tmp_path):
    voice = festival.VOICES["festival-cs-dita"]
    program = festival.script(voice, [('Řekl "ne" \\ a šel.', 1.15, tmp_path / "a.wav")], tmp_path / "share")
    index = tmp_path / "share/voices/czech/czech_dita/group/dita.group"
    assert f'(set! czech-dita-unisyn-index "{index}")' in program
    assert "(voice_czech_dita)" in program and "(Parameter.set 'Duration_Stretch 1.15)" in program
    assert '(SynthText "Řekl \\"ne\\" \\\\ a šel.")' in program
    assert "Ř".encode(voice.encoding) in program.encode(voice.encoding)  # Czech reads ISO-8859-2
    for v in festival.VOICES.values():  # every voice's sentences are written in what its front end reads
        assert "\n".join(speech.load_sentences(v.language)).encode(v.encoding)  # raises if it cannot


def _fake_festival(skip: set[int]):
    """A stand-in for ``festival._run``: writes a tone for each sentence, a clipped one for the first, and no
    file for the sentence numbers in ``skip``."""
    import re

    def run(root, voice, program, workdir):
        outs = re.findall(r"\(SynthText \".*?\"\) \"(.*?)\" 'riff\)", program)
        for i, out in enumerate(outs):
            if i not in skip:
                wav = _voice(1.0, 150, 16000, i) * (20 if i == 0 else 1)
                sf.write(out, np.clip(wav, -1, 1), 16000)
        return subprocess.CompletedProcess([], 0, b"", b"SIOD ERROR: no voice")
    return run


def test_festival_render_keeps_good_files_and_leaves_nothing_complete_when_it_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(festival, "fetch_engine", lambda cache, voices, log: tmp_path / "engine")
    lines = []  # first with no festival binary in the engine folder
    assert festival.render(tmp_path, ["festival-pc"], log=lines.append) == []
    engine = tmp_path / "engine"
    assert lines == [f"skipped festival-pc: no festival binary in {engine}: delete that folder and render "
                     "again"]
    (tmp_path / "engine/usr/bin").mkdir(parents=True)
    (tmp_path / "engine/usr/bin/festival").touch()
    monkeypatch.setattr(festival, "_run", _fake_festival(skip={1}))
    voice = festival.VOICES["festival-pc"]
    jobs = len(speech.sentence_splits("it")["train"]) * len(festival.STRETCHES)
    lines.clear()
    assert festival.render(tmp_path, ["festival-pc"], log=lines.append) == ["festival-pc"]
    assert len(list((tmp_path / voice.source).glob("*.wav"))) == jobs - 2  # the clipped and the missing one
    assert lines == [f"festival-pc: {jobs - 2} files, {(jobs - 2) / 60:.1f} min, 2 left out"]

    monkeypatch.setattr(festival, "_run", _fake_festival(skip=set(range(jobs))))
    lines.clear()
    assert festival.render(tmp_path, ["festival-pc", "festival-lp"], log=lines.append) == ["festival-pc"]
    assert lines == [f"skipped festival-lp: festival: lp_diphone spoke none of its {jobs} sentences "
                     "(SIOD ERROR: no voice)"]
    assert not (tmp_path / "festival-lp").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["engine", "festival-pc"]  # no temporary folder left


# --------------------------------------------------------------------------- the wide held-out split
@pytest.fixture
def wide_cache(cache, monkeypatch):
    """``cache`` plus word-list voices: KLettres and KTuberling in several languages, some sharing one with
    another set (Danish in all three families, Serbian twice in KTuberling)."""
    monkeypatch.setattr(natural, "WIDE_MIN_S", 1.0)
    klettres = ("de", "it", "pl", "sv", "da", "cs")
    ktuberling = ("nn", "pt_BR", "sr", "sr@latin", "da", "gl", "sl", "fi")
    _package(cache, "klettres-data", [
        (f"usr/share/klettres/{lang}/alpha/{k}.ogg", _voice(1.0, 120 + 9 * i, 16000, k), 16000)
        for i, lang in enumerate(klettres) for k in range(2)])
    _package(cache, "ktuberling-data", [
        (f"usr/share/ktuberling/sounds/{lang}/w{k}.ogg", _voice(1.0, 140 + 7 * i, 16000, k), 16000)
        for i, lang in enumerate(ktuberling) for k in range(2)])
    return cache


def _persons(splits: dict[str, str]) -> dict[str, set[str]]:
    family = {spk: spk.split("/")[0] for spk in splits}
    out: dict[str, set[str]] = {}
    for spk, split in splits.items():
        out.setdefault(natural.person_of(spk, family[spk]), set()).add(split)
    return out


def test_person_of_joins_one_languages_volunteers_only():
    serbian = natural.person_of("ktuberling/sr@latin", "ktuberling")
    assert serbian == natural.person_of("klettres/sr", "klettres") == "volunteer/sr"
    assert natural.person_of("klettres/pt_BR", "klettres") == "volunteer/pt"
    assert natural.person_of("asterisk/Carlo", "asterisk") == "asterisk/Carlo"
    assert natural.person_of("fillets/nl", "fillets") != natural.person_of("tuxpaint/nl", "tuxpaint")


def test_wide_split_holds_out_ten_people_and_the_old_test_and_trains_on_none_of_them(wide_cache):
    recordings = natural.index(wide_cache, log=lambda _: None)
    splits = natural.held_out_splits(recordings, "wide")
    assert splits == natural.held_out_splits(list(reversed(recordings)), "wide")
    default = natural.speaker_splits(recordings)
    # The test people are the ones the default split held out: no shipped model trained on them.
    assert {s for s, v in splits.items() if v == "test"} == {s for s, v in default.items() if v != "train"}
    valid = {s for s, v in splits.items() if v == "valid"}
    assert len(valid) >= 10 and len({s.split("/")[0] for s in valid}) >= 3
    for person, held in _persons(splits).items():  # one person, one split (or left out altogether)
        assert len(held - {"excluded"}) <= 1, (person, held)
        assert not ({"valid", "test"} & held and "train" in held), person
    assert any(v == "excluded" for v in splits.values())  # Danish word lists: maybe the Tux Paint voice
    assert splits["klettres/da"] == splits["ktuberling/da"] == "excluded"


def test_wide_split_says_when_there_are_too_few_people(cache):
    with pytest.raises(CourseError, match="wide split needs 10 valid people"):
        natural.held_out_splits(natural.index(cache, log=lambda _: None), "wide")
    with pytest.raises(CourseError, match="held_out"):
        natural.held_out_splits([], "narrow")


def test_wide_mixtures_record_each_person_and_never_train_on_held_out_people(wide_cache, tmp_path):
    out = make_mixtures(tmp_path / "w", 20, 6, 6, seed=0, speech_kind="natural", natural_cache=wide_cache,
                        held_out="wide", progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    people = manifest["natural_speakers"]
    assert manifest["held_out"] == "wide"
    row = people["klettres/de"]
    assert {"split", "family", "person", "seconds", "sources"} <= set(row) and row["family"] == "klettres"
    for folder, split in (("tr", "train"), ("cv", "valid"), ("tt", "test")):
        used = {m[k]["speaker"] for m in manifest["splits"][folder]["mixtures"] for k in ("s1", "s2")}
        assert used and all(people[s]["split"] == split for s in used), folder
    held = {people[s]["person"] for s in people if people[s]["split"] in ("valid", "test", "excluded")}
    trained = {people[s]["person"] for s in people if people[s]["split"] == "train"}
    assert not held & trained
    default = make_mixtures(tmp_path / "d", 2, 0, 0, seed=0, speech_kind="natural", natural_cache=wide_cache,
                            progress=False)
    assert "held_out" not in json.loads((default / "manifest.json").read_text())


def test_partial_overlap_and_wide_levels_with_people(cache, tmp_path):
    out = make_mixtures(tmp_path / "p", 0, 6, 6, seed=0, speech_kind="natural", natural_cache=cache,
                        overlap="partial", max_db=10.0, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["overlap"]["mode"] == "partial" and manifest["max_db"] == 10.0
    for folder in ("cv", "tt"):
        for plan in manifest["splits"][folder]["mixtures"]:
            (mix, _), (s1, _), (s2, _) = (sf.read(out / folder / sub / plan["file"], dtype="int16")
                                          for sub in ("mix", "s1", "s2"))
            assert np.array_equal(mix.astype(np.int32), s1.astype(np.int32) + s2)
            assert plan["overlap"]["partial"] and 0 < plan["overlap_s"] < plan["seconds"]
            assert min(plan["offsets"]) == 0
            for s, offset in ((s1, plan["offsets"][0]), (s2, plan["offsets"][1])):
                assert not s[:offset].any()  # silence before the talker starts
            assert 0.0 <= plan["relative_db"] <= 10.0


def test_pseudo_speakers_change_training_people_only(cache, tmp_path):
    args = dict(seed=3, speech_kind="natural", natural_cache=cache, progress=False)
    plain = make_mixtures(tmp_path / "plain", 3, 2, 2, **args)
    pseudo = make_mixtures(tmp_path / "pseudo", 3, 2, 2, pseudo_speakers=True, **args)
    manifest = json.loads((pseudo / "manifest.json").read_text())
    assert manifest["pseudo_speakers"]["splits"] == ["train"]
    for m in manifest["splits"]["tr"]["mixtures"]:
        assert {"formant", "pitch"} == set(m["s1"]["voice"]) == set(m["s2"]["voice"])
    for folder in ("cv", "tt"):  # validation and test: the same bytes as without pseudo-speakers
        assert not any("voice" in m[k] for m in manifest["splits"][folder]["mixtures"] for k in ("s1", "s2"))
        for path in sorted((plain / folder).rglob("*.wav")):
            assert path.read_bytes() == (pseudo / path.relative_to(plain)).read_bytes(), path
    assert (plain / "tr/s1/00000.wav").read_bytes() != (pseudo / "tr/s1/00000.wav").read_bytes()
    with pytest.raises(CourseError, match="pseudo-speakers"):
        make_mixtures(tmp_path / "e", 1, 0, 0, pseudo_speakers=True, progress=False)
