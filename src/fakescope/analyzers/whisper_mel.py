"""Whisper's log-mel spectrogram: the input of the voice model.

The voice model starts with the first layers of Whisper tiny's audio encoder (OpenAI, MIT),
which was trained on 680k hours of real speech in every condition (phones, rooms, codecs,
noise); it must see its input computed exactly as in Whisper.

Log-mel as Whisper computes it: 80 Slaney mel bands of a 400-point STFT every 10 ms,
log10, floored 8 decades below the window's peak, scaled by (x + 4) / 4. The encoder
accepts windows shorter than Whisper's 30 s (it uses the first positions only).
"""

from __future__ import annotations

import functools

import numpy as np

RATE = 16000
N_FFT = 400
HOP = 160
N_MELS = 80
DIM = 384


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    f = np.asarray(f, np.float64)
    lin = f / (200.0 / 3)
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / (np.log(6.4) / 27.0), lin)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))


def slaney_filters(rate: int, n_fft: int, n_mels: int, fmax: float) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) Slaney-scale, Slaney-normalised triangles from 0 Hz to ``fmax``."""
    freqs = np.linspace(0, rate / 2, n_fft // 2 + 1)
    pts = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(pts)
    ramps = pts[:, None] - freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    w = np.maximum(0, np.minimum(lower, upper))
    w *= (2.0 / (pts[2 : n_mels + 2] - pts[:n_mels]))[:, None]
    return w.astype(np.float32)


@functools.lru_cache(maxsize=1)
def mel_filters() -> np.ndarray:
    """Whisper's filterbank: ``N_MELS`` bands up to the Nyquist frequency."""
    return slaney_filters(RATE, N_FFT, N_MELS, RATE / 2)


def log_mel(x: np.ndarray) -> np.ndarray:
    """(N_MELS, len(x) // HOP) Whisper log-mel of a 16 kHz waveform."""
    x = np.asarray(x, np.float32)
    pad = N_FFT // 2
    xp = np.pad(x, (pad, pad), mode="reflect")
    n = 1 + (len(xp) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n)[:, None]
    win = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
    spec = np.abs(np.fft.rfft(xp[idx] * win, axis=1)) ** 2
    mel = mel_filters() @ spec[:-1].T.astype(np.float32)
    lg = np.log10(np.maximum(mel, 1e-10))
    lg = np.maximum(lg, lg.max() - 8.0)
    return ((lg + 4.0) / 4.0).astype(np.float32)
