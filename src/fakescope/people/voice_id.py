"""Speaker identity: is this voice the enrolled person's (issue 31)?

Reproduces Resemblyzer 0.1.4 (Apache-2.0, github.com/resemble-ai/Resemblyzer), its GE2E
speaker encoder exported to ``speaker.onnx`` by scripts/export_speaker_encoder.py, with a
front end in numpy (and scipy for resampling) so that scans import neither torch nor librosa
(the wheel's weights only: the repository's audio files are reserved for evaluation and
were never used):

- ``preprocess_wav``: resampled to 16 kHz, volume raised (never lowered) to -30 dBFS, long
  silences cut: 30 ms windows flagged as speech, smoothed by a moving average of 8 windows,
  dilated by 3 windows each side, unflagged windows dropped;
- ``wav_to_mel_spectrogram``: librosa's ``melspectrogram`` defaults as Resemblyzer calls
  them: power of a 400-point periodic-Hann STFT every 160 samples, centred with zero
  padding, 40 Slaney mel bands (Slaney normalisation) from 0 to 8 kHz; not a log-mel;
- ``embed_utterance``: partials of 160 frames (1.6 s) every 77 frames (rate 1.3 per
  second), the last one kept when it covers 75 % of its frames (the waveform is zero-padded
  to reach it), each embedded by the network; the mean of the partials, L2-normalised.

Where it differs from Resemblyzer, and why:

- Voice activity: Resemblyzer flags windows with webrtcvad (mode 3), which is not a
  dependency of fakescope. Here a window is speech when its 80 Hz-4 kHz energy (webrtcvad's
  band) is above ``VAD_MIN_DBFS`` and a little above the recording's floor (its quietest
  windows); the smoothing and dilation are Resemblyzer's. Its thresholds were chosen on the
  179 bona fide clips of speech/tts and speech/vc (never on LibriSpeech, where parity is
  measured), by cosine to Resemblyzer's embeddings: median 0.997, 5th percentile 0.976,
  worst 0.885, on a noisy clip whose background webrtcvad drops and this detector keeps.
  With webrtcvad's decisions in its place the chain matches Resemblyzer to 1e-4 or better.
- Resampling: scipy's polyphase filter (``resample_poly``) instead of librosa's soxr; 16 kHz
  input is not resampled by either.
- Silence, or less than ``MIN_SPEECH_S`` of speech after trimming: no embedding (None)
  where Resemblyzer would return NaN or a meaningless vector.

research/speaker_encoder_parity.py measures the cosine to Resemblyzer's own embeddings and
the same-vs-other speaker EER; the figures are in the model's card.
"""

from __future__ import annotations

import functools
from math import gcd

import numpy as np

from fakescope.analyzers.whisper_mel import slaney_filters
from fakescope.models import LoadedModel, load_model
from fakescope.models.card import ModelCard

MODEL_NAME = "speaker"
RATE = 16000
N_FFT = 400
HOP = 160
N_MELS = 40
PARTIAL_FRAMES = 160
PARTIAL_RATE = 1.3
MIN_COVERAGE = 0.75
TARGET_DBFS = -30.0
INT16_MAX = 2**15 - 1
MIN_SPEECH_S = 1.0
BATCH = 32  # partials per run: bounds memory on long recordings

# Resemblyzer's silence trimming (hparams.py).
VAD_WINDOW = RATE * 30 // 1000
VAD_AVERAGE = 8
VAD_MAX_SILENCE = 6
# The energy detector standing in for webrtcvad (fitted to its decisions, module docstring).
VAD_BAND_HZ = (80.0, 4000.0)
VAD_FLOOR_PERCENTILE = 5.0
VAD_MARGIN_DB = 3.0
VAD_MIN_DBFS = -51.0


