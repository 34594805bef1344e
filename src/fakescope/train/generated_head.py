"""The generated-image head: a logistic regression on frozen CLIP features, and the honest
estimate of how it does on sources it never saw (issue 26).

Features per picture (``SPEC``): the class token and the mean patch token of CLIP ViT-B/16
blocks 4-11 (each scaled to unit length; ``models.clip``) and the trace model's mean crop
logit (``generated.onnx``), computed by ``scripts/picture_features.py`` after the hidden
sets' channel. Each picture is weighed by its source's size ** -``BALANCE`` in the fit, so
that a few large sources do not make the head theirs.

The estimate holds out whole *source repositories*, a page's fakes and its reals together:
every source is in one of K folds (each fold with both classes), a head is fitted on the
other folds, and the held-out fold is scored. Per source: the AUC of its fakes against the
reals held out with them, and the share of its reals above the threshold that keeps
``fpr`` of the *training* sources' reals above it (their scores also held out by source,
in an inner split, as the shipped threshold is fitted), i.e. what a threshold fitted on
our data does to a new source. The draw of the folds is repeated and averaged.

    fakescope train generated-head --features runs/pic-features.npz --features runs/pic-layers.npz \\
        --out src/fakescope/models/weights
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from fakescope.evaluation.metrics import auc
from fakescope.models.card import FusionCard, FusionParams
from fakescope.models.clip import SHA256 as CLIP_SHA256

# The shipped reading (docs/metrics.md, "Which features"): CLIP blocks 4-11's class and mean
# patch tokens, then the trace score; sources weighed by n ** -BALANCE in the fit.
SPEC = "clip_layers@4-11+clip_patch_layers@4-11+gen_mean"
BALANCE = 0.5
PEOPLE = ("people", "portrait", "face")
L2 = 1.0
MIN_REALS = 20
# The verdict's `fake` threshold keeps this share of held-out real pictures above it: 2 %,
# not 5 %, because false alarms gather in a few sources (retouched portraits): at 5 %, 8 of
# 37 real sources were over 5 %; at 2 %, 2 (docs/metrics.md).
FPR = 0.02


def load(paths: Iterable[Path]) -> dict[str, np.ndarray]:
    """Feature files of the same pictures joined by key (pictures present in every file)."""
    parts = [dict(np.load(p, allow_pickle=True)) for p in paths]
    keys = [str(k) for k in parts[0]["keys"]]
    common = set(keys)
    for p in parts[1:]:
        common &= {str(k) for k in p["keys"]}
    out: dict[str, np.ndarray] = {}
    for p in parts:
        index = {str(k): i for i, k in enumerate(p["keys"])}
        take = np.array([index[k] for k in keys if k in common])
        for name, arr in p.items():
            out.setdefault(name, arr[take])
    if "gen" in out:
        out["gen_mean"] = out["gen"][:, :1]
    return out


def unit_blocks(x: np.ndarray) -> np.ndarray:
    """(N, blocks, dim) -> each block's vector scaled to unit length, flattened."""
    x = x.astype(np.float64)
    return (x / np.linalg.norm(x, axis=-1, keepdims=True).clip(1e-6)).reshape(len(x), -1)


def design(data: dict[str, np.ndarray], spec: str = SPEC) -> np.ndarray:
    """Columns for a spec like ``clip+gen`` or ``clip_layers@4-11`` (blocks 4 to 11)."""
    cols = []
    for name in spec.split("+"):
        name, _, blocks = name.partition("@")
        x = data[name]
        if blocks:
            lo, _, hi = blocks.partition("-")
            cols.append(unit_blocks(x[:, int(lo): int(hi or lo) + 1]))
        elif name in ("clip", "clip_native"):  # embeddings are compared by direction
            x = x.astype(np.float64)
            cols.append(x / np.linalg.norm(x[:, :512], axis=1, keepdims=True).clip(1e-6))
        else:
            cols.append(x.astype(np.float64).reshape(len(x), -1))
    return np.concatenate(cols, axis=1)


