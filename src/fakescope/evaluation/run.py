"""``fakescope eval DIR``: scan a labelled folder through the full pipeline and measure.

Every file goes through the same ``Scanner`` a user runs (decode, face detection,
alignment, analyzers, fusion), so the figures describe what users get. Files with no
judgeable face or a decoding error count as score 0.5 (no opinion) and are listed.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from fakescope.config import ScanSettings
from fakescope.datasets import read_labels
from fakescope.evaluation.metrics import DetectionMetrics, roc_curve, summarise
from fakescope.models import card_path, load_card
from fakescope.models.card import Metric
from fakescope.pipeline import Scanner
from fakescope.progress import progress_iter

NO_OPINION = 0.5


class EvalResult(BaseModel):
    dataset: str
    metrics: DetectionMetrics
    verdicts: dict[str, int]
    unscored: int
    models: list[str]

    def text(self) -> str:
        m = self.metrics
        ci = f" (95% CI {m.auc_ci95[0]:.4f}–{m.auc_ci95[1]:.4f})" if m.auc_ci95 else ""
        lines = [
            f"dataset      {self.dataset}: {m.n} files ({m.n_fake} fake, {m.n_real} real)",
            f"models       {', '.join(self.models)}",
            f"AUC          {m.auc:.4f}{ci}",
            f"EER          {m.eer:.4f}",
            f"accuracy     {m.accuracy:.4f} at threshold {m.threshold:.2f}",
            f"TPR / FPR    {m.tpr_at_threshold:.4f} / {m.fpr_at_threshold:.4f} at threshold",
            f"TPR@FPR 1%   {m.tpr_at_fpr_1:.4f}",
            f"TPR@FPR 5%   {m.tpr_at_fpr_5:.4f}",
            f"ECE          {m.ece:.4f}" if m.ece is not None else "",
            f"verdicts     {', '.join(f'{k} {v}' for k, v in sorted(self.verdicts.items()))}",
            f"unscored     {self.unscored} (no face or error; counted as {NO_OPINION})",
        ]
        return "\n".join(line for line in lines if line)


def evaluate(directory: Path, out_dir: Path, bootstrap: int = 1000, limit: int | None = None,
             record_in_card: bool = False, command: str = "",
             subsample: int | None = None) -> EvalResult:
    items = read_labels(directory)
    if limit:
        items = items[:limit]
    if subsample and subsample < len(items):
        # A fixed random subset (seed 0), in file order: quick checks comparable over time.
        keep = np.sort(np.random.default_rng(0).choice(len(items), subsample, replace=False))
        items = [items[i] for i in keep]
    scanner = Scanner(ScanSettings())
    rows = []
    for it in progress_iter(items, f"evaluating {directory.name}"):
        rep = scanner.scan(it.path, it.file)
        rows.append((it.file, it.label, rep.score, rep.verdict, rep.reason))
    y = np.array([r[1] for r in rows])
    s = np.array([r[2] if r[2] is not None else NO_OPINION for r in rows], dtype=np.float64)
    threshold = _threshold(scanner)
    metrics = summarise(y, s, threshold, probabilities=True, bootstrap=bootstrap)
    verdicts: dict[str, int] = {}
    for r in rows:
        verdicts[r[3]] = verdicts.get(r[3], 0) + 1
    result = EvalResult(
        dataset=directory.name, metrics=metrics, verdicts=verdicts,
        unscored=sum(r[2] is None for r in rows),
        models=[f"{m.name} {m.version} ({m.sha256})" for m in scanner.models],
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "scores.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "label", "score", "verdict", "reason"])
        for f, lab, sc, v, reason in rows:
            w.writerow([f, "fake" if lab else "real", "" if sc is None else f"{sc:.6f}", v, reason])
    (out_dir / "metrics.json").write_text(result.model_dump_json(indent=2) + "\n")
    plot_roc(y, s, out_dir / "roc.png", f"{directory.name}: AUC {metrics.auc:.3f}")
    if record_in_card:
        _record(scanner, directory.name, metrics, command)
    return result


def _threshold(scanner: Scanner) -> float:
    cards = [a.card for a in scanner.analyzers if a.card is not None]
    return cards[0].threshold if cards else 0.5


def _record(scanner: Scanner, dataset: str, metrics: DetectionMetrics, command: str) -> None:
    today = dt.date.today()
    for a in scanner.analyzers:
        if a.card is None:
            continue
        card = load_card(a.card.name)
        card.metrics = [m for m in card.metrics if not (m.dataset == dataset and m.name in
                                                        ("auc", "eer", "fpr_at_threshold"))]
        card.metrics += [
            Metric(dataset=dataset, name="auc", value=round(metrics.auc, 4), n=metrics.n,
                   ci95=metrics.auc_ci95, command=command, measured=today),
            Metric(dataset=dataset, name="eer", value=round(metrics.eer, 4), n=metrics.n,
                   command=command, measured=today),
            Metric(dataset=dataset, name="fpr_at_threshold", value=round(metrics.fpr_at_threshold, 4),
                   n=metrics.n_real, command=command, measured=today),
        ]
        card.save(card_path(card.name))


def plot_roc(y: np.ndarray, s: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fpr, tpr, _ = roc_curve(y, s)
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=120)
    ax.plot(fpr, tpr, lw=2, label="fakescope")
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1, label="chance")
    ax.set_xlabel("false-positive rate (real called fake)")
    ax.set_ylabel("true-positive rate (fake caught)")
    ax.set_title(title)
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def metrics_json(path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(path.read_text())
