"""lip-sync: does the mouth move with the speech?

The score comes from a learned sync model (``train.sync``, trained self-supervised on real
clips: at each moment the lips and the sound of that moment belong together, the sound of a
fraction of a second earlier or later does not). The sound is read by the first blocks of
Whisper tiny's audio encoder (ONNX, int8 weights: ``models/weights/lip-sync.onnx``), averaged
around each dense video frame; the lips by their shape (40 landmarks, pose-free). A fixed
linear head (PCA, then a canonical correlation analysis fitted on real clips' speech frames,
``lip-sync.head.json``) maps both to a few paired streams; their correlation with the sound
shifted by -6..+6 frames is the clip's sync curve. Its best offset (audio later = positive)
and its margin (the curve in step less its best value 2 or more frames away) make the
score: a best offset of 2 or more frames or a negative margin is out of step. Real
speakers' mouths lead their sound slightly, within a frame.

The older evidence, the correlation of the mouth opening with the speech energy envelope
at each lag, stays in the details (``r_in_sync``, ``r_best``, ``best_lag_ms``) but no longer
makes the score. No speech, no opinion.

Not good against audio-driven talking heads: their mouths are made from the sound and are in
step. Dubbed or re-voiced clips are what it finds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from fakescope.analyzers.base import Evidence, VideoItem
from fakescope.analyzers.whisper_mel import HOP, RATE, log_mel
from fakescope.errors import ModelError
from fakescope.evaluation.calibration import sigmoid
from fakescope.faces.landmark_series import LIPS_OUTER

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



# ---- the learned sync model (shared with ``train.sync``, which fits it) ---------------------

MODEL_NAME = "lip-sync"
HEAD_FILE = "lip-sync.head.json"
# The lips' shape: 40 landmarks around the mouth's centre, eyes levelled, per eye distance.
LIPS_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
LIPS = LIPS_OUTER + LIPS_INNER
AUDIO_BANDS = 20  # the 20-band log-mel the speech frames are found in
AUDIO_HALF_S = 0.04  # sound averaged over +-40 ms around each video frame
ENCODER_HOP_S = 2 * HOP / RATE  # 20 ms per encoder state
ENCODER_MAX_FRAMES = 3000  # Whisper's 30 s of mel frames per encoder run
WINDOW = 5  # sound frames the head reads per moment
OFFSETS = 6  # frames each way (at 12.5 fps: +-0.48 s)
OUT_OF_STEP = 2  # frames from 0 at which the best offset means out of step


def mouth_shape(mesh: np.ndarray) -> np.ndarray:
    """(T, 80) pose-free lip shape per frame; NaN rows where no face was found."""
    eyes_r, eyes_l = mesh[:, 468], mesh[:, 473]
    d = eyes_l - eyes_r
    dist = np.linalg.norm(d, axis=-1)
    ang = np.arctan2(d[:, 1], d[:, 0])
    c, s = np.cos(-ang), np.sin(-ang)
    lips = mesh[:, list(LIPS)]
    rel = lips - lips.mean(axis=1, keepdims=True)
    x = c[:, None] * rel[..., 0] - s[:, None] * rel[..., 1]
    y = s[:, None] * rel[..., 0] + c[:, None] * rel[..., 1]
    out = np.concatenate([x, y], axis=1) / np.maximum(dist, 1e-6)[:, None]
    return out.astype(np.float32)


def band_frames(mel: np.ndarray, times: np.ndarray) -> np.ndarray:
    """(T, AUDIO_BANDS) a Whisper log-mel (80, n) pooled to 20 bands, around each time."""
    pooled = mel.reshape(AUDIO_BANDS, -1, mel.shape[1]).mean(axis=1).T  # (n, 20)
    hop_s = HOP / RATE
    half = max(1, round(AUDIO_HALF_S / hop_s))
    out = np.zeros((len(times), AUDIO_BANDS), np.float32)
    for i, t in enumerate(times):
        c = round(t / hop_s)
        seg = pooled[max(0, c - half):c + half + 1]
        out[i] = seg.mean(axis=0) if len(seg) else pooled.min(axis=0)
    return out


def speech_frames(bands: np.ndarray) -> np.ndarray:
    """Frames louder than the clip's quiet part by a margin (an energy voice detector on
    ``band_frames``)."""
    e = bands.mean(axis=1)
    lo, hi = np.percentile(e, 10), np.percentile(e, 95)
    return e > lo + 0.35 * (hi - lo) if hi - lo > 0.3 else np.zeros(len(e), bool)


def at_times(states: np.ndarray, hop_s: float, times: np.ndarray, half_s: float = AUDIO_HALF_S) -> np.ndarray:
    """(T, D): the mean of the states (one per ``hop_s``) whose centre lies within ``half_s`` of each time."""
    centres = (np.arange(len(states)) + 0.25) * hop_s  # an encoder state covers 2 mel frames
    out = np.zeros((len(times), states.shape[1]), np.float32)
    for i, t in enumerate(times):
        sel = np.abs(centres - t) <= half_s
        if sel.any():
            out[i] = states[sel].mean(axis=0)
        else:
            out[i] = states[min(len(states) - 1, max(0, round(t / hop_s)))]
    return out


def centred(x: np.ndarray) -> np.ndarray:
    ok = np.isfinite(x).all(axis=1)
    if not ok.any():
        return np.zeros_like(x)
    y = x - x[ok].mean(axis=0)
    y[~ok] = 0.0
    return y


def windows(x: np.ndarray, width: int = WINDOW) -> np.ndarray:
    """(T, width * D): each frame with its neighbours (edges repeated)."""
    half = width // 2
    pad = np.concatenate([np.repeat(x[:1], half, 0), x, np.repeat(x[-1:], half, 0)])
    return np.concatenate([pad[i:i + len(x)] for i in range(width)], axis=1)


def shifted(x: np.ndarray, k: int, fill: float = np.nan) -> np.ndarray:
    """``x`` delayed by ``k`` frames (``out[t] = x[t - k]``), ``fill`` where undefined."""
    out = np.full(x.shape, fill, dtype=np.float64)
    n = len(x)
    if abs(k) >= n:
        return out
    if k >= 0:
        out[k:] = x[:n - k]
    else:
        out[:n + k] = x[-k:]
    return out


def corr_curve(sound: np.ndarray, lips: np.ndarray, face: np.ndarray, speech: np.ndarray, shift: int = 0,
               offsets: int = OFFSETS, cosine: bool = False) -> tuple[np.ndarray, int]:
    """Mean per-stream correlation of ``sound[t + j]`` with ``lips[t]`` for j in +-offsets, with
    the sound first delayed by ``shift`` frames (the true offset is then ``+shift``).

    Frames t: speech in the (delayed) sound at t, a face at t, every t + j inside the sound.
    ``cosine``: the rows are embeddings; the curve is their mean cosine similarity instead."""
    sound = np.asarray(sound, np.float64)
    lips = np.asarray(lips, np.float64)
    s = shifted(sound, shift)
    speech = shifted(speech.astype(float), shift, 0.0) > 0.5
    n = len(s)
    defined = np.isfinite(s).all(axis=1)
    t = np.array([i for i in range(offsets, n - offsets)
                  if speech[i] and face[i] and defined[i - offsets:i + offsets + 1].all()], int)
    curve = np.full(2 * offsets + 1, np.nan)
    if len(t) < 10:
        return curve, len(t)
    v = lips[t]
    for i, j in enumerate(range(-offsets, offsets + 1)):
        a = s[t + j]
        if cosine:
            norms = np.linalg.norm(a, axis=1) * np.linalg.norm(v, axis=1) + 1e-9
            curve[i] = float(np.mean((a * v).sum(1) / norms))
        else:
            az = (a - a.mean(0)) / (a.std(0) + 1e-9)
            vz = (v - v.mean(0)) / (v.std(0) + 1e-9)
            curve[i] = float(np.mean((az * vz).mean(0)))
    return curve, len(t)


def curve_figures(curve: np.ndarray, shift: int = 0) -> dict:  # type: ignore[type-arg]
    """Best offset (relative to the true one ``shift``) and margin: the curve at the true offset
    less its best value 2 or more frames away from it."""
    offsets = len(curve) // 2
    k = int(np.nanargmax(curve)) - offsets
    offs = np.arange(-offsets, offsets + 1)
    far = np.abs(offs - shift) >= OUT_OF_STEP
    true = curve[offsets + shift]
    return {"offset": k - shift, "margin": float(true - np.nanmax(curve[far])),
            "margin_mean": float(true - np.nanmean(curve[far]))}


@dataclass(frozen=True)
class SyncHead:
    """PCA of sound and lips, then the CCA projections (``train.sync`` writes it)."""

    a_mu: np.ndarray  # (384,)
    a_p: np.ndarray  # (384, audio_pca)
    m_mu: np.ndarray  # (80,)
    m_p: np.ndarray  # (80, mouth_pca)
    wa: np.ndarray  # (window * audio_pca, components)
    wv: np.ndarray  # (lip_window * mouth_pca, components)
    window: int = WINDOW
    lip_window: int = 1
    offsets: int = OFFSETS

    @classmethod
    def load(cls, path: Path) -> SyncHead:
        z = json.loads(path.read_text(encoding="utf-8"))
        arrays = {k: np.asarray(z[k], np.float64) for k in ("a_mu", "a_p", "m_mu", "m_p", "wa", "wv")}
        head = cls(**arrays, window=int(z["window"]), lip_window=int(z["lip_window"]),
                   offsets=int(z["offsets"]))
        if (head.a_p.shape[0] != head.a_mu.shape[0] or head.wa.shape[0] != head.window * head.a_p.shape[1]
                or head.wv.shape[0] != head.lip_window * head.m_p.shape[1]):
            raise ValueError("array shapes do not fit together")
        return head

    def streams(self, sound: np.ndarray, mouth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(T, components) canonical sound and lip streams from per-frame encoder states and lip shape."""
        a = (centred(sound).astype(np.float64) - self.a_mu) @ self.a_p
        m = (centred(mouth).astype(np.float64) - self.m_mu) @ self.m_p
        return windows(a, self.window) @ self.wa, windows(m, self.lip_window) @ self.wv


