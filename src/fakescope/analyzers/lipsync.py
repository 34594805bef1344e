"""lip-sync: does the mouth move with the speech?

The mouth opening (inner-lip gap over eye distance, from dense FaceMesh landmarks) is
compared with the speech energy envelope at the same instants. Real speakers' mouths
open with their syllables, with at most ~100 ms of lag; dubbed, lip-synced or
audio-driven fakes drift, lag, or move without the words. No speech, no opinion.
"""

from __future__ import annotations

import numpy as np

from fakescope.analyzers.base import Evidence, VideoItem
from fakescope.evaluation.calibration import sigmoid

WINDOW_S = 0.04
MAX_LAG_S = 0.5
SYNC_LAG_S = 0.12  # within this, mouth and voice count as in sync
FULL_EVIDENCE_S = 20.0  # seconds of speech that give the analyzer its full say


def envelope(audio: np.ndarray, rate: int, times: np.ndarray, window_s: float = WINDOW_S) -> np.ndarray:
    """Log energy (dB) of the audio around each time."""
    half = max(1, int(rate * window_s / 2))
    out = np.empty(len(times))
    for i, t in enumerate(times):
        c = int(t * rate)
        seg = audio[max(0, c - half) : c + half]
        out[i] = 10 * np.log10(float(np.mean(seg.astype(np.float64) ** 2)) + 1e-10) if len(seg) else -100.0
    return out


def speech_mask(env_db: np.ndarray) -> np.ndarray:
    """Frames well above the recording's noise floor (a simple energy voice detector)."""
    if len(env_db) == 0:
        return np.zeros(0, bool)
    floor = float(np.percentile(env_db, 10))
    peak = float(np.percentile(env_db, 95))
    if peak - floor < 12.0:  # a flat recording: silence, steady noise or music bed
        return np.zeros(len(env_db), bool)
    return env_db > floor + 0.35 * (peak - floor)


def _fill(x: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(x)
    if ok.all() or not ok.any():
        return x
    idx = np.arange(len(x))
    return np.interp(idx, idx[ok], x[ok])


def sync_curve(mouth: np.ndarray, env_db: np.ndarray, fps: float,
               max_lag_s: float = MAX_LAG_S) -> tuple[np.ndarray, np.ndarray]:
    """Correlation of mouth opening and speech energy at each lag (audio later = positive)."""
    m = _fill(mouth.astype(np.float64))
    e = env_db.astype(np.float64)
    m = (m - m.mean()) / (m.std() + 1e-9)
    e = (e - e.mean()) / (e.std() + 1e-9)
    max_lag = round(max_lag_s * fps)
    lags = np.arange(-max_lag, max_lag + 1)
    corr = np.empty(len(lags))
    n = len(m)
    for k, lag in enumerate(lags):
        if lag >= 0:
            a, b = m[: n - lag], e[lag:]
        else:
            a, b = m[-lag:], e[: n + lag]
        corr[k] = float(np.mean(a * b)) if len(a) > 5 else 0.0
    return lags / fps, corr


class LipSyncAnalyzer:
    name = "lip-sync"
    version = "1.0.0"
    card = None
    needs_faces = True
    media_types = frozenset({"video"})

    def analyze(self, item: VideoItem) -> Evidence:
        s = item.series
        if item.audio is None or len(item.audio) == 0:
            return Evidence(score=None, details={"reason": "no audio track"})
        if s is None or s.found.sum() < max(10, int(2 * s.fps)):
            return Evidence(score=None, details={"reason": "mouth not visible long enough"})
        env = envelope(item.audio, item.audio_rate, s.times)
        speech = speech_mask(env)
        speech_s = float(speech.sum()) / s.fps
        if speech_s < 1.5:
            return Evidence(score=None, details={"reason": "no speech to compare the mouth with",
                                                 "speech_s": round(speech_s, 1)})
        lag_s, corr = sync_curve(s.mouth_opening(), env, s.fps)
        best = int(np.argmax(corr))
        in_sync = np.abs(lag_s) <= SYNC_LAG_S
        r_sync = float(corr[in_sync].max())
        r_best, best_lag = float(corr[best]), float(lag_s[best])
        findings = []
        # Mismatch: the mouth barely follows the voice at any plausible lag.
        mismatch = float(np.clip((0.3 - r_best) / 0.3, 0, 1))
        if mismatch > 0.3:
            findings.append(f"mouth movement follows the speech weakly (r = {r_best:.2f})")
        # Offset: it follows better at a lag a real speaker never has.
        offset = 0.0
        if abs(best_lag) > SYNC_LAG_S and r_best > 0.2:
            offset = float(np.clip((r_best - r_sync) / 0.15, 0, 1))
            if offset > 0.3:
                findings.append(f"the voice is {1000 * best_lag:+.0f} ms out of step with the lips")
        a = max(mismatch, offset)
        reliability = min(1.0, speech_s / FULL_EVIDENCE_S)
        p = float(sigmoid(4.0 * a - 1.4))
        return Evidence(
            score=round(0.5 + (p - 0.5) * reliability, 4),
            details={
                "speech_s": round(speech_s, 1),
                "r_in_sync": round(r_sync, 3),
                "r_best": round(r_best, 3),
                "best_lag_ms": round(1000 * best_lag),
                "anomaly": round(a, 3),
                "evidence_strength": "weak (little speech)" if reliability < 0.34 else
                ("moderate" if reliability < 0.99 else "full"),
                "findings": findings or ["mouth moves with the speech"],
            },
        )
