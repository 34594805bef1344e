"""Study: can separate detectors name the kind of trace in a voice clone?

Question: three linear "kind" heads, fitted and measured with the voice model's own folds
(a page family, its real clips, its systems and their vocoder twins held out together):
``vocoder`` on the pooled encoder features, trained only on real clips against their
re-syntheses (no TTS clip ever a training example); ``prosody`` on 14 pitch/loudness
movement numbers; ``spectrum`` on 51 spectral-shape numbers. Do they rank the demo pages'
unseen clones?

Command: python research/voice_kind_heads.py --pages DATA/speech-pages \
    [--vocoder runs/vocoder/hifigan-universal.onnx]

Answer (docs/metrics.md, "What kind of trace"; measured without --vocoder, so the
``vocoder`` head saw WORLD, Griffin-Lim and pitch-shift re-syntheses): no — held-out window
AUC on the pages 0.425, 0.461, 0.503 (speech/tts 0.462, 0.536, 0.581). The shipped kinds
(``fakescope.analyzers.voice_traces``) are heads on the voice model's own features fitted
on controlled pairs instead.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from fakescope.analyzers.speech import FRAME_S, NFFT, RATE, fit_window, frame_facts, power_spectrum
from fakescope.evaluation.calibration import fit_platt
from fakescope.evaluation.metrics import auc
from fakescope.train.logistic import fit_logistic
from fakescope.train.voice_corpus import CORPUS_VERSION, cached_prefix, load_versions, speech_windows

KINDS = ("vocoder", "prosody", "spectrum")

_BANDS = 24
_EDGES = np.linspace(1, NFFT // 2 + 1, _BANDS + 1).astype(int)
_HI = int(4000 / (RATE / NFFT))


def _semitones(f0: np.ndarray) -> np.ndarray:
    return 12 * np.log2(np.maximum(f0, 1.0) / 100.0)


def _runs(mask: np.ndarray) -> list[int]:
    out, k = [], 0
    for v in mask:
        if v:
            k += 1
        elif k:
            out.append(k)
            k = 0
    if k:
        out.append(k)
    return out


def prosody_features(x: np.ndarray) -> np.ndarray:
    """14 numbers on pitch and loudness movement in one 2 s window (no absolute pitch or level:
    they say who speaks and how loud the file is, not how it was made)."""
    x = fit_window(x)
    ff = frame_facts(power_spectrum(x))
    act, vo = ff.active, ff.voiced
    st = _semitones(ff.f0)
    v_st = st[vo]
    # Pitch steps only between neighbouring voiced frames (a gap resets the contour).
    both = vo[1:] & vo[:-1]
    d = np.diff(st)[both]
    dd = np.diff(st, 2)[both[1:] & both[:-1]] if len(both) > 1 else np.zeros(0)
    e = ff.db[act]
    de = np.diff(ff.db)[act[1:] & act[:-1]]
    runs = _runs(vo)
    dur = len(vo) * FRAME_S

    def stat(a: np.ndarray, f, default: float = 0.0) -> float:  # type: ignore[no-untyped-def]
        return float(f(a)) if len(a) > 1 else default

    return np.array([
        vo.sum() / max(act.sum(), 1),
        stat(v_st, np.std),
        stat(v_st, lambda a: np.percentile(a, 90) - np.percentile(a, 10)),
        stat(d, lambda a: np.mean(np.abs(np.clip(a, -6, 6)))),
        stat(d, lambda a: np.std(np.clip(a, -6, 6))),
        stat(dd, lambda a: np.mean(np.abs(np.clip(a, -6, 6)))),
        stat(ff.periodic[vo], np.median),
        stat(ff.periodic[vo], np.std),
        stat(e, np.std),
        stat(de, lambda a: np.mean(np.abs(a))),
        stat(de, np.std),
        len(runs) / dur,
        float(np.mean(runs)) * FRAME_S if runs else 0.0,
        1.0 - act.mean(),
    ], np.float32)


def spectrum_features(x: np.ndarray) -> np.ndarray:
    """51 numbers on spectral shape over the window's active frames: 24 band levels relative
    to their mean, 24 bands' movement over time, upper-band flatness, roll-off, tilt."""
    x = fit_window(x)
    power = power_spectrum(x)
    ff = frame_facts(power)
    p = power[ff.active] if ff.active.sum() >= 5 else power
    bands = np.stack([p[:, a:b].sum(1) for a, b in itertools.pairwise(_EDGES)], 1) + 1e-10
    lb = 10 * np.log10(bands)
    level = lb.mean(0)
    hi = p[:, _HI:] + 1e-12
    flat_hi = float(np.mean(np.exp(np.log(hi).mean(1)) / hi.mean(1)))
    cum = np.cumsum(p.sum(0))
    roll = float(np.searchsorted(cum, 0.99 * cum[-1])) / len(cum)
    tilt = float(np.polyfit(np.arange(_BANDS), level, 1)[0])
    return np.concatenate([level - level.mean(), lb.std(0), [flat_hi, roll, tilt]]).astype(np.float32)



