"""The audio-visual sync model, learned without labels from real clips.

Self-supervised: at each moment of a real clip with speech, the lips and the sound of
that moment belong together, and the sound from a fraction of a second earlier or later
does not. Two small linear encoders (a 5-frame window of lip shape, a 5-frame window of
sound, below) are trained so that the true offset wins among
OFFSETS shifted ones. No fake clip is ever seen in training.

    python -m fakescope.train.sync --real ../shared/data/video/dev \
        --real ../shared/data/video/gen2 --out runs/sync

Not shipped yet (docs/metrics.md, "Video"): trained on one dev set's 15-23 real clips with
speech and judged on the other's, it put half of the real clips' best offset 2 or more
frames away and found the audio-driven fakes *better* in step than real speakers (AUC of
its margin 0.30), so `lip-sync` keeps the envelope correlation. It needs many more real
talking clips than the shared data holds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from fakescope.analyzers.whisper_mel import HOP, RATE, log_mel
from fakescope.faces.landmark_series import LIPS_OUTER

# What the model reads per dense video frame: the lips' shape (40 landmarks around the
# mouth's centre, eyes levelled, per eye distance) and the sound (Whisper's log-mel pooled
# into 20 bands, over the 80 ms around the frame); both centred per clip, so a person's
# resting lip shape and a recording's colouring do not count.
LIPS_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
LIPS = LIPS_OUTER + LIPS_INNER
AUDIO_BANDS = 20
AUDIO_HALF_S = 0.04


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


def capture(folders: list[Path], only_real: bool, cache: Path) -> list[dict]:  # type: ignore[type-arg]
    """Dense lip shape and sound of every clip with sound (one normal scan each)."""
    import pickle

    from fakescope.analyzers.base import Evidence, VideoItem
    from fakescope.config import ProvenanceSettings, ScanSettings
    from fakescope.datasets import read_labels
    from fakescope.progress import progress_iter
    from fakescope.scan.scanner import Scanner

    if cache.is_file():
        return pickle.loads(cache.read_bytes())

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
    out = []
    items = [(f, it) for f in folders for it in read_labels(f) if not (only_real and it.label)]
    for folder, it in progress_iter(items, "clips"):
        cap.got = None
        scanner.scan(it.path, it.file)
        if cap.got is not None:
            out.append({"set": folder.name, "file": it.file, "label": it.label, "group": it.group, **cap.got})
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(pickle.dumps(out))
    return out


def speech_frames(audio: np.ndarray) -> np.ndarray:
    """Frames louder than the clip's quiet part by a margin (an energy voice detector)."""
    e = audio.mean(axis=1)
    lo, hi = np.percentile(e, 10), np.percentile(e, 95)
    return e > lo + 0.35 * (hi - lo) if hi - lo > 0.3 else np.zeros(len(e), bool)


