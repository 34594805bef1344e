"""The voice recipe's bookkeeping: balance of the training draw, calibration and threshold."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from fakescope.train.voice import MAX_FALSE_ALARMS, MAX_MISSED, Corpus, _clip_weights, calibrate, fold_of
from fakescope.train.voice_corpus import Clip, Features


def _corpus(clips: list[Clip]) -> Corpus:
    empty = np.zeros((0, 4), np.float16)
    return Corpus(clips, Features(empty, empty, np.zeros(0, np.int32), np.zeros(0, np.int8)),
                  np.array([c.label for c in clips]))


def _clips() -> list[Clip]:
    out = []
    for k in range(30):
        for p in ("a", "b"):
            out.append(Clip(f"tts/{p}{k}", "tts", 0, "bonafide", f"page-{p}", f"tts:page-{p}",
                            f"x/bonafide/src-{p}/{k}.flac"))
        out.append(Clip(f"ls/{k}", "librispeech", 0, "bonafide", "librispeech", f"ls:{k % 5}"))
    for k in range(60):
        out.append(Clip(f"tts/s{k}", "tts", 1, "sysA" if k % 2 else "sysB", "page-a", "tts:page-a"))
    for k in range(200):
        out.append(Clip(f"p/{k}", "pseudo", 1, "tts:piper" if k % 4 else "resynth:world", "pseudo",
                        f"sent:{k % 7}"))
    return out


def test_the_draw_gives_half_to_real_speech_and_no_corpus_its_size() -> None:
    corpus = _corpus(_clips())
    w = _clip_weights(corpus, np.arange(len(corpus.clips)))
    lab = corpus.label
    assert w.sum() == pytest.approx(1.0)
    assert w[lab == 0].sum() == pytest.approx(0.5)
    # each real source alike (a demo page, LibriSpeech), each shared system alike
    def total(pred) -> float:  # type: ignore[no-untyped-def]
        return float(sum(w[i] for i, c in enumerate(corpus.clips) if pred(c)))

    page_a = total(lambda c: c.page == "page-a" and c.label == 0)
    assert page_a == pytest.approx(total(lambda c: c.corpus == "librispeech"))
    assert page_a == pytest.approx(total(lambda c: c.page == "page-b" and c.label == 0))
    assert total(lambda c: c.system == "sysA") == pytest.approx(total(lambda c: c.system == "sysB"))
    assert total(lambda c: c.corpus == "tts" and c.label == 1) == pytest.approx(0.25)


def test_every_page_is_a_fold_and_speakers_never_straddle() -> None:
    corpus = _corpus(_clips())
    folds = fold_of(corpus)
    assert corpus.pages == ["page-a", "page-b", "vc"]
    by_group: dict[str, set[int]] = {}
    for c, f in zip(corpus.clips, folds, strict=True):
        by_group.setdefault(c.group, set()).add(int(f))
    assert all(len(v) == 1 for v in by_group.values())
    assert all(f == -1 for c, f in zip(corpus.clips, folds, strict=True) if c.corpus == "pseudo")


def test_the_threshold_keeps_every_real_source_under_the_false_alarm_target() -> None:
    rng = np.random.default_rng(0)
    clips = _clips()
    corpus = _corpus(clips)
    oof = {}
    for i, c in enumerate(clips):
        if c.corpus == "pseudo":
            continue
        shift = {"src-a": 0.0, "src-b": 1.5}.get(c.file.split("/")[-2] if c.file else "", -1.0)
        oof[(i, 0)] = float(rng.normal(1.5 if c.label else shift, 1.0))
    (a, b), hi, lo = calibrate(corpus, oof)
    assert a > 0 and lo <= hi
    for src in ("src-a", "src-b"):
        s = np.array([oof[(i, 0)] for i, c in enumerate(clips) if (i, 0) in oof and c.label == 0
                      and f"/{src}/" in c.file])
        p = 1 / (1 + np.exp(-(a * s + b)))
        assert (p >= hi).mean() <= MAX_FALSE_ALARMS
    fakes = np.array([oof[(i, 0)] for i, c in enumerate(clips) if (i, 0) in oof and c.label == 1])
    assert (1 / (1 + np.exp(-(a * fakes + b))) < lo).mean() <= MAX_MISSED + 1e-9


def test_a_demo_page_family_is_a_fold_of_its_own_and_a_real_source_of_its_own(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from fakescope.train.voice import _real_source
    from fakescope.train.voice_corpus import list_pages

    (tmp_path / "labels.csv").write_text(
        "file,label,system,page,family,group,prompt,language,source,licence,non_commercial\n"
        "files/a.wav,real,bonafide,lab/x,fam1,fam1,,en,s,none,1\n"
        "files/b.wav,fake,clone-a,lab/x,fam1,fam1,,en,s,none,1\n"
        "files/c.wav,fake,sysA,lab/y,fam2,fam2,,en,s,none,1\n"
        "files/d.wav,real,bonafide,lab/y,fam2,fam2,,en,s,none,1\n")
    pages = list_pages(tmp_path)
    corpus = _corpus(_clips() + pages)
    assert corpus.pages == ["page-a", "page-b", "pages:fam1", "pages:fam2", "vc"]
    folds = fold_of(corpus)
    n = len(corpus.clips)
    assert [int(f) for f in folds[n - 4:]] == [2, 2, 3, 3]
    assert [c.system for c in pages] == ["bonafide", "clone-a", "sysA", "bonafide"]
    assert _real_source(pages[0]) == "pages:fam1" and _real_source(pages[3]) == "pages:fam2"
    # each family's reals weigh as one real source, like a shared page
    w = _clip_weights(corpus, np.arange(n))
    assert w[n - 4] == pytest.approx(float(sum(w[i] for i, c in enumerate(corpus.clips)
                                               if c.page == "page-a" and c.label == 0)))


def test_an_unknown_condition_is_refused_before_any_work() -> None:
    from fakescope.train.voice import VoiceConfig, condition_table

    with pytest.raises(ValueError, match="unknown conditions"):
        condition_table(VoiceConfig(), {}, ["MP3 32 kb/s", "white noise"])


def test_twins_and_kind_pairs_are_held_out_with_the_clip_they_were_made_from() -> None:
    from fakescope.train.voice import VoiceConfig, testable_clip

    base = _clips()
    reals = [c for c in base if c.label == 0]
    twins = [Clip(c.key + "#hifigan", "pseudo", 1, "resynth:hifigan", c.page, c.group) for c in reals]
    kinds = [Clip(c.key + "#" + m, "kind", 1, "kind:" + m, c.page, c.group)
             for c in reals for m in ("world", "world_prosody")]
    corpus = _corpus(base + twins + kinds)
    folds = fold_of(corpus)
    fold_of_key = dict(zip((c.key for c in corpus.clips), folds.tolist(), strict=True))
    for c in twins + kinds:
        assert fold_of_key[c.key] == fold_of_key[c.key.split("#")[0]] != -1
    # a twin weighs as a kind of pseudo-fake of its own, and nothing made here is ever scored as media
    w = _clip_weights(corpus, np.flatnonzero([c.corpus != "kind" for c in corpus.clips]))
    n_base = len(base)
    assert float(w[n_base : n_base + len(twins)].sum()) == pytest.approx(0.25 / 3)  # piper, resynth, hifigan
    assert not any(testable_clip(c) for c in twins + kinds)
    # the score head never learns from kind pairs; from twins only with --twins
    with_twins, without = corpus.scored(VoiceConfig(twins=True)), corpus.scored(VoiceConfig(twins=False))
    assert not with_twins[n_base + len(twins):].any() and with_twins[n_base : n_base + len(twins)].all()
    assert not without[n_base:].any() and without[:n_base].all()
