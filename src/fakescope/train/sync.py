"""The audio-visual sync model, learned without labels from real clips.

Self-supervised: at each moment of a real clip with speech, the lips and the sound of
that moment belong together, and the sound from a fraction of a second earlier or later
does not. No fake clip is ever seen in training.

Two models, both read the lips' shape per dense video frame (``mouth_shape``):

- ``cca`` (second attempt): the sound is read by Whisper tiny's audio encoder (OpenAI, MIT;
  ``train.whisper_encoder``), whose states are phonetic, one every 20 ms, averaged over the
  80 ms around each video frame. Audio states (PCA, a 5-frame window) and lip shape (PCA)
  are related by a regularised canonical correlation analysis fitted on the training real
  clips' speech frames; a clip's sync curve is the mean correlation of the first canonical
  pairs at each offset of the sound against the lips.
- ``contrastive`` (first attempt): two linear encoders of 5-frame windows of lip shape and of
  20-band log-mel (or Whisper states), trained so that the true offset wins among
  +-OFFSETS shifted ones.

Per clip: the sync curve over offsets, the best offset, and the margin (the curve at offset 0
less its best value 2 or more frames away; low = out of step). Evaluated held out (leave one
real clip out, and by set: trained on one set's real clips, judged on the other's), beside
the runtime's envelope correlation (``analyzers.lipsync``):

    python -m fakescope.train.sync --real ../shared/data/video/dev \
        --real ../shared/data/video/gen2 --dubs runs/dubs --out runs/sync2
    # the first attempt, as it was judged (by set; each training takes minutes):
    python -m fakescope.train.sync ... --approach contrastive:mel --protocol set

Capture (one normal scan per clip with sound, for the dense lips) and the audio features are
cached under ``--out`` and reused.

Not shipped (December 2026, 25 real clips with speech, 33 generated, 50 pseudo-dubs of 25 of
those real clips): Whisper block 3 + CCA puts the best offset of 72 % of held-out real clips
within one frame of the truth (first attempt 52 %, envelope correlation 32 %), short of the
80 % wanted; audio-driven generated clips come out *more* in step than real ones (AUC of the
margin 0.24-0.44), and pseudo-dubs are told from their re-encoded sources with AUC 0.64
(margin) / 0.80 (distance of the best offset from 0). Too few real talking clips to fit more.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from fakescope.analyzers.whisper_mel import HOP, RATE, log_mel
from fakescope.faces.landmark_series import INNER_LIP_BOTTOM, INNER_LIP_TOP, LIPS_OUTER

# What the model reads per dense video frame: the lips' shape (40 landmarks around the
# mouth's centre, eyes levelled, per eye distance) and the sound; both centred per clip, so a
# person's resting lip shape and a recording's colouring do not count.
LIPS_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
LIPS = LIPS_OUTER + LIPS_INNER
AUDIO_BANDS = 20
AUDIO_HALF_S = 0.04
WHISPER_LAYERS = 4  # Whisper tiny's encoder has 4 blocks; features: 0 = conv stem, 1-4 = blocks
WHISPER_HOP_S = 2 * HOP / RATE  # 20 ms per encoder state


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


def mouth_opening(shape: np.ndarray) -> np.ndarray:
    """Inner-lip gap per eye distance from ``mouth_shape`` (the image-plane part of
    ``LandmarkSeries.mouth_opening``)."""
    top, bottom, n = LIPS.index(INNER_LIP_TOP), LIPS.index(INNER_LIP_BOTTOM), len(LIPS)
    return np.hypot(shape[:, top] - shape[:, bottom], shape[:, n + top] - shape[:, n + bottom])


def audio_frames(audio: np.ndarray, rate: int, times: np.ndarray) -> np.ndarray:
    """(T, AUDIO_BANDS) log-mel around each time (16 kHz mono expected)."""
    if rate != RATE:
        raise ValueError(f"audio must be {RATE} Hz, got {rate}")
    mel = log_mel(audio)  # (80, n)
    pooled = mel.reshape(AUDIO_BANDS, -1, mel.shape[1]).mean(axis=1).T  # (n, 20)
    hop_s = HOP / RATE
    half = max(1, round(AUDIO_HALF_S / hop_s))
    out = np.zeros((len(times), AUDIO_BANDS), np.float32)
    for i, t in enumerate(times):
        c = round(t / hop_s)
        seg = pooled[max(0, c - half):c + half + 1]
        out[i] = seg.mean(axis=0) if len(seg) else pooled.min(axis=0)
    return out


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


WINDOW = 5
OFFSETS = 6  # frames each way (at 12.5 fps: +-0.48 s)
DIM = 16


def windows(x: np.ndarray, width: int = WINDOW) -> np.ndarray:
    """(T, width * D): each frame with its neighbours (edges repeated)."""
    half = width // 2
    pad = np.concatenate([np.repeat(x[:1], half, 0), x, np.repeat(x[-1:], half, 0)])
    return np.concatenate([pad[i:i + len(x)] for i in range(width)], axis=1)


def table_rows(folder: Path) -> dict[str, dict[str, str]]:
    with open(folder / "labels.csv", newline="", encoding="utf-8") as fh:
        return {(r.get("file") or "").strip(): r for r in csv.DictReader(fh)}


def capture(folders: list[Path], only_real: bool, cache: Path,  # type: ignore[type-arg]
            want: Callable[[dict[str, str]], bool] | None = None) -> list[dict]:  # type: ignore[type-arg]
    """Dense lip shape and sound of every clip with sound (one normal scan each).

    Incremental: clips already in ``cache`` are kept, those of new folders are scanned and
    added; a row whose ``has_audio`` is ``no`` (or that ``want`` refuses) is skipped."""
    import pickle

    from fakescope.analyzers.base import Evidence, VideoItem
    from fakescope.config import ProvenanceSettings, ScanSettings
    from fakescope.datasets import read_labels
    from fakescope.progress import progress_iter
    from fakescope.scan.scanner import Scanner

    out: list[dict] = pickle.loads(cache.read_bytes()) if cache.is_file() else []  # type: ignore[type-arg]
    by_name = {f.name: f for f in folders}
    for c in out:  # caches written before "folder" was recorded
        c.setdefault("folder", str(by_name.get(c["set"], Path(c["set"]))))
    done = {(c["folder"], c["file"]) for c in out}
    items = []
    for f in folders:
        rows = table_rows(f)
        for it in read_labels(f):
            row = rows.get(it.file, {})
            if (only_real and it.label) or (row.get("has_audio") or "yes").strip().lower() == "no":
                continue
            if want is not None and not want(row):
                continue
            if (str(f), it.file) not in done:
                items.append((f, it, row))
    if not items:
        return out

    class Capture:
        name, version, card, needs_faces = "capture", "0", None, True
        media_types = frozenset({"video"})
        got: dict | None = None  # type: ignore[type-arg]

        def analyze(self, item: VideoItem) -> Evidence:
            s = item.series
            if s is not None and item.audio is not None:
                self.got = {"times": s.times, "mouth": mouth_shape(s.mesh),
                            "audio": audio_frames(item.audio, item.audio_rate, s.times)}
            return Evidence(score=None)

    scanner = Scanner(ScanSettings(analyzers=["blink"], explain=False,
                                   provenance=ProvenanceSettings(registry=None)))
    cap = Capture()
    scanner.analyzers.append(cap)  # type: ignore[arg-type]
    for folder, it, row in progress_iter(items, "clips"):
        cap.got = None
        scanner.scan(it.path, it.file)
        if cap.got is not None:
            out.append({"set": folder.name, "folder": str(folder), "file": it.file, "label": it.label,
                        "group": it.group, "method": row.get("method", ""), "row": dict(row), **cap.got})
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(out))
    return out


def clip_key(c: dict) -> str:  # type: ignore[type-arg]
    return f"{c['folder']}/{c['file']}"


def sound_features(clips: list[dict], cache: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    """Per clip: Whisper tiny's encoder states at the video frame times (stem and each block),
    and the runtime's speech envelope (dB), from the clip's audio as the scanner decodes it."""
    import pickle

    import torch

    from fakescope.analyzers.lipsync import envelope
    from fakescope.media.container import audio_samples
    from fakescope.train.whisper_encoder import WhisperEncoder, model_file

    feats: dict[str, dict] = pickle.loads(cache.read_bytes()) if cache.is_file() else {}  # type: ignore[type-arg]
    todo = [c for c in clips if clip_key(c) not in feats]
    if not todo:
        return feats
    enc = WhisperEncoder.from_ct2(model_file(), layers=WHISPER_LAYERS).eval()
    gamma, beta = enc.final_norm  # type: ignore[misc]
    for c in todo:
        end = float(c["times"][-1]) + 1.0
        audio = audio_samples(Path(c["folder"]) / c["file"], RATE, max_seconds=end + 1.0)
        # As the scan decoded it (the cached 20-band log-mel must come out the same).
        check = audio_frames(audio, RATE, c["times"])
        if np.abs(check - c["audio"]).max() > 1e-3:
            print(f"warning: {clip_key(c)}: audio decodes differently from the capture")
        mel = torch.from_numpy(log_mel(audio))[None]
        with torch.no_grad():
            gelu = torch.nn.functional.gelu
            stem = gelu(enc.conv2(gelu(enc.conv1(mel)))).transpose(1, 2)
            blocks = enc(mel)
            last = torch.nn.functional.layer_norm(blocks[-1], (blocks[-1].shape[-1],), gamma, beta)
        layers = [stem, *blocks[:-1], last]
        feats[clip_key(c)] = {
            "whisper": [at_times(h[0].numpy(), WHISPER_HOP_S, c["times"]).astype(np.float16) for h in layers],
            "env_db": envelope(audio, RATE, c["times"]).astype(np.float32),
            "audio_s": len(audio) / RATE,
        }
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(pickle.dumps(feats))
    return feats


def speech_frames(audio: np.ndarray) -> np.ndarray:
    """Frames louder than the clip's quiet part by a margin (an energy voice detector)."""
    e = audio.mean(axis=1)
    lo, hi = np.percentile(e, 10), np.percentile(e, 95)
    return e > lo + 0.35 * (hi - lo) if hi - lo > 0.3 else np.zeros(len(e), bool)


