"""The voice model's trace kinds and the vocoder twins: known truth on generated audio and toy corpora.

- kind pairs differ in one kind of trace only (pitch movement, or spectral envelope);
- the kind heads, folded into the model, give the logits they were fitted to give;
- pairs, twins and cached features are picked and reused by exact rules;
- the report turns the kinds' logits into calibrated probabilities.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from fakescope.analyzers.voice_traces import kind_probabilities
from fakescope.demo_audio import speechlike
from fakescope.models.card import Calibration, TraceKind


def _f0_semitones(x: np.ndarray) -> np.ndarray:
    from fakescope.synth.voice import world_analysis

    f0, _, _ = world_analysis(x)
    return 12 * np.log2(f0[f0 > 0] / 100.0)


def test_kind_pairs_change_pitch_movement_and_keep_the_pitch_otherwise() -> None:
    pytest.importorskip("pyworld")
    from fakescope.synth.voice import kind_pairs

    x = speechlike(4.0, seed=11)
    pairs = kind_pairs(x, np.random.default_rng(0))
    assert set(pairs) == {"world", "world_prosody", "world_spectrum"}
    assert all(len(v) == len(x) for v in pairs.values())
    rms = np.sqrt(np.mean(x.astype(np.float64) ** 2))
    assert all(abs(np.sqrt(np.mean(v.astype(np.float64) ** 2)) / rms - 1) < 0.02 for v in pairs.values())
    ref, pros, spec = (_f0_semitones(pairs[k]) for k in ("world", "world_prosody", "world_spectrum"))

    def spread(st: np.ndarray) -> float:  # interquartile range: re-analysis adds a few octave errors
        return float(np.percentile(st, 75) - np.percentile(st, 25))

    assert spread(pros) < 0.6 * spread(ref)
    assert abs(np.median(spec) - np.median(ref)) < 0.5
    assert abs(spread(spec) - spread(ref)) < 0.15 * spread(ref)


def test_tts_like_pitch_is_smooth_narrow_and_keeps_unvoiced_frames() -> None:
    from fakescope.synth.voice import tts_like_pitch

    rng = np.random.default_rng(0)
    t = np.arange(400)
    f0 = 120 * 2 ** ((4 * np.sin(t / 40) + rng.normal(0, 0.5, 400)) / 12)  # melody + jitter
    f0[150:180] = 0.0
    out = tts_like_pitch(f0, 0.5)
    assert np.array_equal(out == 0, f0 == 0)
    st, st_out = 12 * np.log2(f0[f0 > 0]), 12 * np.log2(out[out > 0])
    assert np.std(st_out) < 0.6 * np.std(st)
    assert np.mean(np.abs(np.diff(st_out))) < 0.2 * np.mean(np.abs(np.diff(st)))  # micro-prosody gone


def test_tts_like_envelope_moves_less_and_has_less_fine_detail() -> None:
    pytest.importorskip("pyworld")
    from fakescope.synth.voice import tts_like_envelope

    rng = np.random.default_rng(0)
    bins = np.arange(513)
    frames = [np.exp(-((bins - 60 - 30 * np.sin(k / 5)) / 25.0) ** 2) + 0.05 * rng.random(513) + 1e-3
              for k in range(100)]
    sp = np.stack(frames)
    out = tts_like_envelope(sp, 20)
    assert out.shape == sp.shape and np.all(out > 0)
    ls, lo = np.log(sp), np.log(out)
    assert np.mean(np.abs(np.diff(lo, axis=0))) < 0.5 * np.mean(np.abs(np.diff(ls, axis=0)))
    assert np.mean(np.abs(np.diff(lo, 2, axis=1))) < 0.5 * np.mean(np.abs(np.diff(ls, 2, axis=1)))


def test_folded_kind_heads_give_the_logits_they_were_fitted_to_give() -> None:
    torch = pytest.importorskip("torch")
    from fakescope.train.voice import KindHeads
    from fakescope.train.voice_kinds import linear_logits

    rng = np.random.default_rng(0)
    heads = [(rng.normal(size=16), rng.uniform(0.5, 2, 16), rng.normal(size=16), float(rng.normal()))
             for _ in range(3)]
    x = rng.normal(size=(5, 16))
    with torch.no_grad():
        got = KindHeads(heads)(torch.from_numpy(x.astype(np.float32))).numpy()
    want = np.stack([linear_logits(h, x) for h in heads], 1)
    assert np.allclose(got, want, atol=1e-4)


def _toy_corpus(systems: list[str], windows_per_clip: int = 2) -> SimpleNamespace:
    clips = [SimpleNamespace(system=s, corpus="kind" if s.startswith("kind:") else
                             "pseudo" if s.startswith("resynth:") else "pages", label=int(s != "bonafide"))
             for s in systems]
    clip = np.repeat(np.arange(len(clips)), windows_per_clip)
    labels = np.array([c.label for c in clips])
    return SimpleNamespace(clips=clips, feats=SimpleNamespace(clip=clip), label=labels)


def test_each_kind_learns_from_its_own_pairs_only() -> None:
    from fakescope.train.voice_kinds import pair_rows

    systems = ["bonafide", "resynth:hifigan", "resynth:hifigan_tokens", "resynth:world", "f5-tts",
               "kind:world", "kind:world_prosody", "kind:world_spectrum"]
    corpus = _toy_corpus(systems)
    picked = {}
    for kind in ("vocoder", "prosody", "spectrum"):
        rows, y = pair_rows(corpus, kind)
        clips = corpus.feats.clip[rows]
        picked[kind] = {systems[c]: int(v) for c, v in zip(clips, y, strict=True)}
    assert picked["vocoder"] == {"bonafide": 0, "resynth:hifigan": 1, "resynth:hifigan_tokens": 1}
    assert picked["prosody"] == {"kind:world": 0, "kind:world_prosody": 1}
    assert picked["spectrum"] == {"kind:world": 0, "kind:world_spectrum": 1}


def test_cached_features_are_reused_only_for_a_true_prefix(tmp_path: Path) -> None:
    from fakescope.train.voice_corpus import CORPUS_VERSION, Clip, cached_prefix

    def clip(k: str) -> Clip:
        return Clip(k, "pages", 0, "bonafide", "p", "g")

    old = [clip("a"), clip("b")]
    (tmp_path / f"clips-v{CORPUS_VERSION}-x.json").write_text(json.dumps([{"key": c.key} for c in old]))
    (tmp_path / "feat-2.npz").write_bytes(b"")
    assert cached_prefix([*old, clip("c")], tmp_path, "feat") == (tmp_path / "feat-2.npz", 2)
    assert cached_prefix([clip("b"), clip("a"), clip("c")], tmp_path, "feat") is None  # order matters
    assert cached_prefix(old, tmp_path, "feat") is None  # the same list is not a prefix to extend
    assert cached_prefix([*old, clip("c")], tmp_path, "other") is None  # no features of that kind


def test_kind_probabilities_are_calibrated_columns() -> None:
    kinds = [TraceKind(name="vocoder", column=1, calibration=Calibration(a=2.0, b=-1.0), trained_on="x"),
             TraceKind(name="prosody", column=2, calibration=Calibration(a=1.0, b=0.0), trained_on="x"),
             TraceKind(name="spectrum", column=5, calibration=Calibration(), trained_on="x")]
    p = kind_probabilities(np.array([3.0, 0.5, -2.0]), kinds)
    assert set(p) == {"vocoder", "prosody"}  # a column the model lacks is no kind
    assert p["vocoder"] == pytest.approx(0.5, abs=1e-4) and p["prosody"] == pytest.approx(0.1192, abs=1e-4)


def test_vocoder_front_end_and_codebook() -> None:
    pytest.importorskip("scipy")
    from fakescope.synth.vocoder import FMAX, N_MELS, VOC_RATE, _mel_filters, kmeans, log_mel, resample

    t = np.arange(VOC_RATE) / VOC_RATE
    mel = log_mel(np.sin(2 * np.pi * 1000 * t).astype(np.float32))
    assert mel.shape == (N_MELS, VOC_RATE // 256)  # HiFi-GAN frames: one per hop
    centres = (_mel_filters() * np.linspace(0, VOC_RATE / 2, 513)).sum(1) / _mel_filters().sum(1)
    assert abs(centres[int(np.argmax(mel.mean(1)))] - 1000) < 100  # the tone lands in its band
    assert centres[-1] < FMAX
    assert len(resample(np.zeros(16000, np.float32), 16000, VOC_RATE)) == VOC_RATE
    rng = np.random.default_rng(0)
    blobs = np.concatenate([rng.normal(0, 0.1, (200, 2)), rng.normal(5, 0.1, (200, 2))]).astype(np.float32)
    c = kmeans(blobs, 2, seed=1)
    assert sorted(np.round(c[:, 0]).tolist()) == [0.0, 5.0]