def source_weights(src: np.ndarray, balance: float) -> np.ndarray:
    """Per-picture weights ``n_source ** -balance``: 0 weighs pictures alike, 1 sources alike."""
    _, inverse, counts = np.unique(src, return_inverse=True, return_counts=True)
    return counts[inverse].astype(np.float64) ** -balance


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2,
                 weight: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression on standardised columns, both classes weighed
    equally (L-BFGS)."""
    from scipy.optimize import minimize

    wt = np.ones(len(y)) if weight is None else weight
    sw = np.where(y == 1, 0.5 * wt / max(1e-12, wt[y == 1].sum()), 0.5 * wt / max(1e-12, wt[y == 0].sum()))

    def f(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:-1], theta[-1]
        p = 1 / (1 + np.exp(-np.clip(x @ w + b, -30, 30)))
        loss = -(sw * (y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))).sum() + 0.5 * l2 * w @ w
        g = sw * (p - y)
        return float(loss), np.concatenate([x.T @ g + l2 * w, [g.sum()]])

    res = minimize(f, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return res.x[:-1], float(res.x[-1])


def fit_scorer(x: np.ndarray, y: np.ndarray, l2: float = L2,
               weight: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Coefficients and intercept on the *raw* columns (the standardisation folded in)."""
    mu, sd = x.mean(0), x.std(0) + 1e-6
    w, b = fit_logistic((x - mu) / sd, y, l2, weight)
    return w / sd, b - float((w * mu / sd).sum())


def folds_of(sources: np.ndarray, labels: np.ndarray, k: int, salt: int = 0) -> dict[str, int]:
    """Sources into ``k`` folds, each with reals and fakes, sizes balanced; fixed by the
    sources' names and ``salt`` (another salt, another draw)."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for s, y in zip(sources, labels, strict=True):
        counts[s][int(y)] += 1
    rnd = {s: hashlib.sha1(f"{salt}:{s}".encode()).hexdigest() for s in counts}
    order = sorted(counts, key=lambda s: (-int(np.log2(1 + sum(counts[s]))), rnd[s]))
    load_ = np.zeros((k, 2))
    out: dict[str, int] = {}
    for s in order:
        r, f = counts[s]
        i = int(np.argmin(load_[:, 1] if f >= r else load_[:, 0]))
        out[s] = i
        load_[i] += (r, f)
    return out


def _score(x: np.ndarray, y: np.ndarray, tr: np.ndarray, te: np.ndarray, l2: float,
           weight: np.ndarray) -> np.ndarray:
    w, b = fit_scorer(x[tr], y[tr], l2, weight[tr])
    return x[te] @ w + b


def held_out(x: np.ndarray, y: np.ndarray, src: np.ndarray, k: int = 5, l2: float = L2, fpr: float = 0.05,
             salt: int = 0, balance: float = 0.0, fit: np.ndarray | None = None,
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Held-out logits, the threshold each picture's fold would use, and the fold ids;
    only pictures in ``fit`` (default: all) are fitted on, every picture is scored."""
    fold = folds_of(src, y, k, salt)
    fid = np.array([fold[s] for s in src])
    weight = source_weights(src, balance)
    fit = np.ones(len(y), bool) if fit is None else fit
    score, thr = np.zeros(len(y)), np.zeros(len(y))
    for i in range(k):
        tr, te = (fid != i) & fit, fid == i
        score[te] = _score(x, y, tr, te, l2, weight)
        inner = np.zeros(len(y))
        for j in sorted(set(fid[tr])):
            inner[tr & (fid == j)] = _score(x, y, tr & (fid != j), tr & (fid == j), l2, weight)
        thr[te] = np.quantile(inner[tr & (y == 0)], 1 - fpr)
    return score, thr, fid


def per_source(score: np.ndarray, thr: np.ndarray, fid: np.ndarray, y: np.ndarray,
               src: np.ndarray) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for s in sorted(set(src)):
        m = src == s
        held_real = (fid == fid[m][0]) & (y == 0)
        row: dict[str, float] = {"n_fake": int(y[m].sum()), "n_real": int((1 - y[m]).sum())}
        if y[m].sum() and held_real.sum():
            row["auc"] = auc(np.r_[np.ones(int(y[m].sum())), np.zeros(int(held_real.sum()))],
                             np.r_[score[m & (y == 1)], score[held_real]])
        if (1 - y[m]).sum():
            row["real_called_fake"] = float((score[m & (y == 0)] >= thr[m & (y == 0)]).mean())
        if y[m].sum():
            row["fake_caught"] = float((score[m & (y == 1)] >= thr[m & (y == 1)]).mean())
        out[s] = row
    return out


