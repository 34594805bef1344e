"""Platt scaling: p = sigmoid(a * logit + b), fitted by Newton's method on log-loss."""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


def fit_platt(logits: np.ndarray, y: np.ndarray, iters: int = 100,
              l2: float = 1e-4, balanced: bool = False) -> tuple[float, float]:
    """(a, b) minimising the mean log-loss, with Platt's smoothed targets.

    ``balanced`` weighs both classes equally: the probabilities then mean "for an even
    prior", whatever the share of fakes in the fitting set (a dev set with few fakes would
    otherwise pull every probability down)."""
    x = np.asarray(logits, np.float64).ravel()
    y = np.asarray(y, np.float64).ravel()
    npos, nneg = y.sum(), (1 - y).sum()
    sw = (np.where(y > 0, len(y) / (2 * max(npos, 1)), len(y) / (2 * max(nneg, 1)))
          if balanced else np.ones_like(y))
    # Platt (1999): targets pulled off 0/1 so a separable set does not diverge.
    t = np.where(y > 0, (npos + 1) / (npos + 2), 1 / (nneg + 2))

    def loss(a: float, b: float) -> float:
        z = a * x + b
        # log(1 + e^z) - t z, stably
        return float(np.mean(sw * (np.logaddexp(0.0, z) - t * z)) + 0.5 * l2 * a * a)

    a, b = 1.0, 0.0
    current = loss(a, b)
    for _ in range(iters):
        p = sigmoid(a * x + b)
        g = np.array([np.mean(sw * (p - t) * x) + l2 * a, np.mean(sw * (p - t))])
        w = sw * p * (1 - p)
        h = np.array(
            [[np.mean(w * x * x) + l2, np.mean(w * x)], [np.mean(w * x), np.mean(w) + 1e-12]]
        )
        step = np.linalg.solve(h, g)
        # Backtracking: a full Newton step can overshoot when the scores are far apart.
        scale = 1.0
        while scale > 1e-6 and loss(a - scale * step[0], b - scale * step[1]) > current:
            scale /= 2
        a, b = a - scale * step[0], b - scale * step[1]
        new = loss(a, b)
        if abs(current - new) < 1e-12 or np.abs(scale * step).max() < 1e-9:
            break
        current = new
    return float(a), float(b)
