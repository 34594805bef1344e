"""Metrics against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from fakescope.evaluation.calibration import fit_platt, sigmoid
from fakescope.evaluation.metrics import auc, ece, eer, rates_at, roc_curve, tpr_at_fpr


def test_auc_known_values() -> None:
    y = np.array([0, 0, 1, 1])
    assert auc(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert auc(y, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert auc(y, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    # one inversion among 4 pairs
    assert auc(y, np.array([0.1, 0.6, 0.5, 0.9])) == 0.75
    # a tie between a positive and a negative counts half: (1 + 1 + 0.5 + 1) / 4
    assert auc(y, np.array([0.1, 0.5, 0.5, 0.9])) == 0.875


def test_auc_matches_pairwise_definition() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.normal(y * 0.8, 1.0), 1)  # rounding makes ties
    pos, neg = s[y == 1], s[y == 0]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert auc(y, s) == pytest.approx(pairs, abs=1e-12)


def test_roc_and_eer() -> None:
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.7, 0.4, 0.8, 0.9, 0.95])
    fpr, tpr, _ = roc_curve(y, s)
    assert fpr[0] == 0 and tpr[0] == 0 and fpr[-1] == 1 and tpr[-1] == 1
    assert eer(y, s) == pytest.approx(0.25)
    assert tpr_at_fpr(y, s, 0.0) == 0.75
    assert rates_at(y, s, 0.5) == (0.75, 0.25, 0.75)


def test_ece_of_perfectly_calibrated_and_overconfident() -> None:
    rng = np.random.default_rng(2)
    p = rng.uniform(0, 1, 200_000)
    y = (rng.uniform(0, 1, p.size) < p).astype(int)
    assert ece(y, p) < 0.01
    assert ece(y, np.where(p > 0.5, 1.0, 0.0)) > 0.2


def test_platt_recovers_parameters() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(0, 2, 50_000)
    y = (rng.uniform(0, 1, x.size) < sigmoid(0.5 * x - 1.0)).astype(int)
    a, b = fit_platt(x, y)
    assert a == pytest.approx(0.5, abs=0.03) and b == pytest.approx(-1.0, abs=0.05)


def test_balanced_platt_ignores_the_share_of_fakes() -> None:
    from fakescope.evaluation.calibration import fit_platt

    rng = np.random.default_rng(0)
    # Logits symmetric around 0 for the two classes, but only 1 fake in 10.
    x = np.r_[rng.normal(-1, 1, 900), rng.normal(1, 1, 100)]
    y = np.r_[np.zeros(900), np.ones(100)]
    _, b_plain = fit_platt(x, y)
    a, b = fit_platt(x, y, balanced=True)
    assert b_plain < -1.5  # the prior of 10 % pulls every probability down...
    assert abs(b) < 0.25 and a > 0  # ...an even prior puts 0.5 back between the classes