def estimate(data: dict[str, np.ndarray], spec: str = SPEC, k: int = 5, l2: float = L2, fpr: float = 0.05,
             repeats: int = 3, balance: float = 0.0, fit: np.ndarray | None = None,
             evaluate: np.ndarray | None = None) -> dict[str, object]:
    """The held-out estimate (see the module), averaged over ``repeats`` draws of the folds;
    ``balance`` weighs sources in the fit (``source_weights``). Pictures outside ``fit`` are
    never fitted on; the figures are those of the pictures in ``evaluate`` (default: all),
    and ``by_corpus`` gives each corpus's own AUC (e.g. the aligned face crops')."""
    x = design(data, spec)
    y_all = (data["label"] == "fake").astype(np.float64)
    ev = np.ones(len(y_all), bool) if evaluate is None else evaluate
    corpus = np.array([str(key).split("/", 1)[0] for key in data["keys"]]) if "keys" in data else None
    runs = []
    for salt in range(repeats):
        score_all, thr_all, fid_all = held_out(x, y_all, data["source"], k, l2, fpr, salt, balance, fit)
        by_corpus = {}
        if corpus is not None:
            for c in sorted(set(corpus)):
                m = corpus == c
                if 0 < y_all[m].sum() < m.sum():
                    gan_m = m & ((data["family"] == "gan") | (y_all == 0))
                    gan_auc = auc(y_all[gan_m], score_all[gan_m]) if y_all[gan_m].sum() else 0.0
                    by_corpus[c] = {"auc": auc(y_all[m], score_all[m]), "gan_auc": gan_auc,
                                    "real_called_fake": float((score_all[m & (y_all == 0)]
                                                               >= thr_all[m & (y_all == 0)]).mean())}
        y, score, thr, fid, src = y_all[ev], score_all[ev], thr_all[ev], fid_all[ev], data["source"][ev]
        people = np.isin(data["content"][ev], PEOPLE)
        gan = (data["family"][ev] == "gan") | (y == 0)
        runs.append({"by_corpus": by_corpus,
            "auc": auc(y, score), "people_auc": auc(y[people], score[people]),
            "gan_auc": auc(y[gan], score[gan]),
            "real_called_fake": float((score[y == 0] >= thr[y == 0]).mean()),
            "fake_caught": float((score[y == 1] >= thr[y == 1]).mean()),
            "per_source": per_source(score, thr, fid, y, src), "score": score_all, "thr": thr_all})
    per: dict[str, dict[str, float]] = {}
    for s in runs[0]["per_source"]:  # type: ignore[union-attr]
        rows = [r["per_source"][s] for r in runs]  # type: ignore[index]
        per[s] = {key: round(float(np.mean([r[key] for r in rows if key in r])), 3) for key in rows[0]}
    summary = {key: round(float(np.mean([r[key] for r in runs])), 3)  # type: ignore[arg-type]
               for key in ("auc", "people_auc", "gan_auc", "real_called_fake", "fake_caught")}
    by_corpus = {c: {key: round(float(np.mean([r["by_corpus"][c][key] for r in runs])), 3)  # type: ignore[index]
                     for key in v} for c, v in runs[0]["by_corpus"].items()}  # type: ignore[union-attr]
    # Per real source of at least MIN_REALS pictures (a source of 4 frames says little).
    rates = [v["real_called_fake"] for v in per.values() if v.get("n_real", 0) >= MIN_REALS]
    return {"spec": spec, **summary, "worst_real_source": round(max(rates, default=0.0), 3),
            # the target: at most 5 % of every real source called fake
            "real_sources_over_5pct": f"{sum(r > 0.05 for r in rates)} of {len(rates)}", "per_source": per,
            "by_corpus": by_corpus,
            "score": runs[0]["score"], "thr": runs[0]["thr"]}


