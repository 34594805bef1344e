"""Pseudo-fake speech from real speech: the audio analogue of self-blended images.

Each method re-synthesises *the same* speaker's utterance (or reads public-domain text
with a formant synthesiser), so the model learns what synthesis and conversion leave in
the signal, never one person's voice put on another:

- ``world``: WORLD analysis/synthesis (pyworld), optionally with the pitch scaled and the
  spectral envelope warped (a formant shift, as voice conversion does), optionally with
  the envelope compressed to a few dozen cepstral coefficients and the aperiodicity
  coded, as WORLD-based conversion systems do;
- ``griffin_lim``: the magnitude spectrogram inverted with Griffin-Lim, optionally through
  an 80-band mel bottleneck (what early neural TTS front ends produced);
- ``pitch_shift``: a phase-vocoder pitch shift (formants move with the pitch);
- ``tts``: espeak-ng reading sentences from ``SENTENCES`` (a Debian package, needed for
  training only).

Plus channel degradations used as augmentation for both classes: rooms (synthetic
reverberation), codecs (MP3, AAC, Opus through PyAV, once or twice, low bitrates
included), the telephone band, white and pink noise, gain and clipping. Training-only: scipy and
pyworld are imported here, never at scan time.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

RATE = 16000

# Public-domain sentences (Lincoln's Gettysburg Address, the Declaration of Independence,
# Harvard-style phonetically varied sentences written for this file).
SENTENCES = (
    "Four score and seven years ago our fathers brought forth on this continent a new nation.",
    "Now we are engaged in a great civil war, testing whether that nation can long endure.",
    "We have come to dedicate a portion of that field as a final resting place.",
    "The world will little note, nor long remember what we say here.",
    "Government of the people, by the people, for the people, shall not perish from the earth.",
    "We hold these truths to be self-evident, that all men are created equal.",
    "Prudence, indeed, will dictate that governments long established should not be changed.",
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It is easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
    "Please call me back when you get this message, it is about the invoice.",
    "Hi, it's me. I lost my phone and I need you to send the money today.",
    "The meeting moved to Thursday at three thirty in the afternoon.",
    "Your account has been locked; please confirm your details to restore access.",
    "I can't talk long, just transfer it to the account I sent you.",
    "The weather tomorrow will be cloudy with a chance of light rain in the north.",
    "Turn left at the second light, then keep going until you see the bakery.",
    "Thank you for calling, all of our agents are busy at the moment.",
    "She sells sea shells by the sea shore, and the shells she sells are surely seashells.",
    "We will meet again in the spring, when the river is high and the fields are green.",
)
ESPEAK_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us+f2", "en-us+f3",
                 "en-gb+f4", "en-us+m3", "en-us+m7", "en-gb-x-gbclan+f1", "en-us+klatt2")


# --- WORLD -------------------------------------------------------------------------------
def _pyworld():  # type: ignore[no-untyped-def]
    """The compiled pyworld module. pyworld 0.3.5's package ``__init__`` imports
    ``pkg_resources`` only to read its version, and current setuptools no longer ships
    it, so the extension is loaded directly when that import fails."""
    try:
        import pyworld

        return pyworld
    except ModuleNotFoundError as exc:
        if exc.name != "pkg_resources":
            raise
    import importlib.machinery
    import importlib.util

    spec = importlib.util.find_spec("pyworld")
    folder = Path(next(iter(spec.submodule_search_locations)))  # type: ignore[union-attr]
    ext = next(folder.glob("pyworld*" + importlib.machinery.EXTENSION_SUFFIXES[0]))
    loader = importlib.machinery.ExtensionFileLoader("pyworld.pyworld", str(ext))
    mod_spec = importlib.util.spec_from_loader("pyworld.pyworld", loader)
    module = importlib.util.module_from_spec(mod_spec)  # type: ignore[arg-type]
    loader.exec_module(module)
    return module


def world_analysis(x: np.ndarray, rate: int = RATE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pw = _pyworld()

    xd = x.astype(np.float64)
    f0, t = pw.dio(xd, rate, frame_period=5.0)
    f0 = pw.stonemask(xd, f0, t, rate)
    return f0, pw.cheaptrick(xd, f0, t, rate), pw.d4c(xd, f0, t, rate)


def world_synthesis(f0: np.ndarray, sp: np.ndarray, ap: np.ndarray, rate: int = RATE,
                    f0_scale: float = 1.0, formant_scale: float = 1.0, coded_dims: int | None = None,
                    ) -> np.ndarray:
    pw = _pyworld()

    sp = sp.copy()
    if formant_scale != 1.0:
        bins = np.arange(sp.shape[1])
        src = np.clip(bins / formant_scale, 0, sp.shape[1] - 1)
        sp = np.stack([np.interp(src, bins, row) for row in sp])
    if coded_dims:
        fft = (sp.shape[1] - 1) * 2
        coded = pw.code_spectral_envelope(sp, rate, coded_dims)
        sp = pw.decode_spectral_envelope(np.ascontiguousarray(coded), rate, fft)
        cap = pw.code_aperiodicity(ap, rate)
        ap = pw.decode_aperiodicity(np.ascontiguousarray(cap), rate, fft)
    y = pw.synthesize(f0 * f0_scale, np.ascontiguousarray(sp), np.ascontiguousarray(ap), rate,
                      frame_period=5.0)
    return _level_like(y, np.sqrt(np.mean(y**2)))


def _smooth_rows(a: np.ndarray, k: int) -> np.ndarray:
    """Moving average over ``k`` frames (rows), edges held."""
    pad = np.pad(a, ((k // 2, k - 1 - k // 2), (0, 0)), mode="edge")
    c = np.cumsum(pad, axis=0)
    c = np.concatenate([np.zeros((1, a.shape[1])), c])
    return (c[k:] - c[:-k]) / k


def tts_like_pitch(f0: np.ndarray, range_scale: float) -> np.ndarray:
    """A WORLD pitch track (0 = unvoiced) as TTS renders it: the contour through voiced frames
    smoothed over 31 frames (~150 ms: micro-prosody gone), its range scaled towards the mean."""
    voiced = f0 > 0
    if not voiced.any():
        return f0.copy()
    lf = np.log(np.where(voiced, f0, 1.0))
    mean = float(lf[voiced].mean())
    filled = np.interp(np.arange(len(lf)), np.flatnonzero(voiced), lf[voiced])
    slow = _smooth_rows(filled[:, None], 31)[:, 0]
    return np.where(voiced, np.exp(mean + range_scale * (slow - mean)), 0.0)


def tts_like_envelope(sp: np.ndarray, dims: int) -> np.ndarray:
    """A WORLD spectral envelope as an acoustic model renders it: coded to ``dims`` cepstral
    dimensions and smoothed over 9 frames (~40 ms)."""
    pw = _pyworld()
    fft = (sp.shape[1] - 1) * 2
    coded = pw.code_spectral_envelope(np.ascontiguousarray(sp), RATE, dims)
    decoded = pw.decode_spectral_envelope(np.ascontiguousarray(coded), RATE, fft)
    return np.ascontiguousarray(np.exp(_smooth_rows(np.log(decoded + 1e-16), 9)))


def kind_pairs(x: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Three WORLD re-syntheses of ``x`` that differ in one kind of trace only:

    - ``world``: analysis and synthesis as they are (the reference of the pairs);
    - ``world_prosody``: the pitch contour made TTS-like: voiced runs' pitch smoothed over
      ~150 ms (micro-prosody gone) and its range pulled towards the mean; timbre untouched;
    - ``world_spectrum``: the spectral envelope made acoustic-model-like: coded to few
      cepstral dimensions and smoothed over ~40 ms (over-smoothed timbre); pitch untouched.
    """
    f0, sp, ap = world_analysis(x)
    f0p = tts_like_pitch(f0, float(rng.uniform(0.3, 0.6)))
    sps = tts_like_envelope(sp, int(rng.choice([16, 20, 24])))
    out = {"world": world_synthesis(f0, sp, ap), "world_prosody": world_synthesis(f0p, sp, ap),
           "world_spectrum": world_synthesis(f0, sps, ap)}
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    return {k: _level_like(v[: len(x)], rms) for k, v in out.items()}


