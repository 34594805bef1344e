"""The speaker encoder (issue 31): Resemblyzer's front end in numpy and its network as ONNX.

Parity with Resemblyzer itself needs torch and is measured by
research/speaker_encoder_parity.py; these tests hold the pieces that can be checked here."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from fakescope.people import voice_id
from fakescope.people.voice_id import SpeakerEncoder, similarity


def voiced(seconds: float = 3.0, f0: float = 120.0, seed: int = 0, rate: int = 16000) -> np.ndarray:
    """A voice-like signal: a gliding harmonic source, loudness moving at syllable rate."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    pitch = f0 * (1 + 0.15 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, int(7000 / (f0 * 1.2))))
    syllables = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t)
    x = x * syllables + 0.01 * rng.standard_normal(len(t))
    return (0.1 * x / np.abs(x).max()).astype(np.float32)


@pytest.fixture(scope="module")
def encoder() -> SpeakerEncoder:
    return SpeakerEncoder()


def test_card_matches_the_weights(encoder: SpeakerEncoder) -> None:
    from fakescope.models import load_card, models_dir

    card = load_card("speaker")
    path = models_dir("speaker") / card.file
    assert hashlib.sha256(path.read_bytes()).hexdigest() == card.sha256
    assert card.input.kind == "audio" and card.input.size == 40 and card.input.sample_rate == 16000
    assert encoder.card == card


def test_embedding_is_a_deterministic_unit_vector(encoder: SpeakerEncoder) -> None:
    x = voiced()
    a, b = encoder.embed(x, 16000), encoder.embed(x.copy(), 16000)
    assert a is not None and b is not None
    assert a.shape == (256,) and a.dtype == np.float32
    assert abs(float(np.linalg.norm(a)) - 1) < 1e-5
    assert np.array_equal(a, b)
    assert (a >= 0).all()  # ReLU before the normalisation


def test_another_sample_rate_embeds_alike(encoder: SpeakerEncoder) -> None:
    # scipy resamples anything not at 16 kHz (scikit-image brings it to the dev environment).
    resample_poly = pytest.importorskip("scipy.signal").resample_poly

    x = voiced(4.0, seed=3)
    x22 = resample_poly(x.astype(np.float64), 441, 320).astype(np.float32)  # 16 -> 22.05 kHz
    a, b = encoder.embed(x, 16000), encoder.embed(x22, 22050)
    assert a is not None and b is not None
    assert similarity(a, b) > 0.95


def test_silence_and_too_little_speech_give_no_embedding(encoder: SpeakerEncoder) -> None:
    assert encoder.embed(np.zeros(3 * 16000, np.float32), 16000) is None
    assert encoder.embed(np.zeros(0, np.float32), 16000) is None
    short = np.concatenate([np.zeros(16000, np.float32), voiced(0.5), np.zeros(2 * 16000, np.float32)])
    assert encoder.embed(short, 16000) is None


def test_volume_is_raised_never_lowered() -> None:
    quiet = voiced() * 0.01
    loud = voice_id.normalize_volume(quiet)
    assert loud is not None
    assert abs(20 * np.log10(np.sqrt(np.mean(loud.astype(np.float64) ** 2))) - voice_id.TARGET_DBFS) < 0.01
    hot = voiced() * 5
    assert voice_id.normalize_volume(hot) is hot


def test_partial_slices_match_resemblyzer() -> None:
    # Resemblyzer 0.1.4's VoiceEncoder.compute_partial_slices(n, 1.3, 0.75), mel-frame starts.
    want = {8000: [0], 16000: [0], 25600: [0], 30000: [0], 48000: [0, 77, 154],
            80000: [0, 77, 154, 231, 308]}
    for n, starts in want.items():
        got = voice_id.compute_partial_slices(n)
        assert [s.start for s in got] == starts
        assert all(s.stop - s.start == 160 for s in got)


def test_silence_trimming_smooths_and_dilates_as_resemblyzer() -> None:
    # Windows kept by Resemblyzer 0.1.4's trim_long_silences for these webrtcvad flags.
    flags = "0000000000111110000000000000000000111101000000001111111111000000000000000011100000"
    kept = "0000000111111111100000000000000011111111100001111111111111110000000000000000000000"
    w = voice_id.VAD_WINDOW
    x = np.repeat(np.arange(len(flags), dtype=np.float32), w)
    out = voice_id.trim_long_silences(np.r_[x, np.zeros(w - 1, np.float32)],
                                      np.array([c == "1" for c in flags]))
    assert np.array_equal(np.unique(out), [i for i, c in enumerate(kept) if c == "1"])
    assert len(out) == kept.count("1") * w


def test_mel_filterbank_is_librosas() -> None:
    fb = voice_id.mel_filters()
    assert fb.shape == (40, 201)
    # librosa.filters.mel(sr=16000, n_fft=400, n_mels=40) (0.11.0): each band's peak bin and
    # a few peak heights, which depend on the Slaney scale and normalisation.
    peaks = [2, 4, 6, 7, 9, 11, 13, 15, 17, 18, 20, 22, 24, 26, 28, 30, 32, 35, 38, 41, 44, 47, 51,
             55, 59, 64, 69, 75, 80, 87, 94, 101, 109, 118, 127, 137, 148, 159, 172, 185]
    assert fb.argmax(axis=1).tolist() == peaks
    assert np.allclose(fb[[0, 10, 20, 39]].max(axis=1), [0.0124045, 0.0118795, 0.00719192, 0.00172494],
                       rtol=1e-5)
    mel = voice_id.wav_to_mel_spectrogram(voiced(1.0))
    assert mel.shape == (1 + 16000 // 160, 40) and (mel >= 0).all()


def _utterances(root: Path) -> dict[str, list[Path]]:
    from fakescope.datasets import read_labels

    by_speaker: dict[str, list[Path]] = defaultdict(list)
    for it in read_labels(root):
        if it.label == 0:
            by_speaker[it.path.relative_to(root).parts[1]].append(it.path)
    return by_speaker


@pytest.mark.data
def test_one_reader_is_closer_to_themself_than_to_another(shared_data, encoder: SpeakerEncoder) -> None:  # type: ignore[no-untyped-def]
    from fakescope.config import MediaLimits
    from fakescope.media import decode, read_file

    root = shared_data("speech", "librispeech")
    by_speaker = _utterances(root)
    same = sorted(s for s, files in by_speaker.items() if len(files) >= 2)
    assert same, "the sample holds readers with two utterances"

    def embed(path: Path) -> np.ndarray:
        x = decode(read_file(path, MediaLimits()), MediaLimits()).samples(16000)  # type: ignore[union-attr]
        e = encoder.embed(x, 16000)
        assert e is not None
        return e

    a1, a2 = (embed(p) for p in sorted(by_speaker[same[0]])[:2])
    others = [s for s in sorted(by_speaker) if s not in same][:2]
    for other in others:
        b = embed(sorted(by_speaker[other])[0])
        assert similarity(a1, a2) > max(similarity(a1, b), similarity(a2, b)) + 0.05
