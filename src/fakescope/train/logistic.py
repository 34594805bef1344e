"""Weighted, L2-regularised logistic regression by L-BFGS: the light heads fitted on frozen features."""

from __future__ import annotations

import numpy as np


def fit_logistic(x: np.ndarray, y: np.ndarray, weights: np.ndarray, l2: float, max_iter: int = 200,
                 ) -> tuple[np.ndarray, float]:
    """(coef, bias) minimising sum(w * log-loss) + l2 * |coef|^2 over ``x`` as given (standardise it
    first), with ``weights`` scaled to sum to one."""
    import torch

    xt = torch.from_numpy(np.asarray(x, np.float32))
    yt = torch.from_numpy(np.asarray(y, np.float32))
    wt = torch.from_numpy((np.asarray(weights, np.float64) / np.sum(weights)).astype(np.float32))
    coef = torch.zeros(x.shape[1], requires_grad=True)
    bias = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([coef, bias], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        z = xt @ coef + bias
        loss = (wt * torch.nn.functional.binary_cross_entropy_with_logits(z, yt, reduction="none")).sum()
        loss = loss + l2 * (coef**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return coef.detach().numpy().astype(np.float64), float(bias.detach())


def balanced_weights(y: np.ndarray) -> np.ndarray:
    """Half the weight on each class."""
    y = np.asarray(y)
    return np.where(y > 0, 0.5 / max(float(y.sum()), 1.0), 0.5 / max(float((1 - y).sum()), 1.0))