# --- STFT-domain methods --------------------------------------------------------------------
def _stft(x: np.ndarray, n_fft: int = 1024, hop: int = 256) -> np.ndarray:
    from scipy.signal import stft

    return stft(x, nperseg=n_fft, noverlap=n_fft - hop, nfft=n_fft, boundary="even")[2]


def _istft(spec: np.ndarray, n: int, n_fft: int = 1024, hop: int = 256) -> np.ndarray:
    from scipy.signal import istft

    y = istft(spec, nperseg=n_fft, noverlap=n_fft - hop, nfft=n_fft, boundary=True)[1]
    return np.pad(y, (0, max(0, n - len(y))))[:n]


def mel_matrix(n_mels: int = 80, n_fft: int = 1024, rate: int = RATE) -> np.ndarray:
    def mel(f: np.ndarray) -> np.ndarray:
        return 2595 * np.log10(1 + f / 700)

    bins = np.linspace(0, rate / 2, n_fft // 2 + 1)
    edges = 700 * (10 ** (np.linspace(0, mel(np.array(rate / 2)), n_mels + 2) / 2595) - 1)
    m = np.zeros((n_mels, len(bins)))
    for k in range(n_mels):
        lo, c, hi = edges[k : k + 3]
        m[k] = np.clip(np.minimum((bins - lo) / (c - lo), (hi - bins) / (hi - c)), 0, None)
    return m


def griffin_lim(x: np.ndarray, n_iter: int = 32, mel_bottleneck: bool = False, seed: int = 0) -> np.ndarray:
    spec = _stft(x)
    mag = np.abs(spec)
    if mel_bottleneck:
        m = mel_matrix()
        mag = np.maximum(np.linalg.pinv(m) @ (m @ mag), 0.0)
    rng = np.random.default_rng(seed)
    angles = np.exp(2j * np.pi * rng.random(mag.shape))
    y = _istft(mag * angles, len(x))
    for _ in range(n_iter):
        angles = np.exp(1j * np.angle(_stft(y)[:, : mag.shape[1]]))
        y = _istft(mag * angles, len(x))
    return _level_like(y, np.sqrt(np.mean(x.astype(np.float64) ** 2)))


def pitch_shift(x: np.ndarray, semitones: float) -> np.ndarray:
    """Phase-vocoder time stretch by the pitch ratio, then resampling back to the length."""
    ratio = 2 ** (semitones / 12)
    hop = 256
    spec = _stft(x, hop=hop)
    steps = np.arange(0, spec.shape[1] - 1, 1 / ratio)
    expected = np.linspace(0, np.pi * hop, spec.shape[0])
    phase = np.angle(spec[:, 0])
    out = np.empty((spec.shape[0], len(steps)), complex)
    for i, s in enumerate(steps):
        k = int(s)
        frac = s - k
        mag = (1 - frac) * np.abs(spec[:, k]) + frac * np.abs(spec[:, k + 1])
        out[:, i] = mag * np.exp(1j * phase)
        dphi = np.angle(spec[:, k + 1]) - np.angle(spec[:, k]) - expected
        dphi -= 2 * np.pi * np.round(dphi / (2 * np.pi))
        phase = phase + expected + dphi
    stretched = _istft(out, int(len(x) * ratio), hop=hop)
    y = np.interp(np.arange(len(x)) * ratio, np.arange(len(stretched)), stretched)
    return _level_like(y, np.sqrt(np.mean(x.astype(np.float64) ** 2)))


# --- TTS --------------------------------------------------------------------------------------
def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def tts(text: str, voice: str = "en-us", speed: int = 160, pitch: int = 50) -> np.ndarray:
    """espeak-ng reading ``text``, as mono float32 at ``RATE``."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "tts.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(out), text],
                       check=True, capture_output=True, timeout=60)
        from fakescope.media.audio import stream_samples

        return np.concatenate(list(stream_samples(out, RATE, 600.0, 600.0)))


# --- channel degradations ----------------------------------------------------------------------
def encode_audio(x: np.ndarray, codec: str, bitrate: int, rate: int = RATE) -> bytes:
    """``x`` (mono float32 at ``rate``) encoded with ``codec`` (libmp3lame, aac, libopus) into
    its raw stream format (MP3, ADTS, Ogg)."""
    import av

    fmt = {"libmp3lame": "mp3", "aac": "adts", "libopus": "ogg"}[codec]
    enc_rate = 48000 if codec == "libopus" else rate
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt) as c:
        st = c.add_stream(codec, rate=enc_rate, layout="mono")
        st.bit_rate = bitrate
        res = av.AudioResampler(format=st.codec_context.format.name, layout="mono", rate=enc_rate)
        frame = av.AudioFrame.from_ndarray(np.clip(x, -1, 1)[None, :].astype(np.float32), format="flt",
                                           layout="mono")
        frame.sample_rate = rate
        for f in res.resample(frame) + res.resample(None):
            for p in st.encode(f):
                c.mux(p)
        for p in st.encode(None):
            c.mux(p)
    return buf.getvalue()


def codec_roundtrip(x: np.ndarray, codec: str, bitrate: int, rate: int = RATE) -> np.ndarray:
    """Encode with ``codec`` (libmp3lame, aac, libopus) in memory and decode back at ``rate``."""
    from fakescope.media.audio import stream_samples

    data = encode_audio(x, codec, bitrate, rate)
    y = np.concatenate(list(stream_samples(data, rate, 600.0, 3600.0)) or [np.zeros(0, np.float32)])
    return np.pad(y, (0, max(0, len(x) - len(y))))[: len(x)].astype(np.float32)


def telephone(x: np.ndarray, rate: int = RATE) -> np.ndarray:
    """Down to 8 kHz through a 300-3400 Hz band and back up, as a phone call carries it."""
    from scipy.signal import butter, resample_poly, sosfilt

    sos = butter(4, [300, 3400], btype="band", fs=rate, output="sos")
    y = resample_poly(sosfilt(sos, x), 1, 2)
    return resample_poly(y, 2, 1)[: len(x)].astype(np.float32)


def reverb(x: np.ndarray, rng: np.random.Generator, rt60: float | None = None) -> np.ndarray:
    """A room: convolution with exponentially decaying noise (a synthetic impulse response)."""
    from scipy.signal import fftconvolve

    rt60 = float(rng.uniform(0.15, 0.9)) if rt60 is None else rt60
    t = np.arange(int(rt60 * RATE)) / RATE
    h = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60)
    h[0] = rng.uniform(1.0, 6.0) * np.sqrt(np.sum(h**2) / len(h) * RATE * 0.01)  # direct path
    y = fftconvolve(x, h)[: len(x)]
    return _level_like(y, float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2))))


_BITRATES = {"libmp3lame": [24000, 32000, 48000, 64000, 128000], "aac": [16000, 24000, 32000, 64000],
             "libopus": [8000, 12000, 16000, 24000, 48000]}


def _codec(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    codec = str(rng.choice(list(_BITRATES)))
    return codec_roundtrip(y, codec, int(rng.choice(_BITRATES[codec])))


def degrade(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random channel: a room, the telephone band, noise, one or two codecs (low bitrates
    included), gain and clipping, each optional. Real recordings from the wild go through
    all of these; without them the model would call reverberant or compressed real speech
    synthetic (measured: a 0.3 s room pushed real LibriSpeech utterances to 0.5-0.97)."""
    y = x.astype(np.float32)
    if rng.random() < 0.35:
        y = reverb(y, rng)
    if rng.random() < 0.15:
        y = telephone(y)
    if rng.random() < 0.3:
        snr = rng.uniform(5, 35)
        n = rng.standard_normal(len(y))
        if rng.random() < 0.5:  # pink: the rumble of rooms and streets, not only hiss
            f = np.fft.rfft(n)
            n = np.fft.irfft(f / np.sqrt(np.arange(1, len(f) + 1)), len(y))
        p = float(np.mean(y**2)) + 1e-10
        y = y + (n * np.sqrt(p / (float(np.mean(n**2)) + 1e-12) / 10 ** (snr / 10))).astype(np.float32)
    if rng.random() < 0.6:
        y = _codec(y, rng)
        if rng.random() < 0.25:
            y = _codec(y, rng)  # re-uploaded: compressed twice
    y = y * np.float32(10 ** (rng.uniform(-12, 6) / 20))
    if rng.random() < 0.1:
        y = np.clip(y * rng.uniform(2, 6), -1, 1)
    return np.clip(y, -1, 1).astype(np.float32)


def _level_like(y: np.ndarray, rms: float) -> np.ndarray:
    cur = float(np.sqrt(np.mean(np.asarray(y, np.float64) ** 2))) + 1e-9
    return np.clip(np.asarray(y) * (rms / cur), -1, 1).astype(np.float32)


METHODS = ("world", "world_shift", "world_coded", "griffin_lim", "griffin_lim_mel", "pitch_shift")


def pseudo_fakes(x: np.ndarray, rng: np.random.Generator, methods: tuple[str, ...] = METHODS,
                 ) -> dict[str, np.ndarray]:
    """One pseudo-fake of ``x`` per method (WORLD analysis is shared between its variants)."""
    out: dict[str, np.ndarray] = {}
    if any(m.startswith("world") for m in methods):
        f0, sp, ap = world_analysis(x)
        if "world" in methods:
            out["world"] = world_synthesis(f0, sp, ap)
        if "world_shift" in methods:
            out["world_shift"] = world_synthesis(f0, sp, ap, f0_scale=float(rng.uniform(0.75, 1.35)),
                                                 formant_scale=float(rng.uniform(0.85, 1.18)))
        if "world_coded" in methods:
            out["world_coded"] = world_synthesis(f0, sp, ap, f0_scale=float(rng.uniform(0.85, 1.2)),
                                                 coded_dims=int(rng.choice([24, 36, 40, 60])))
    if "griffin_lim" in methods:
        out["griffin_lim"] = griffin_lim(x, n_iter=int(rng.integers(16, 48)), seed=int(rng.integers(1 << 30)))
    if "griffin_lim_mel" in methods:
        out["griffin_lim_mel"] = griffin_lim(x, n_iter=int(rng.integers(16, 48)), mel_bottleneck=True,
                                             seed=int(rng.integers(1 << 30)))
    if "pitch_shift" in methods:
        st = float(rng.uniform(2, 5)) * (1 if rng.random() < 0.5 else -1)
        out["pitch_shift"] = pitch_shift(x, st)
    return {k: v[: len(x)] for k, v in out.items()}