def masks(clip: dict) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    """Frames with a face, frames with speech."""
    return np.isfinite(clip["mouth"]).all(axis=1), speech_frames(clip["audio"])


def usable(clip: dict) -> np.ndarray:  # type: ignore[type-arg]
    """Frames with a face and speech (what every model trains on)."""
    face, speech = masks(clip)
    return face & speech


def sound_of(clip: dict, feats: dict, layer: int | str) -> np.ndarray:  # type: ignore[type-arg]
    """(T, D) the sound a model reads: Whisper's layer ``layer`` or ``"mel"`` (20-band log-mel)."""
    if layer == "mel":
        return clip["audio"]
    return feats[clip_key(clip)]["whisper"][int(layer)].astype(np.float32)


def prepared(clip: dict, feats: dict | None = None, layer: int | str = "mel") -> tuple[  # type: ignore[type-arg]
        np.ndarray, np.ndarray, np.ndarray]:
    m, a = centred(clip["mouth"]), centred(sound_of(clip, feats or {}, layer))
    return windows(m), windows(a), usable(clip)


Streams = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # sound, lips, face, speech


# ---- the second attempt: PCA + regularised CCA on Whisper states ---------------------------

AUDIO_PCA = 32
MOUTH_PCA = 8
CCA_REG = 0.1  # ridge on each side, as a share of its mean variance
COMPONENTS = 4  # canonical pairs a sync curve averages
LIP_WINDOW = 1  # lip frames the CCA reads per moment (the sound reads WINDOW)