log = logging.getLogger("fakescope.research")


def hand_features(corpus: Any, cache_dir: Path) -> dict[str, np.ndarray]:
    """Prosody and spectrum features of every speech window, rows aligned with ``corpus.feats``."""
    stem = f"traces-v{CORPUS_VERSION}"
    path = cache_dir / f"{stem}-{len(corpus.clips)}.npz"
    if path.is_file():
        with np.load(path) as z:
            return {"prosody": z["prosody"], "spectrum": z["spectrum"]}
    pro: list[np.ndarray] = []
    spe: list[np.ndarray] = []
    start = 0
    prefix = cached_prefix(corpus.clips, cache_dir, stem)
    if prefix is not None:
        with np.load(prefix[0]) as z:
            pro, spe, start = [z["prosody"]], [z["spectrum"]], prefix[1]
    t0 = time.time()
    for i, c in enumerate(corpus.clips[start:], start):
        for x in load_versions(cache_dir, c):
            ws = speech_windows(x)
            if ws:
                pro.append(np.stack([prosody_features(w) for w in ws]))
                spe.append(np.stack([spectrum_features(w) for w in ws]))
        if i % 500 == 0:
            log.info("trace features: %d/%d clips (%.0f s)", i, len(corpus.clips), time.time() - t0)
    out = {"prosody": np.concatenate(pro), "spectrum": np.concatenate(spe)}
    if len(out["prosody"]) != len(corpus.feats.clip):
        raise RuntimeError("trace features do not line up with the encoder features' windows")
    np.savez(path, **out)
    return out


def _fit_linear(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = 1e-2, steps: int = 300,
                ) -> tuple[np.ndarray, float]:
    """Weighted logistic regression on standardised ``x`` (full-batch L-BFGS)."""
    return fit_logistic(x, y, w, l2, steps)