def resample(x: np.ndarray, rate: int) -> np.ndarray:
    """``x`` at 16 kHz (float32)."""
    x = np.asarray(x, np.float32)
    if rate == RATE:
        return x
    # Lazily: scipy (the [train] extra) is needed only for audio not already at 16 kHz;
    # fakescope's decoder delivers 16 kHz itself (media.AudioMedia.samples).
    try:
        from scipy.signal import resample_poly
    except ImportError:
        raise ValueError(f"give 16 kHz audio (this is {rate} Hz; resampling it needs scipy)") from None

    g = gcd(RATE, int(rate))
    return resample_poly(x.astype(np.float64), RATE // g, int(rate) // g).astype(np.float32)


def normalize_volume(x: np.ndarray) -> np.ndarray | None:
    """Raised to ``TARGET_DBFS`` RMS when quieter (never lowered); None for digital silence."""
    rms = float(np.sqrt(np.mean((x.astype(np.float64) * INT16_MAX) ** 2))) if len(x) else 0.0
    if rms == 0.0:
        return None
    change = TARGET_DBFS - 20 * np.log10(rms / INT16_MAX)
    if change < 0:
        return x
    return (x * 10 ** (change / 20)).astype(np.float32)


def _window_db(windows: np.ndarray) -> np.ndarray:
    """Each 30 ms window's mean square in webrtcvad's band, in dB re full scale (Parseval)."""
    spec = np.fft.rfft(windows.astype(np.float64), axis=1)
    freqs = np.fft.rfftfreq(windows.shape[1], 1 / RATE)
    band = (freqs >= VAD_BAND_HZ[0]) & (freqs < VAD_BAND_HZ[1])
    power = (np.abs(spec[:, band]) ** 2).sum(axis=1) * 2 / windows.shape[1] ** 2
    return 10 * np.log10(power + 1e-20)


def voice_flags(x: np.ndarray) -> np.ndarray:
    """One flag per whole 30 ms window of ``x``: speech (the stand-in for webrtcvad)."""
    n = len(x) // VAD_WINDOW
    if n == 0:
        return np.zeros(0, bool)
    db = _window_db(x[: n * VAD_WINDOW].reshape(n, VAD_WINDOW))
    floor = float(np.percentile(db, VAD_FLOOR_PERCENTILE))
    return (db > floor + VAD_MARGIN_DB) & (db > VAD_MIN_DBFS)


def _moving_average(flags: np.ndarray, width: int) -> np.ndarray:
    padded = np.concatenate((np.zeros((width - 1) // 2), flags.astype(np.float64), np.zeros(width // 2)))
    ret = np.cumsum(padded)
    ret[width:] = ret[width:] - ret[:-width]
    return ret[width - 1 :] / width


def trim_long_silences(x: np.ndarray, flags: np.ndarray | None = None) -> np.ndarray:
    """``x`` without its long silences, as Resemblyzer trims them (``flags``: per 30 ms window,
    default ``voice_flags``)."""
    n = len(x) // VAD_WINDOW
    x = x[: n * VAD_WINDOW]
    flags = voice_flags(x) if flags is None else np.asarray(flags, bool)
    if n == 0:
        return x
    # np.round halves to even, as Resemblyzer's mask does: 4 speech windows of 8 are not enough.
    mask = np.round(_moving_average(flags, VAD_AVERAGE)).astype(bool)
    width = VAD_MAX_SILENCE + 1
    mask = np.convolve(mask.astype(np.int32), np.ones(width, np.int32), mode="same") > 0
    return x[np.repeat(mask, VAD_WINDOW)]


def preprocess_wav(samples: np.ndarray, sample_rate: int) -> np.ndarray | None:
    """Resemblyzer's ``preprocess_wav`` on mono samples; None when the input is silent."""
    x = np.asarray(samples, np.float32).reshape(-1)
    if x.size == 0 or not np.all(np.isfinite(x)):
        return None
    loud = normalize_volume(resample(x, sample_rate))
    return None if loud is None else trim_long_silences(loud)


@functools.lru_cache(maxsize=1)
def mel_filters() -> np.ndarray:
    """librosa.filters.mel(sr=16000, n_fft=400, n_mels=40): Slaney scale and normalisation."""
    return slaney_filters(RATE, N_FFT, N_MELS, RATE / 2)


@functools.lru_cache(maxsize=1)
def _hann() -> np.ndarray:
    # Periodic (scipy's get_window default, which librosa uses), not numpy's symmetric one.
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)


def wav_to_mel_spectrogram(x: np.ndarray) -> np.ndarray:
    """(frames, 40) mel power, ``1 + len(x) // 160`` frames, as Resemblyzer computes it."""
    pad = N_FFT // 2
    xp = np.pad(np.asarray(x, np.float32), (pad, pad), mode="constant")
    n = 1 + (len(xp) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n)[:, None]
    spec = np.fft.rfft(xp[idx] * _hann(), axis=1)
    power = (spec.real**2 + spec.imag**2).astype(np.float32)
    return (power @ mel_filters().T).astype(np.float32)


def compute_partial_slices(n_samples: int, rate: float = PARTIAL_RATE,
                           min_coverage: float = MIN_COVERAGE) -> list[slice]:
    """Mel-frame slices of the partial utterances (Resemblyzer's ``compute_partial_slices``)."""
    frame_step = int(np.round((RATE / rate) / HOP))
    n_frames = int(np.ceil((n_samples + 1) / HOP))
    steps = max(1, n_frames - PARTIAL_FRAMES + frame_step + 1)
    slices = [slice(i, i + PARTIAL_FRAMES) for i in range(0, steps, frame_step)]
    last = slices[-1]
    coverage = (n_samples - last.start * HOP) / (PARTIAL_FRAMES * HOP)
    if coverage < min_coverage and len(slices) > 1:
        slices = slices[:-1]
    return slices


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of two embeddings."""
    a = np.asarray(a, np.float64).reshape(-1)
    b = np.asarray(b, np.float64).reshape(-1)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


class SpeakerEncoder:
    """Resemblyzer's voice embedding from ``speaker.onnx`` (module docstring)."""

    def __init__(self, threads: int = 0) -> None:
        self._model: LoadedModel = load_model(MODEL_NAME, threads=threads)
        self.card: ModelCard = self._model.card

    def embed_partials(self, mels: np.ndarray) -> np.ndarray:
        """(N, 256) unit embeddings of (N, frames, 40) mel partials."""
        mels = np.ascontiguousarray(mels, np.float32)
        out = [self._model.session.run(["embedding"], {"mels": mels[i : i + BATCH]})[0]  # type: ignore[attr-defined]
               for i in range(0, len(mels), BATCH)]
        return np.concatenate(out).astype(np.float32)

    def embed_utterance(self, wav: np.ndarray) -> np.ndarray:
        """Resemblyzer's ``embed_utterance`` of a preprocessed 16 kHz waveform."""
        slices = compute_partial_slices(len(wav))
        stop = slices[-1].stop * HOP
        if stop >= len(wav):
            wav = np.pad(wav, (0, stop - len(wav)))
        mel = wav_to_mel_spectrogram(wav)
        partials = self.embed_partials(np.stack([mel[s] for s in slices]))
        raw = partials.mean(axis=0)
        return (raw / np.linalg.norm(raw)).astype(np.float32)

    def embed(self, samples: np.ndarray, sample_rate: int) -> np.ndarray | None:
        """256-d unit embedding of the voice in mono ``samples``; None when less than
        ``MIN_SPEECH_S`` of speech remains once silences are cut."""
        wav = preprocess_wav(samples, sample_rate)
        if wav is None or len(wav) < MIN_SPEECH_S * RATE:
            return None
        emb = self.embed_utterance(wav)
        return emb if np.all(np.isfinite(emb)) else None
