"""Generated audio with a known answer, for tests and benchmarks (nothing downloaded).

``speechlike`` is a crude vowel-like voice: a glottal pulse train with a wandering pitch,
shaped by formant resonances that change per syllable and gated by a syllable envelope
(about 4 syllables a second, with pauses). It is not speech a person would understand,
but it has what voice activity detection keys on: periodic frames, formants, and
loudness that rises and falls at syllable rate. The other signals are what must *not*
count as speech: silence, white noise, a held chord.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

RATE = 16000
_VOWELS = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410))


def _resonate(x: np.ndarray, freq: float, bw: float, rate: int) -> np.ndarray:
    """Second-order resonator (one formant)."""
    from scipy.signal import lfilter  # scipy comes with the demo and dev extras

    r = np.exp(-np.pi * bw / rate)
    return lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * freq / rate), r * r], x)


def speechlike(seconds: float, rate: int = RATE, seed: int = 0, f0: float = 140.0) -> np.ndarray:
    """A vowel-like voice with syllables and pauses, peak about -6 dBFS (float32)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    out = np.zeros(n, np.float64)
    pos = 0
    while pos < n:
        syl = int(rate * rng.uniform(0.15, 0.3))
        gap = int(rate * (rng.uniform(0.04, 0.12) if rng.random() > 0.15 else rng.uniform(0.3, 0.6)))
        m = min(syl, n - pos)
        t = np.arange(m) / rate
        pitch = f0 * (1 + 0.08 * np.sin(2 * np.pi * rng.uniform(1, 3) * t + rng.uniform(0, 6)))
        phase = np.cumsum(pitch / rate)
        pulses = (np.diff(np.floor(phase), prepend=0) > 0).astype(np.float64)
        src = pulses + 0.02 * rng.standard_normal(m)
        v = _VOWELS[rng.integers(len(_VOWELS))]
        seg = sum(_resonate(src, f, 80 + 40 * k, rate) * (1.0 / (k + 1)) for k, f in enumerate(v))
        env = np.sin(np.pi * np.arange(m) / max(m, 1)) ** 1.5
        out[pos : pos + m] = seg * env
        pos += syl + gap
    peak = np.abs(out).max() or 1.0
    return (0.5 * out / peak).astype(np.float32)


def noise(seconds: float, rate: int = RATE, level: float = 0.1, seed: int = 0) -> np.ndarray:
    return (level * np.random.default_rng(seed).standard_normal(int(seconds * rate))).astype(np.float32)


def chord(seconds: float, rate: int = RATE, notes: tuple[float, ...] = (220.0, 277.2, 329.6)) -> np.ndarray:
    """A held major chord of harmonic tones (music-like: periodic, but no syllables)."""
    t = np.arange(int(seconds * rate)) / rate
    x = sum(sum(np.sin(2 * np.pi * f * h * t) / h for h in range(1, 6)) for f in notes)
    x = x * (1 + 0.05 * np.sin(2 * np.pi * 0.3 * t))  # slow swell, as a held chord has
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def clipped(x: np.ndarray, gain: float = 8.0) -> np.ndarray:
    return np.clip(x * gain, -1.0, 1.0).astype(np.float32)


def telephone(x: np.ndarray, rate: int = RATE) -> tuple[np.ndarray, int]:
    """The signal at 8 kHz (band-limited by decimation), as a phone line carries it."""
    spec = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    spec[(freqs < 300) | (freqs > 3400)] = 0
    y = np.fft.irfft(spec, len(x))[::2]
    return y.astype(np.float32), rate // 2


_CODECS = {".wav": ("wav", "pcm_s16le"), ".flac": ("flac", "flac"), ".mp3": ("mp3", "libmp3lame"),
           ".ogg": ("ogg", "libopus"), ".opus": ("ogg", "libopus"), ".m4a": ("ipod", "aac"),
           ".aac": ("adts", "aac")}


def write_audio(path: Path, x: np.ndarray, rate: int = RATE) -> Path:
    """Encode mono float samples to the container and codec the suffix names (PyAV)."""
    import av

    fmt, codec = _CODECS[path.suffix.lower()]
    out_rate = 48000 if codec == "libopus" else rate  # Opus encodes at 48 kHz only
    with av.open(str(path), mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=out_rate, layout="mono")
        res = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=out_rate)
        step = rate * 10
        for k in range(0, len(x) + 1, step):
            frames = []
            if k < len(x):
                block = np.clip(x[k : k + step], -1, 1).astype(np.float32)[None, :]
                frame = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
                frame.sample_rate = rate
                frames = res.resample(frame)
            if k + step >= len(x):
                frames += res.resample(None)
            for f in frames:
                for packet in stream.encode(f):
                    container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path
