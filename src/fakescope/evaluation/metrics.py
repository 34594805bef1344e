"""Detection metrics in plain numpy. Positive class = manipulated (label 1), and a higher
score means more likely manipulated, everywhere."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel


def _check(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.int64).ravel()
    s = np.asarray(s, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError("labels and scores differ in length")
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    return y, s


def auc(y: np.ndarray, s: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half)."""
    y, s = _check(y, s)
    npos, nneg = int(y.sum()), int((1 - y).sum())
    if npos == 0 or nneg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    # average ranks over ties
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[y == 1].sum() - npos * (npos + 1) / 2.0) / (npos * nneg))


def roc_curve(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds); a point per distinct score, from strictest to loosest."""
    y, s = _check(y, s)
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    distinct = np.r_[np.where(np.diff(s_sorted))[0], len(s) - 1]
    tps = np.cumsum(y_sorted)[distinct]
    fps = np.cumsum(1 - y_sorted)[distinct]
    npos, nneg = max(1, int(y.sum())), max(1, int((1 - y).sum()))
    fpr = np.r_[0.0, fps / nneg]
    tpr = np.r_[0.0, tps / npos]
    thr = np.r_[np.inf, s_sorted[distinct]]
    return fpr, tpr, thr


def eer(y: np.ndarray, s: np.ndarray) -> float:
    """Equal error rate: where the false-positive and false-negative rates cross."""
    fpr, tpr, _ = roc_curve(y, s)
    fnr = 1.0 - tpr
    diff = fpr - fnr
    k = int(np.argmax(diff >= 0)) if (diff >= 0).any() else len(diff) - 1
    if k == 0:
        return float(fpr[0])
    # linear interpolation between the two points around the crossing
    d0, d1 = diff[k - 1], diff[k]
    t = d0 / (d0 - d1) if d0 != d1 else 0.0
    return float(fpr[k - 1] + t * (fpr[k] - fpr[k - 1]))


def tpr_at_fpr(y: np.ndarray, s: np.ndarray, target_fpr: float) -> float:
    fpr, tpr, _ = roc_curve(y, s)
    ok = fpr <= target_fpr + 1e-12
    return float(tpr[ok].max()) if ok.any() else 0.0


def rates_at(y: np.ndarray, s: np.ndarray, threshold: float) -> tuple[float, float, float]:
    """(tpr, fpr, accuracy) when score >= threshold is called fake."""
    y, s = _check(y, s)
    pred = s >= threshold
    tpr = float(pred[y == 1].mean()) if (y == 1).any() else float("nan")
    fpr = float(pred[y == 0].mean()) if (y == 0).any() else float("nan")
    return tpr, fpr, float((pred == (y == 1)).mean())


def ece(y: np.ndarray, p: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of probabilities ``p`` (equal-width bins)."""
    y, p = _check(y, p)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.mean() * abs(p[m].mean() - y[m].mean())
    return float(total)


def bootstrap_ci(y: np.ndarray, s: np.ndarray, fn, n: int = 1000, seed: int = 0,  # type: ignore[no-untyped-def]
                 alpha: float = 0.05) -> tuple[float, float]:
    """Percentile bootstrap interval of ``fn(y, s)``, resampling items with replacement."""
    y, s = _check(y, s)
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n):
        i = rng.integers(0, len(y), len(y))
        if y[i].min() == y[i].max():
            continue
        vals.append(fn(y[i], s[i]))
    if not vals:
        return (float("nan"), float("nan"))
    lo, hi = np.percentile(vals, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(lo), float(hi)


class DetectionMetrics(BaseModel):
    n: int
    n_fake: int
    n_real: int
    auc: float
    auc_ci95: tuple[float, float] | None = None
    eer: float
    accuracy: float
    threshold: float
    tpr_at_threshold: float
    fpr_at_threshold: float
    tpr_at_fpr_1: float
    tpr_at_fpr_5: float
    ece: float | None = None


def summarise(y: np.ndarray, s: np.ndarray, threshold: float, probabilities: bool = True,
              bootstrap: int = 0) -> DetectionMetrics:
    y, s = _check(y, s)
    tpr, fpr, acc = rates_at(y, s, threshold)
    return DetectionMetrics(
        n=len(y),
        n_fake=int(y.sum()),
        n_real=int((1 - y).sum()),
        auc=auc(y, s),
        auc_ci95=bootstrap_ci(y, s, auc, n=bootstrap) if bootstrap else None,
        eer=eer(y, s),
        accuracy=acc,
        threshold=threshold,
        tpr_at_threshold=tpr,
        fpr_at_threshold=fpr,
        tpr_at_fpr_1=tpr_at_fpr(y, s, 0.01),
        tpr_at_fpr_5=tpr_at_fpr(y, s, 0.05),
        ece=ece(y, s) if probabilities else None,
    )