def _pca(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (D, k) whitening projection of the rows of ``x``."""
    mu = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mu, full_matrices=False)
    sd = s[:k] / np.sqrt(max(1, len(x) - 1))
    return mu, (vt[:k].T / np.maximum(sd, 1e-9)).astype(np.float64)


def fit_cca(clips: list[dict], feats: dict, layer: int | str, audio_pca: int | None = None,  # type: ignore[type-arg]
            mouth_pca: int | None = None, reg: float | None = None) -> dict:  # type: ignore[type-arg]
    """PCA of sound and lips, then CCA of a window of sound against the lips (training real
    clips' usable frames only)."""
    audio_pca, mouth_pca = audio_pca or AUDIO_PCA, mouth_pca or MOUTH_PCA
    reg = CCA_REG if reg is None else reg
    aa, mm = [], []
    for c in clips:
        ok = usable(c)
        if ok.sum() < 10:
            continue
        aa.append(centred(sound_of(c, feats, layer))[ok])
        mm.append(centred(c["mouth"])[ok])
    a_mu, a_p = _pca(np.concatenate(aa).astype(np.float64), audio_pca)
    m_mu, m_p = _pca(np.concatenate(mm).astype(np.float64), mouth_pca)
    model = {"layer": layer, "a_mu": a_mu, "a_p": a_p, "m_mu": m_mu, "m_p": m_p}
    xs, ys = [], []
    for c in clips:
        x, y, ok = _reduced(model, c, feats)
        if ok.sum() >= 10:
            xs.append(x[ok])
            ys.append(y[ok])
    x, y = np.concatenate(xs), np.concatenate(ys)
    x, y = x - x.mean(0), y - y.mean(0)
    cxx, cyy, cxy = x.T @ x / len(x), y.T @ y / len(y), x.T @ y / len(x)
    cxx += reg * np.trace(cxx) / len(cxx) * np.eye(len(cxx))
    cyy += reg * np.trace(cyy) / len(cyy) * np.eye(len(cyy))

    def inv_sqrt(c: np.ndarray) -> np.ndarray:
        w, v = np.linalg.eigh(c)
        return (v / np.sqrt(np.maximum(w, 1e-12))) @ v.T

    ix, iy = inv_sqrt(cxx), inv_sqrt(cyy)
    u, s, vt = np.linalg.svd(ix @ cxy @ iy, full_matrices=False)
    model.update(wa=ix @ u, wv=iy @ vt.T, rho=s)
    return model


def _reduced(model: dict, clip: dict, feats: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    a = (centred(sound_of(clip, feats, model["layer"])) - model["a_mu"]) @ model["a_p"]
    m = (centred(clip["mouth"]) - model["m_mu"]) @ model["m_p"]
    return windows(a), windows(m, LIP_WINDOW), usable(clip)


def cca_streams(model: dict, clip: dict, feats: dict, k: int | None = None) -> Streams:  # type: ignore[type-arg]
    """(T, k) canonical sound and lip streams of a clip, and its face and speech frames."""
    k = k or COMPONENTS
    x, y, _ = _reduced(model, clip, feats)
    return (x @ model["wa"][:, :k], y @ model["wv"][:, :k], *masks(clip))


# ---- sync curves and their figures ---------------------------------------------------------

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


def figures(curve: np.ndarray, shift: int = 0) -> dict:  # type: ignore[type-arg]
    """Best offset (relative to the true one) and margin: the curve at the true offset less its
    best value 2 or more frames away from it (the true offset lies within the search window)."""
    k = int(np.nanargmax(curve)) - OFFSETS
    offs = np.arange(-OFFSETS, OFFSETS + 1)
    far = np.abs(offs - shift) >= 2
    true = curve[OFFSETS + shift]
    return {"offset": k - shift, "margin": float(true - np.nanmax(curve[far])),
            "margin_mean": float(true - np.nanmean(curve[far]))}


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    if not len(pos) or not len(neg):
        return float("nan")
    return float((pos[:, None] > neg[None]).mean() + 0.5 * (pos[:, None] == neg[None]).mean())


# ---- the first attempt: contrastive linear encoders ----------------------------------------

def train(clips: list[dict], feats: dict | None = None, layer: int | str = "mel",  # type: ignore[type-arg]
          epochs: int = 300, seed: int = 0):  # type: ignore[no-untyped-def]
    import torch

    torch.manual_seed(seed)
    data = []
    for c in clips:
        m, a, ok = prepared(c, feats, layer)
        t = np.where(ok)[0]
        t = t[(t >= OFFSETS) & (t < len(m) - OFFSETS)]
        if len(t):
            data.append((torch.from_numpy(m).float(), torch.from_numpy(a).float(), torch.from_numpy(t)))
    enc_v = torch.nn.Linear(data[0][0].shape[1], DIM)
    enc_a = torch.nn.Linear(data[0][1].shape[1], DIM)
    params = [*enc_v.parameters(), *enc_a.parameters()]
    opt = torch.optim.Adam(params, lr=3e-3, weight_decay=1e-3)
    # Global scales, so that both encoders see unit-sized input.
    sv = torch.cat([d[0] for d in data]).std() + 1e-6
    sa = torch.cat([d[1] for d in data]).std() + 1e-6
    for _ in range(epochs):
        loss = torch.zeros(())
        for m, a, t in data:
            v = torch.nn.functional.normalize(enc_v(m[t] / sv), dim=1)
            shifted_a = torch.stack([a[t + k] for k in range(-OFFSETS, OFFSETS + 1)], 1)  # (N, K, D)
            au = torch.nn.functional.normalize(enc_a(shifted_a / sa), dim=2)
            logits = 10.0 * (au * v[:, None, :]).sum(-1)
            loss = loss + torch.nn.functional.cross_entropy(
                logits, torch.full((len(t),), OFFSETS, dtype=torch.long))
        opt.zero_grad()
        (loss / len(data)).backward()
        opt.step()
    w = {"wv": enc_v.weight.detach().numpy() / float(sv), "bv": enc_v.bias.detach().numpy(),
         "wa": enc_a.weight.detach().numpy() / float(sa), "ba": enc_a.bias.detach().numpy(),
         "layer": layer}
    return w, float(loss.item()) / len(data)


def contrastive_streams(w: dict, clip: dict, feats: dict) -> Streams:  # type: ignore[type-arg]
    m, a, _ = prepared(clip, feats, w["layer"])
    return (a @ w["wa"].T + w["ba"], m @ w["wv"].T + w["bv"], *masks(clip))


# ---- evaluation ----------------------------------------------------------------------------

SHIFTS = (-5, -3, 3, 5)


def envelope_streams(clip: dict, feats: dict) -> Streams:  # type: ignore[type-arg]
    """The runtime's signals: speech envelope (dB) against mouth opening."""
    env = feats[clip_key(clip)]["env_db"][:, None]
    return (env, mouth_opening(clip["mouth"])[:, None], *masks(clip))


def envelope_score(clip: dict, feats: dict) -> float:  # type: ignore[type-arg]
    """The shipped ``lip-sync`` analyzer's score (0.5 where it abstains)."""
    from fakescope.analyzers.lipsync import LipSyncAnalyzer

    op = mouth_opening(clip["mouth"])
    series = SimpleNamespace(times=clip["times"], fps=1.0 / float(np.median(np.diff(clip["times"]))),
                             found=np.isfinite(op), mouth_opening=lambda: op)
    # The analyzer reads audio only through ``envelope``; give it the cached one.
    from fakescope.analyzers import lipsync

    env = feats[clip_key(clip)]["env_db"]
    real_envelope = lipsync.envelope
    lipsync.envelope = lambda *a, **k: env  # type: ignore[assignment]
    try:
        ev = LipSyncAnalyzer().analyze(SimpleNamespace(audio=np.ones(1), audio_rate=RATE, series=series))  # type: ignore[arg-type]
    finally:
        lipsync.envelope = real_envelope  # type: ignore[assignment]
    return 0.5 if ev.score is None else float(ev.score)


def judged(streams: Streams, clip: dict, cosine: bool = False) -> dict | None:  # type: ignore[type-arg]
    """Offset and margin of a clip as it is, and offsets found with its sound delayed by SHIFTS."""
    a, v, face, speech = streams
    curve, n = corr_curve(a, v, face, speech, cosine=cosine)
    if n < 10:
        return None
    row = {"n": n, **figures(curve), "curve": [round(float(x), 4) for x in curve]}
    for k in SHIFTS:
        ck, nk = corr_curve(a, v, face, speech, shift=k, cosine=cosine)
        row[f"offset@{k:+d}"] = figures(ck, shift=k)["offset"] if nk >= 10 else None
    return row


def evaluate(clips: list[dict], feats: dict, approach: str, protocol: str,  # type: ignore[type-arg]
             dubs: list[dict] | None = None) -> list[dict]:  # type: ignore[type-arg]
    """Rows per clip, each scored by a model that never trained on it (nor, for a pseudo-dub,
    on its source).

    approach: ``envelope``, ``cca:<layer>``, ``contrastive:<layer>`` (layer ``mel`` or 0-4).
    protocol: ``loco`` (each real clip by a model trained on every other real clip; generated
    clips by the model of all real clips) or ``set`` (a set's clips by the model of the
    other sets' real clips)."""
    reals = [c for c in clips if c["label"] == 0]
    kind, _, layer_s = approach.partition(":")
    layer: int | str = layer_s if layer_s in ("", "mel") else int(layer_s)
    dubs = dubs or []
    source_of = {clip_key(d): d["source_key"] for d in dubs}

    def held_for(c: dict) -> tuple[str, ...]:  # type: ignore[type-arg]
        """What the model judging ``c`` must not have trained on."""
        if protocol == "set":
            s = c["set"] if "source_key" not in c else next(
                (r["set"] for r in reals if clip_key(r) == c["source_key"]), c["set"])
            return tuple(sorted(clip_key(r) for r in reals if r["set"] == s))
        own = source_of.get(clip_key(c), clip_key(c))
        return (own,) if any(clip_key(r) == own for r in reals) else ()

    models: dict[tuple[str, ...], object] = {}
    rows = []
    for c in [*clips, *dubs]:
        if kind == "envelope":
            r = judged(envelope_streams(c, feats), c)
            if r is not None:
                r["analyzer_score"] = envelope_score(c, feats)
        else:
            held = held_for(c)
            if held not in models:
                train_on = [r for r in reals if clip_key(r) not in held]
                models[held] = (fit_cca(train_on, feats, layer) if kind == "cca"
                                else train(train_on, feats, layer)[0])
            m = models[held]
            if kind == "cca":
                r = judged(cca_streams(m, c, feats), c)  # type: ignore[arg-type]
            else:
                r = judged(contrastive_streams(m, c, feats), c, cosine=True)  # type: ignore[arg-type]
        if r is not None:
            rows.append({"set": c["set"], "file": c["file"], "key": clip_key(c), "label": c["label"],
                         "method": c.get("method", ""),
                         "dub": "source_key" in c, "source": c.get("source_key"), **r})
    return rows


def summary(rows: list[dict]) -> dict:  # type: ignore[type-arg]
    real = [r for r in rows if r["label"] == 0 and not r["dub"]]
    out: dict = {"real_n": len(real)}  # type: ignore[type-arg]
    out["within1"] = float(np.mean([abs(r["offset"]) <= 1 for r in real])) if real else float("nan")
    for k in SHIFTS:
        got = [r[f"offset@{k:+d}"] for r in real if r[f"offset@{k:+d}"] is not None]
        out[f"exact@{k:+d}"] = float(np.mean([g == 0 for g in got])) if got else float("nan")
        out[f"within1@{k:+d}"] = float(np.mean([abs(g) <= 1 for g in got])) if got else float("nan")
        out[f"n@{k:+d}"] = len(got)
    for s in sorted({r["set"] for r in rows if not r["dub"]}):
        pos = [r for r in rows if r["set"] == s and r["label"] == 1 and not r["dub"]]
        neg = [r for r in real if r["set"] == s]
        out[f"auc_{s}"] = auc([-r["margin"] for r in pos], [-r["margin"] for r in neg])
        out[f"auc_mean_{s}"] = auc([-r["margin_mean"] for r in pos], [-r["margin_mean"] for r in neg])
        if "analyzer_score" in (pos[:1] or [{}])[0]:
            out[f"auc_analyzer_{s}"] = auc([r["analyzer_score"] for r in pos],
                                           [r["analyzer_score"] for r in neg])
        out[f"n_{s}"] = f"{len(pos)} gen / {len(neg)} real"
    # Pseudo-dubs against their sources: as re-encoded beside them (the dubs folder's real rows)
    # and as in the real sets; only sources that have a pseudo-dub scored.
    dubs = [r for r in rows if r["dub"] and r["label"] == 1]
    srcs = {r["source"] for r in dubs}
    for name, neg in (("dub", [r for r in rows if r["dub"] and r["label"] == 0 and r["source"] in srcs]),
                      ("dub_orig", [r for r in real if r["key"] in srcs])):
        for method in [*sorted({r["method"] for r in dubs}), "all"]:
            pos = [r for r in dubs if method in ("all", r["method"])]
            tag = f"{name}:{method}"
            out[f"auc_{tag}"] = auc([-r["margin"] for r in pos], [-r["margin"] for r in neg])
            if pos and "analyzer_score" in pos[0]:
                out[f"auc_analyzer_{tag}"] = auc([r["analyzer_score"] for r in pos],
                                                 [r["analyzer_score"] for r in neg])
            out[f"n_{tag}"] = f"{len(pos)} dubs / {len(neg)} sources"
    return out


def load_dubs(folder: Path, clips: list[dict], cache: Path) -> list[dict]:  # type: ignore[type-arg]
    """Pseudo-dubs (``labels.csv`` rows whose method starts with pseudo-dub) and the re-encoded
    sources beside them (real rows), each tied to its source in the real sets (column
    ``source``: set/file)."""
    if not (folder / "labels.csv").is_file():
        return []
    # Only sources with speech enough to be judged (the rest would be skipped anyway).
    known = {clip_key(c): c for c in clips if usable(c).sum() >= 10 + 2 * OFFSETS}
    got = capture([folder], only_real=False, cache=cache,
                  want=lambda row: any(k.endswith("/" + (row.get("source") or "?").strip()) for k in known))
    dubs = []
    for d in got:
        if d["label"] and not str(d.get("method", "")).startswith("pseudo-dub"):
            continue
        src = (d["row"].get("source") or "").strip()
        match = [k for k in known if src and (k == src or k.endswith("/" + src))]
        if len(match) != 1:
            print(f"dub {d['file']}: source {src!r} not among the real clips; skipped")
            continue
        dubs.append({**d, "source_key": match[0]})
    return dubs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--real", type=Path, action="append", required=True)
    ap.add_argument("--dubs", type=Path, default=None,
                    help="folder with pseudo-dubs (labels.csv, column source)")
    ap.add_argument("--out", type=Path, default=Path("runs/sync2"))
    ap.add_argument("--approach", action="append", default=None,
                    help="envelope, cca:<layer>, contrastive:<layer> (layer mel or 0-4); repeatable")
    ap.add_argument("--protocol", action="append", default=None, help="loco and/or set")
    ap.add_argument("--save", default="cca:3", help="approach whose all-real-clips model is written")
    args = ap.parse_args()
    old = Path("runs/sync/clips.pkl")
    cache = args.out / "clips.pkl"
    if not cache.is_file() and old.is_file():  # the first attempt's capture
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(old.read_bytes())
    clips = capture(args.real, only_real=False, cache=cache)
    clips = [c for c in clips if Path(c["folder"]) in args.real]
    dubs = load_dubs(args.dubs, clips, args.out / "dubs.pkl") if args.dubs else []
    feats = sound_features([*clips, *dubs], args.out / "sound.pkl")
    reals = [c for c in clips if c["label"] == 0]
    print(f"{len(clips)} clips with sound, {len(reals)} real, {len(dubs)} pseudo-dubs")
    approaches = args.approach or ["envelope", "cca:mel", "cca:1", "cca:2", "cca:3", "cca:4"]
    protocols = args.protocol or ["loco", "set"]
    results = {}
    for ap_name in approaches:
        for prot in protocols if ap_name != "envelope" else ["-"]:
            rows = evaluate(clips, feats, ap_name, prot, dubs)
            s = summary(rows)
            results[f"{ap_name} {prot}"] = {"summary": s, "rows": rows}
            print(f"{ap_name:16s} {prot:4s} " + "  ".join(
                f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in s.items()), flush=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    kind, _, layer = args.save.partition(":")
    if kind == "cca":
        m = fit_cca(reals, feats, layer if layer == "mel" else int(layer))
        np.savez(args.out / "sync.npz", **{k: np.asarray(v) for k, v in m.items()})
        print(f"wrote {args.out / 'sync.npz'} ({args.save}, all {len(reals)} real clips)")


if __name__ == "__main__":
    main()
