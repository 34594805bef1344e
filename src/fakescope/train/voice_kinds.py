"""The voice model's trace-kind heads: vocoder/codec-like, prosody, spectrum.

Each kind is a linear head on the same pooled encoder features the score head reads, fitted
on pairs of recordings that differ in that kind of trace only (``analyzers/voice_traces``):

- ``vocoder``: real clips against their HiFi-GAN twins (``synth.vocoder``);
- ``prosody``: WORLD re-syntheses against the same with a TTS-like pitch contour;
- ``spectrum``: WORLD re-syntheses against the same with a TTS-like (over-smoothed) envelope.

No clip of any TTS or conversion system is a training example of a kind head, so its
held-out AUC on the demo pages' clones measures how much of that kind of trace unseen
systems leave. Folds are the score head's (a page family, its clips and every twin and pair
made from them held out together). Calibration: the slope of Platt scaling on the
out-of-fold pair logits, and the intercept that puts 0.5 at the 95th percentile of the
out-of-fold logits of real speech windows (clean and channel copies): a kind "fires"
(probability 0.5 or more) only where a window carries more of that trace than 95 % of real
speech does, whatever the pairs' own balance.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from fakescope.analyzers.voice_traces import KINDS
from fakescope.evaluation.calibration import fit_platt
from fakescope.evaluation.metrics import auc
from fakescope.train.logistic import balanced_weights, fit_logistic

log = logging.getLogger("fakescope.train")

REAL_FIRES = 0.05  # share of real speech windows in which a kind may fire

PAIRS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # kind: (systems of the plain side, systems of the edited side); "bonafide" = real clips
    "vocoder": (("bonafide",), ("resynth:hifigan", "resynth:hifigan_tokens")),
    "prosody": (("kind:world",), ("kind:world_prosody",)),
    "spectrum": (("kind:world",), ("kind:world_spectrum",)),
}


def pair_rows(corpus: Any, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Windows of ``kind``'s pairs (clean and channel copies) and their labels (1: edited side)."""
    plain, edited = PAIRS[kind]
    systems = np.array([c.system for c in corpus.clips])  # "bonafide" is the system of real clips only
    side = np.where(np.isin(systems, edited), 1, np.where(np.isin(systems, plain), 0, -1))
    rows = np.flatnonzero(side[corpus.feats.clip] >= 0)
    return rows, side[corpus.feats.clip[rows]].astype(np.float64)


Linear = tuple[np.ndarray, np.ndarray, np.ndarray, float]  # mu, sd, w, b


def fit_linear(x: np.ndarray, y: np.ndarray, l2: float = 3e-2) -> Linear:
    """Class-balanced logistic regression on standardised ``x``: (mu, sd, w, b); ``l2`` per coefficient."""
    mu, sd = x.mean(0), x.std(0) + 1e-4
    w, b = fit_logistic((x - mu) / sd, y, balanced_weights(y), l2 / x.shape[1])
    return mu, sd, w, b


def linear_logits(head: Linear, x: np.ndarray) -> np.ndarray:
    mu, sd, w, b = head
    return ((x.astype(np.float64) - mu) / sd) @ w + b


def kind_heads(corpus: Any, folds: np.ndarray) -> dict[str, dict[str, Any]]:
    """Per kind: held-out figures, calibration and the head fitted on every pair."""
    f = corpus.feats
    win_fold = folds[f.clip]
    x = f.full
    corp = np.array([c.corpus for c in corpus.clips])
    real_media = np.isin(corp, ("tts", "pages", "vc", "librispeech"))
    out: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        rows, y = pair_rows(corpus, kind)
        if len(set(y.tolist())) < 2:
            raise ValueError(f"no {kind} pairs in the corpus: build it with --vocoder")
        oof_pair = np.full(len(rows), np.nan)
        oof_media = np.full(len(f.clip), np.nan)
        for k in range(len(corpus.pages)):
            tr = win_fold[rows] != k
            head = fit_linear(x[rows[tr]].astype(np.float64), y[tr])
            te = ~tr & (win_fold[rows] == k)
            oof_pair[te] = linear_logits(head, x[rows[te]])
            media = np.flatnonzero((win_fold == k) & real_media[f.clip])
            oof_media[media] = linear_logits(head, x[media])
        ok = ~np.isnan(oof_pair)
        a, _ = fit_platt(oof_pair[ok], y[ok], balanced=True)
        m = ~np.isnan(oof_media)
        lab = corpus.label[f.clip[m]]
        b = -a * float(np.percentile(oof_media[m][lab == 0], 100 * (1 - REAL_FIRES)))
        src = corp[f.clip[m]]
        clones = {name: round(auc(lab[s], oof_media[m][s]), 3)
                  for name, s in (("pages", src == "pages"), ("tts", src == "tts"), ("vc", src == "vc"))
                  if len(set(lab[s].tolist())) == 2}
        p = 1 / (1 + np.exp(-(a * oof_media[m] + b)))
        out[kind] = {
            "pair_auc": round(auc(y[ok], oof_pair[ok]), 3),
            "clone_auc": clones,
            "fires_on_real_windows": round(float(np.mean(p[lab == 0] >= 0.5)), 3),
            "fires_on_clone_windows": round(float(np.mean(p[lab == 1] >= 0.5)), 3),
            "calibration": (float(a), float(b)),
            "head": fit_linear(x[rows].astype(np.float64), y),
        }
        log.info("kind %s: pair AUC %.3f, unseen clones %s, fires on %.1f %% of real windows", kind,
                 out[kind]["pair_auc"], clones, 100 * out[kind]["fires_on_real_windows"])
    return out


__all__ = ["PAIRS", "kind_heads", "linear_logits"]