def encoder_states(session: object, mel: np.ndarray) -> np.ndarray:
    """(n/2, 384) the front end's states of a log-mel (80, n), 30 s per run."""
    out = []
    for i in range(0, mel.shape[1], ENCODER_MAX_FRAMES):
        part = mel[:, i:i + ENCODER_MAX_FRAMES]
        part = part[:, : part.shape[1] // 2 * 2] if part.shape[1] > 1 else part
        if part.shape[1] < 2:
            break
        x = np.ascontiguousarray(part[None], np.float32)
        out.append(session.run(["states"], {"mel": x})[0][0])  # type: ignore[attr-defined]
    return np.concatenate(out) if out else np.zeros((0, 384), np.float32)


def sound_at_frames(session: object, audio: np.ndarray, rate: int, times: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Per video frame: the encoder's states around it (T, 384) and the 20-band log-mel (T, 20)."""
    if rate != RATE:
        raise ValueError(f"audio must be {RATE} Hz, got {rate}")
    mel = log_mel(audio)
    return at_times(encoder_states(session, mel), ENCODER_HOP_S, times), band_frames(mel, times)


@lru_cache(maxsize=4)
def _head(path: str, mtime: float) -> SyncHead:
    return SyncHead.load(Path(path))


def load_sync_model(threads: int = 0) -> tuple[object, SyncHead]:
    """The front end's session (with its card) and the head beside it."""
    from fakescope.models import load_model

    model = load_model(MODEL_NAME, threads=threads)
    head = model.path.parent / HEAD_FILE
    if not head.is_file():
        raise ModelError(f"the lip-sync head {head} is missing")
    try:
        return model, _head(str(head), head.stat().st_mtime)
    except (OSError, KeyError, ValueError) as exc:
        raise ModelError(f"the lip-sync head {head.name} is invalid: {exc}") from exc


def learned_sync(session: object, head: SyncHead, audio: np.ndarray, rate: int, times: np.ndarray,
                 mesh: np.ndarray) -> dict | None:  # type: ignore[type-arg]
    """The learned sync curve of a clip, its best offset (frames, audio later = positive) and
    margin; None where fewer than 10 frames have both a face and speech."""
    sound, bands = sound_at_frames(session, audio, rate, times)
    mouth = mouth_shape(mesh)
    a, v = head.streams(sound, mouth)
    face = np.isfinite(mouth).all(axis=1)
    speech = speech_frames(bands)
    curve, n = corr_curve(a, v, face, speech, offsets=head.offsets)
    if n < 10:
        return None
    return {"n": n, "curve": curve, **curve_figures(curve),
            "over_time": sync_over_time(a, v, face, speech, times, head.offsets)}


SYNC_WINDOW_S = 4.0  # the stretch each point of the sync timeline reads
SYNC_HOP_S = 2.0


def sync_over_time(a: np.ndarray, v: np.ndarray, face: np.ndarray, speech: np.ndarray, times: np.ndarray,
                   offsets: int = OFFSETS, window_s: float = SYNC_WINDOW_S, hop_s: float = SYNC_HOP_S,
                   ) -> list[dict]:  # type: ignore[type-arg]
    """When the mouth runs out of step: the sync curve's best offset over overlapping
    stretches of the clip (a dub may repaint only part of it). A stretch with fewer than 10
    frames of speech and face has no point."""
    out = []
    if len(times) == 0:
        return out
    start, end = float(times[0]), float(times[-1])
    t0 = start
    while t0 < end - 1e-6:
        inside = (times >= t0) & (times < t0 + window_s)
        curve, n = corr_curve(a, v, face, speech & inside, offsets=offsets)
        if n >= 10:
            fig = curve_figures(curve)
            fps = (len(times) - 1) / max(end - start, 1e-6)
            out.append({"start_s": round(t0, 2), "end_s": round(min(t0 + window_s, end), 2),
                        "offset_ms": round(1000 * fig["offset"] / fps),
                        "in_step": bool(abs(fig["offset"]) < OUT_OF_STEP)})
        if t0 + window_s >= end:
            break
        t0 += hop_s
    return out


def sync_anomaly(offset: int, margin: float) -> float:
    """0 (in step) .. 1 (out of step): mostly the best offset's distance from 0 beyond one frame
    (2 frames: 0.18, 6: 0.9), a little a curve not highest in step (a negative margin).

    Held out (train.sync, leave one real clip out), pseudo-dubs against their re-encoded
    sources: AUC 0.79 (the distance alone 0.80, the margin alone 0.62)."""
    far = float(np.clip((abs(offset) - 1) / 5.0, 0.0, 1.0))
    low = float(np.clip(-margin / 0.2, 0.0, 1.0))
    return 0.9 * far + 0.1 * low


class LipSyncAnalyzer:
    name = "lip-sync"
    version = "2.0.0"
    needs_faces = True
    media_types = frozenset({"video"})

    def __init__(self, threads: int = 0) -> None:
        self._model, self._head = load_sync_model(threads)
        self.card = self._model.card  # type: ignore[attr-defined]

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
        # The envelope correlation (kept for the report; no longer the score).
        lag_s, corr = sync_curve(s.mouth_opening(), env, s.fps)
        best = int(np.argmax(corr))
        in_sync = np.abs(lag_s) <= SYNC_LAG_S
        r_sync = float(corr[in_sync].max())
        r_best, best_lag = float(corr[best]), float(lag_s[best])
        details: dict = {  # type: ignore[type-arg]
            "speech_s": round(speech_s, 1),
            "r_in_sync": round(r_sync, 3),
            "r_best": round(r_best, 3),
            "best_lag_ms": round(1000 * best_lag),
            "sync_model": f"{self.card.name} {self.card.version}",
        }
        got = learned_sync(self._model.session, self._head, item.audio, item.audio_rate,  # type: ignore[attr-defined]
                           s.times, s.mesh)
        if got is None:
            why = "too little speech with the face in view for the sync model"
            return Evidence(score=None, details={**details, "reason": why})
        offset, margin = int(got["offset"]), float(got["margin"])
        offset_ms = round(1000 * offset / s.fps)
        a = sync_anomaly(offset, margin)
        if abs(offset) >= OUT_OF_STEP:
            finding = (f"the mouth runs {abs(offset_ms)} ms "
                       f"{'ahead of' if offset > 0 else 'behind'} the speech")
        elif margin < 0:
            finding = "mouth and speech in step, but only weakly tied"
        else:
            finding = "mouth and speech in step"
        reliability = min(1.0, speech_s / FULL_EVIDENCE_S)
        p = float(sigmoid(4.0 * a - 1.4))
        return Evidence(
            score=round(0.5 + (p - 0.5) * reliability, 4),
            details={
                **details,
                "sync_offset_ms": offset_ms,
                "sync_offset_frames": offset,
                "sync_margin": round(margin, 3),
                "sync_frames": int(got["n"]),
                "sync_curve": [round(float(x), 3) for x in got["curve"]],
                "over_time": got["over_time"],
                "anomaly": round(a, 3),
                "evidence_strength": "weak (little speech)" if reliability < 0.34 else
                ("moderate" if reliability < 0.99 else "full"),
                "findings": [finding],
            },
        )