def _rows_and_labels(corpus: Any, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Training windows for ``kind`` and their labels."""
    clips = corpus.clips
    lab = corpus.label[corpus.feats.clip]
    if kind == "vocoder":
        ok = np.array([c.label == 0 or c.system.startswith("resynth:") for c in clips])
    else:
        ok = np.ones(len(clips), bool)
    rows = np.flatnonzero(ok[corpus.feats.clip])
    return rows, lab[rows]


def _balanced(corpus: Any, rows: np.ndarray) -> np.ndarray:
    from fakescope.train.voice import _clip_weights

    clip_of = corpus.feats.clip[rows]
    uniq = np.unique(clip_of)
    cw = dict(zip(uniq.tolist(), _clip_weights(corpus, uniq).tolist(), strict=True))
    per_clip = np.bincount(clip_of, minlength=len(corpus.clips))
    return np.array([cw[c] / per_clip[c] for c in clip_of])


def _matrix(corpus: Any, hand: dict[str, np.ndarray], kind: str) -> np.ndarray:
    return corpus.feats.full if kind == "vocoder" else hand[kind]


def fit_kind(corpus: Any, hand: dict[str, np.ndarray], kind: str, rows: np.ndarray) -> dict[str, Any]:
    x = _matrix(corpus, hand, kind)[rows].astype(np.float64)
    mu, sd = x.mean(0), x.std(0) + 1e-4
    lab = corpus.label[corpus.feats.clip[rows]].astype(np.float64)
    w, b = _fit_linear((x - mu) / sd, lab, _balanced(corpus, rows))
    return {"mu": mu, "sd": sd, "w": w, "b": b}


def head_logits(head: dict[str, Any], x: np.ndarray) -> np.ndarray:
    return ((x.astype(np.float64) - head["mu"]) / head["sd"]) @ head["w"] + head["b"]


def lopo_traces(corpus: Any, hand: dict[str, np.ndarray], folds: np.ndarray, versions: tuple[int, ...] = (0,),
                ) -> dict[str, Any]:
    """Each kind fitted with a page family held out, its windows scored; per kind: held-out
    window AUC on demo-page and shared-TTS clips, the Platt calibration of those logits."""
    from fakescope.train.voice import _real_source

    f = corpus.feats
    win_fold = folds[f.clip]
    systems = np.array([c.system for c in corpus.clips])
    testable = np.array([c.corpus != "pseudo" for c in corpus.clips])
    out: dict[str, Any] = {}
    for kind in KINDS:
        rows_all, _ = _rows_and_labels(corpus, kind)
        oof = np.full(len(f.clip), np.nan)
        for k, page in enumerate(corpus.pages):
            held = {c.system for c in corpus.clips
                    if c.page == page and c.label == 1 and c.corpus != "pseudo"}
            tr = rows_all[(win_fold[rows_all] != k) & ~np.isin(systems[f.clip[rows_all]], sorted(held))]
            te = np.flatnonzero((win_fold == k) & testable[f.clip] & np.isin(f.version, versions))
            oof[te] = head_logits(fit_kind(corpus, hand, kind, tr), _matrix(corpus, hand, kind)[te])
        done = np.flatnonzero(~np.isnan(oof))
        y = corpus.label[f.clip[done]]
        a, c = fit_platt(oof[done], y, balanced=True)
        src = np.array([corpus.clips[i].corpus for i in f.clip[done]])
        per = {name: round(auc(y[m], oof[done][m]), 3)
               for name, m in (("pages", src == "pages"), ("tts", src == "tts"), ("vc", src == "vc"))
               if len(set(y[m])) == 2}
        p = 1 / (1 + np.exp(-(a * oof[done] + c)))
        fired: dict[str, list[bool]] = {}
        for i in np.flatnonzero(y == 0):
            fired.setdefault(_real_source(corpus.clips[f.clip[done[i]]]), []).append(bool(p[i] >= 0.5))
        out[kind] = {"auc": per, "platt": (float(a), float(c)),
                     "real_windows_fired": {s: round(float(np.mean(v)), 3) for s, v in sorted(fired.items())},
                     "fake_windows_fired": round(float(np.mean(p[y == 1] >= 0.5)), 3)}
        log.info("trace kind %s: held-out window AUC %s", kind, per)
    return out


def main() -> None:
    from fakescope.train.voice import VoiceConfig, fold_of, load_corpus

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data/speech"))
    ap.add_argument("--pages", type=Path, required=True)
    ap.add_argument("--cache", type=Path, default=Path("runs/voice-cache"))
    ap.add_argument("--vocoder", type=Path)
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    cfg = VoiceConfig(data_dir=a.data, pages_dir=a.pages, cache_dir=a.cache, vocoder=a.vocoder)
    corpus = load_corpus(cfg)
    print(json.dumps(lopo_traces(corpus, hand_features(corpus, cfg.cache_dir), fold_of(corpus)), indent=1))


if __name__ == "__main__":
    main()
