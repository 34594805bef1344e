"""Speech front end for the voice analyzer, in plain numpy (shared with training).

- Segments: 2 s windows, back to back; a file whose length is not a multiple of 2 s
  ends with a window over its last 2 s (overlapping the one before), so segments cover
  the whole file. A file shorter than 2 s is one segment, its samples repeated to fill
  the window.
- The model's input is computed elsewhere (``whisper_mel.py``); this module finds the
  windows worth scoring.
- Voice activity: a frame is voiced when its speech band (300 Hz-4 kHz) is loud enough
  (above -55 dBFS and within 35 dB of the window's peak), periodic (normalised
  autocorrelation peak for a pitch of 70–400 Hz) and not flat (spectral flatness). A
  window holds speech when it has at least 0.3 s of voiced frames *and* its loudness
  moves at syllable rate (2–10 Hz modulation, several dB deep): silence and hiss have no
  voiced frames; a held chord or tone is periodic but does not move like syllables.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

RATE = 16000
VAD_VERSION = 2  # bump when voice activity changes: training caches recompute their crop starts
SEGMENT_S = 2.0
SEGMENT = int(RATE * SEGMENT_S)
WIN, HOP, NFFT = 400, 160, 512
FRAME_S = HOP / RATE

MIN_VOICED_S = 0.3
MIN_DEPTH_DB = 6.0
MIN_SYLLABIC_SHARE = 0.12
MIN_SPEECH_S = 1.0  # less speech than this in a file: no opinion


_WINDOW = np.hanning(WIN).astype(np.float32)
_LAG_LO, _LAG_HI = RATE // 400, RATE // 70  # pitch 400 Hz .. 70 Hz
_FLAT_LO, _FLAT_HI = int(100 / (RATE / NFFT)), int(4000 / (RATE / NFFT))
_SPEECH_LO = int(300 / (RATE / NFFT))
_NO_RUMBLE = (np.arange(NFFT // 2 + 1) * RATE / NFFT >= 60).astype(np.float32)  # DC and hum out
# The window's own autocorrelation: dividing by it undoes the taper's bias against long
# lags (low voices), as Boersma's pitch method does.
_WIN_AC = np.fft.irfft(np.abs(np.fft.rfft(_WINDOW, NFFT)) ** 2, NFFT)[: _LAG_HI + 1]
_WIN_AC = (_WIN_AC / _WIN_AC[0]).astype(np.float32)


@dataclass
class SegmentFrames:
    """What one 2 s window yields: voice-activity facts."""

    speech: bool
    voiced_s: float
    active_s: float


def _frames(x: np.ndarray) -> np.ndarray:
    n = 1 + (len(x) - WIN) // HOP
    idx = np.arange(WIN)[None, :] + HOP * np.arange(n)[:, None]
    return x[idx]


def power_spectrum(x: np.ndarray) -> np.ndarray:
    """(frames, NFFT/2+1) power of Hann-windowed frames."""
    spec = np.fft.rfft(_frames(x) * _WINDOW, NFFT, axis=1)
    return (spec.real**2 + spec.imag**2).astype(np.float32)


def fit_window(x: np.ndarray) -> np.ndarray:
    """Exactly ``SEGMENT`` samples: longer input is cut, shorter input repeated."""
    x = np.asarray(x, np.float32)
    if len(x) >= SEGMENT:
        return x[:SEGMENT]
    if len(x) == 0:
        return np.zeros(SEGMENT, np.float32)
    return np.tile(x, SEGMENT // len(x) + 1)[:SEGMENT]


def analyse_window(x: np.ndarray, valid: int | None = None) -> SegmentFrames:
    """Voice activity of one window; ``valid``: real samples before repetition."""
    x = fit_window(x)
    power = power_spectrum(x)
    n_valid = power.shape[0] if valid is None else max(1, min(power.shape[0], 1 + (valid - WIN) // HOP))
    voiced, active, depth, syllabic = voice_activity(x, power[:n_valid])
    speech = voiced * FRAME_S >= MIN_VOICED_S and depth >= MIN_DEPTH_DB and syllabic >= MIN_SYLLABIC_SHARE
    return SegmentFrames(bool(speech), round(voiced * FRAME_S, 3),
                         round(active * FRAME_S, 3))


@dataclass
class FrameFacts:
    """Per 10 ms frame: speech-band loudness (dB re full scale), activity, periodicity, pitch."""

    db: np.ndarray
    peak: float  # 95th percentile of db
    active: np.ndarray
    periodic: np.ndarray  # normalised autocorrelation peak, 0..1
    f0: np.ndarray  # Hz at that peak (meaningful where voiced)
    voiced: np.ndarray


def frame_facts(power: np.ndarray) -> FrameFacts:
    # Loudness of the speech band (300 Hz-4 kHz) from the spectrum (Parseval), in dB re
    # full scale: a DC offset or mains rumble, which some recordings carry louder than the
    # voice, must not hide the syllables.
    speech_band = power[:, _SPEECH_LO:_FLAT_HI]
    energy = speech_band.sum(axis=1) / (NFFT * float((_WINDOW**2).sum()) / 2) + 1e-12
    db = 10 * np.log10(energy)
    peak = float(np.percentile(db, 95))
    active = (db > -55.0) & (db > peak - 35.0)
    # Periodicity: the autocorrelation is the inverse transform of the power spectrum.
    ac = np.fft.irfft(power * _NO_RUMBLE, NFFT, axis=1)[:, : _LAG_HI + 1]
    norm = ac[:, _LAG_LO:] / _WIN_AC[_LAG_LO:]
    periodic = norm.max(axis=1) / (ac[:, 0] + 1e-12)
    f0 = RATE / (_LAG_LO + norm.argmax(axis=1))
    band = power[:, _FLAT_LO:_FLAT_HI] + 1e-12
    flatness = np.exp(np.log(band).mean(axis=1)) / band.mean(axis=1)
    voiced = active & (periodic > 0.45) & (flatness < 0.35)
    return FrameFacts(db, peak, active, periodic, f0, voiced)


def voice_activity(x: np.ndarray, power: np.ndarray) -> tuple[int, int, float, float]:
    """(voiced frames, active frames, loudness depth in dB, share of syllable-rate modulation)."""
    n = power.shape[0]
    ff = frame_facts(power)
    db, peak, active, voiced = ff.db, ff.peak, ff.active, ff.voiced
    if not active.any():
        return 0, 0, 0.0, 0.0
    # Syllables: loudness that rises and falls several times a second, by several dB.
    env = np.maximum(db, peak - 40.0)
    depth = float(np.percentile(env, 90) - np.percentile(env, 10))
    syllabic = 0.0
    if n >= 50:
        e = env - env.mean()
        mod = np.abs(np.fft.rfft(e * np.hanning(n))) ** 2
        freqs = np.fft.rfftfreq(n, FRAME_S)
        total = mod[(freqs >= 0.5) & (freqs <= 25)].sum()
        syllabic = float(mod[(freqs >= 2) & (freqs <= 10)].sum() / total) if total > 0 else 0.0
    return int(voiced.sum()), int(active.sum()), depth, syllabic


@dataclass
class Window:
    start_s: float
    end_s: float
    samples: np.ndarray  # SEGMENT samples (repeated when the file is shorter)
    valid: int  # samples that are really the file's
    fresh: int  # samples no earlier window covered (the last window overlaps)


def windows(chunks: Iterable[np.ndarray]) -> Iterator[Window]:
    """2 s windows over a stream of sample blocks, covering it (see the module docstring).

    Holds at most one block plus one window: memory does not grow with the file.
    """
    buf = np.zeros(0, np.float32)
    pos = 0  # stream position of buf[0], in samples
    last = np.zeros(0, np.float32)  # the previous full window, to end on the last 2 s
    for block in chunks:
        block = np.asarray(block, np.float32)
        buf = np.concatenate([buf, block]) if len(buf) else block
        k = 0
        while len(buf) - k >= SEGMENT:
            seg = buf[k : k + SEGMENT]
            yield Window(pos / RATE, (pos + SEGMENT) / RATE, seg, SEGMENT, SEGMENT)
            last = seg
            pos += SEGMENT
            k += SEGMENT
        buf = buf[k:].copy()
    if len(buf) == 0:
        return
    end = pos + len(buf)
    if len(last):
        tail = np.concatenate([last, buf])[-SEGMENT:]
        yield Window((end - SEGMENT) / RATE, end / RATE, tail, SEGMENT, len(buf))
    else:
        yield Window(0.0, end / RATE, fit_window(buf), len(buf), len(buf))