def prepared(clip: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    m, a = centred(clip["mouth"]), centred(clip["audio"])
    ok = np.isfinite(clip["mouth"]).all(axis=1) & speech_frames(clip["audio"])
    return windows(m), windows(a), ok


def train(clips: list[dict], epochs: int = 300, seed: int = 0):  # type: ignore[no-untyped-def, type-arg]
    import torch

    torch.manual_seed(seed)
    enc_v = torch.nn.Linear(WINDOW * 2 * len(LIPS), DIM)
    enc_a = torch.nn.Linear(WINDOW * AUDIO_BANDS, DIM)
    params = [*enc_v.parameters(), *enc_a.parameters()]
    opt = torch.optim.Adam(params, lr=3e-3, weight_decay=1e-3)
    data = []
    for c in clips:
        m, a, ok = prepared(c)
        t = np.where(ok)[0]
        t = t[(t >= OFFSETS) & (t < len(m) - OFFSETS)]
        if len(t):
            data.append((torch.from_numpy(m).float(), torch.from_numpy(a).float(), torch.from_numpy(t)))
    # Global scales, so that both encoders see unit-sized input.
    sv = torch.cat([d[0] for d in data]).std() + 1e-6
    sa = torch.cat([d[1] for d in data]).std() + 1e-6
    for _ in range(epochs):
        loss = torch.zeros(())
        for m, a, t in data:
            v = torch.nn.functional.normalize(enc_v(m[t] / sv), dim=1)
            shifted = torch.stack([a[t + k] for k in range(-OFFSETS, OFFSETS + 1)], 1)  # (N, K, D)
            au = torch.nn.functional.normalize(enc_a(shifted / sa), dim=2)
            logits = 10.0 * (au * v[:, None, :]).sum(-1)
            loss = loss + torch.nn.functional.cross_entropy(
                logits, torch.full((len(t),), OFFSETS, dtype=torch.long))
        opt.zero_grad()
        (loss / len(data)).backward()
        opt.step()
    w = {"wv": enc_v.weight.detach().numpy() / float(sv), "bv": enc_v.bias.detach().numpy(),
         "wa": enc_a.weight.detach().numpy() / float(sa), "ba": enc_a.bias.detach().numpy()}
    return w, float(loss.item()) / len(data)


def sync_curve(w: dict, clip: dict) -> tuple[np.ndarray, int]:  # type: ignore[type-arg]
    """Mean cosine similarity of lips and sound at each offset, over speech frames."""
    m, a, ok = prepared(clip)
    v = m @ w["wv"].T + w["bv"]
    au = a @ w["wa"].T + w["ba"]
    v /= np.linalg.norm(v, axis=1, keepdims=True) + 1e-9
    au /= np.linalg.norm(au, axis=1, keepdims=True) + 1e-9
    t = np.where(ok)[0]
    t = t[(t >= OFFSETS) & (t < len(m) - OFFSETS)]
    if len(t) < 10:
        return np.full(2 * OFFSETS + 1, np.nan), len(t)
    return np.array([float(np.mean((v[t] * au[t + k]).sum(1))) for k in range(-OFFSETS, OFFSETS + 1)]), len(t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--real", type=Path, action="append", required=True)
    ap.add_argument("--out", type=Path, default=Path("runs/sync"))
    args = ap.parse_args()
    clips = capture(args.real, only_real=False, cache=args.out / "clips.pkl")
    reals = [c for c in clips if c["label"] == 0]
    print(f"{len(clips)} clips with sound, {len(reals)} real")
    # Held out by set: train on one set's real clips, judge the other set's clips.
    pooled = []
    for held in sorted({c["set"] for c in clips}):
        w, loss = train([c for c in reals if c["set"] != held])
        rows = []
        for c in clips:
            if c["set"] != held:
                continue
            curve, n = sync_curve(w, c)
            if n < 10:
                continue
            k = int(np.nanargmax(curve)) - OFFSETS
            far = np.r_[curve[:OFFSETS - 2], curve[OFFSETS + 3:]]
            rows.append((c["label"], c["file"], float(curve[OFFSETS] - far.mean()), k))
        print(f"held-out {held}: train loss {loss:.3f}")
        for lab, f, margin, k in sorted(rows):
            print(f"  {lab} {f:50s} margin {margin:+.3f} offset {k:+d}")
        pooled += rows
    y = np.array([r[0] for r in pooled])
    low_margin = -np.array([r[2] for r in pooled])
    far = np.array([abs(r[3]) for r in pooled])

    def auc(s: np.ndarray) -> float:
        p, n = s[y == 1], s[y == 0]
        return float((p[:, None] > n[None]).mean() + 0.5 * (p[:, None] == n[None]).mean())

    print(f"held out, pooled: real clips with best offset >= 2 frames {int((far[y == 0] >= 2).sum())}"
          f"/{int((y == 0).sum())}, fakes {int((far[y == 1] >= 2).sum())}/{int((y == 1).sum())}; "
          f"AUC of low margin {auc(low_margin):.2f}, of large offset {auc(far.astype(float)):.2f}")
    w, loss = train(reals)
    np.savez(args.out / "sync.npz", **w)
    print(f"all reals: loss {loss:.3f}; wrote {args.out / 'sync.npz'}")


if __name__ == "__main__":
    main()