def platt(logit: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """a, b with sigmoid(a * logit + b) calibrated on held-out logits (classes weighed equally)."""
    a, b = fit_logistic(logit[:, None], y, l2=0.0)
    return float(a[0]), b


def verdict_params(prob: np.ndarray, y: np.ndarray, fpr: float = FPR,
                   miss: float = 0.10) -> FusionParams:
    """Fusion thresholds of generated-image evidence read through CLIP, from held-out
    probabilities: fake at or above the probability that ``fpr`` of the reals exceed, real
    below the one that ``miss`` of the fakes stay under."""
    real = y == 0
    t_fake = float(np.quantile(prob[real], 1 - fpr))
    t_real = min(float(np.quantile(prob[~real], miss)), t_fake)
    return FusionParams(
        a=1.0, b=0.0, threshold_fake=round(t_fake, 4), threshold_real=round(t_real, 4),
        expected_fpr=round(float((prob[real] >= t_fake).mean()), 4),
        expected_tpr=round(float((prob[~real] >= t_fake).mean()), 4),
        fitted_on=["pictures corpus held out by source (corpora/pictures)"], n=len(y))


def head_blocks(spec: str) -> dict[str, list[int]]:
    """``blocks`` and ``patch_blocks`` of a spec the runtime can compute: CLIP class tokens
    (``clip_layers@A-B``), mean patch tokens (``clip_patch_layers@A-B``), then ``gen_mean``."""
    names = spec.split("+")
    if names[-1] != "gen_mean" or not names[:-1]:
        raise ValueError(f"{spec}: the head reads CLIP blocks, then gen_mean")
    out: dict[str, list[int]] = {"blocks": [], "patch_blocks": []}
    for name in names[:-1]:
        kind, _, rng = name.partition("@")
        key = {"clip_layers": "blocks", "clip_patch_layers": "patch_blocks"}.get(kind)
        lo, _, hi = rng.partition("-")
        if key is None or not rng or out[key]:
            raise ValueError(f"{spec}: {name} is not something the runtime reads")
        out[key] = list(range(int(lo), int(hi or lo) + 1))
    return out


def train_head(features: list[Path], out: Path, k: int = 5, repeats: int = 3, l2: float = L2,
               spec: str = SPEC, balance: float = BALANCE) -> dict[str, object]:
    """Fit the shipped head on every picture, its calibration and verdict thresholds on
    held-out logits; write ``generated.head.json`` and the ``generated_clip`` entry of the
    fusion card in ``out``. Returns the estimate (for the card and docs/metrics.md)."""
    blocks = head_blocks(spec)
    data = load(features)
    x = design(data, spec)
    y = (data["label"] == "fake").astype(np.float64)
    # Aligned face crops (``pictures_corpus aligned``) are fitted on, not counted: they are
    # second views of pictures already in the figures (by_corpus reports them).
    derived = np.array([str(key).startswith("aligned/") for key in data["keys"]])
    est = estimate(data, spec, k, l2, FPR, repeats, balance, evaluate=~derived)
    held = np.asarray(est["score"])
    a, b = platt(held, y)
    params = verdict_params(1 / (1 + np.exp(-(a * held + b))), y)
    coef, intercept = fit_scorer(x, y, l2, source_weights(data["source"], balance))
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"real": 0, "fake": 0})
    for s, lab in zip(data["source"], data["label"], strict=True):
        counts[str(s)][str(lab)] += 1
    head = {
        "features": "CLIP ViT-B/16 class tokens of `blocks` and mean patch tokens of `patch_blocks` "
                    "(224 px centre view, each scaled to unit length), then the trace model's mean "
                    "crop logit",
        "spec": spec, **blocks, "clip_sha256": CLIP_SHA256,
        "coef": [round(float(c), 7) for c in coef], "intercept": round(intercept, 6),
        "calibration": {"a": round(a, 6), "b": round(b, 6),
                        "fitted_on": "held-out logits (sources held out, first draw of the folds)"},
        "l2": l2, "balance": balance, "n": len(y), "n_fake": int(y.sum()),
        "sources": dict(sorted(counts.items())),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "generated.head.json").write_text(json.dumps(head, separators=(",", ":")) + "\n")
    fusion_path = out / "fusion.json"
    if fusion_path.is_file():
        card = FusionCard.load(fusion_path)
        card.generated_clip = params
        card.save(fusion_path)
    report = {key: v for key, v in est.items() if key not in ("score", "thr")}
    report["verdict"] = params.model_dump()
    return report
