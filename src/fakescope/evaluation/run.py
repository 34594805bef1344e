"""``fakescope eval DIR...``: scan labelled folders through the full pipeline and measure.

Every file goes through the same ``Scanner`` a user runs (decode, face detection,
alignment, analyzers, fusion), so the figures describe what users get. Files with no
judgeable face or a decoding error count as score 0.5 (no opinion) and are listed.
A degradation (``jpeg70``, ``resize0.5``) re-encodes each file in memory before the scan,
to measure robustness to what distribution channels do to media.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from pydantic import BaseModel

from fakescope.config import ProvenanceSettings, ScanSettings
from fakescope.datasets import LabelledItem, read_labels
from fakescope.errors import DatasetError, FakescopeError
from fakescope.evaluation.metrics import DetectionMetrics, roc_curve, summarise
from fakescope.media import decode, read_file
from fakescope.models import card_path, load_card
from fakescope.models.card import Metric
from fakescope.progress import progress_iter
from fakescope.scan.scanner import Scanner
from fakescope.synth.degrade import channel

NO_OPINION = 0.5


class EvalResult(BaseModel):
    dataset: str
    degradation: str = "none"
    metrics: DetectionMetrics
    verdicts: dict[str, int]
    unscored: int
    models: list[str]

    def text(self) -> str:
        m = self.metrics
        ci = f" (95% CI {m.auc_ci95[0]:.4f}–{m.auc_ci95[1]:.4f})" if m.auc_ci95 else ""
        deg = f" [{self.degradation}]" if self.degradation != "none" else ""
        lines = [
            f"dataset      {self.dataset}{deg}: {m.n} files ({m.n_fake} fake, {m.n_real} real)",
            f"models       {', '.join(self.models)}",
            f"AUC          {m.auc:.4f}{ci}",
            f"EER          {m.eer:.4f}",
            f"accuracy     {m.accuracy:.4f} at threshold {m.threshold:.2f}",
            f"TPR / FPR    {m.tpr_at_threshold:.4f} / {m.fpr_at_threshold:.4f} at threshold",
            f"TPR@FPR 1%   {m.tpr_at_fpr_1:.4f}",
            f"TPR@FPR 5%   {m.tpr_at_fpr_5:.4f}",
            f"ECE          {m.ece:.4f}" if m.ece is not None else "",
            f"verdicts     {', '.join(f'{k} {v}' for k, v in sorted(self.verdicts.items()))}",
            f"unscored     {self.unscored} (no face, no speech or error; counted as {NO_OPINION})",
        ]
        return "\n".join(line for line in lines if line)

    @property
    def name(self) -> str:
        return self.dataset if self.degradation == "none" else f"{self.dataset}-{self.degradation}"


def parse_degradation(spec: str) -> Callable[[np.ndarray], bytes] | None:
    """``none``, ``jpegQ``, ``resizeF`` or ``cropF`` (``synth.degrade.channel``), the result
    saved losslessly so that only the degradation acts."""
    try:
        fn = channel(spec)
    except ValueError as exc:
        raise DatasetError(str(exc)) from exc
    if fn is None:
        return None
    return lambda rgb: _encode(fn(rgb), "PNG")


def _encode(rgb: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, compress_level=1)
    return buf.getvalue()


def eval_settings() -> ScanSettings:
    """Detection is measured on its own: a local registry must not vouch for test files."""
    return ScanSettings(provenance=ProvenanceSettings(registry=None))


def select(items: list[LabelledItem], limit: int | None, subsample: int | None) -> list[LabelledItem]:
    if limit:
        items = items[:limit]
    if subsample and subsample < len(items):
        # A fixed random subset (seed 0), in file order: quick checks comparable over time.
        keep = np.sort(np.random.default_rng(0).choice(len(items), subsample, replace=False))
        items = [items[i] for i in keep]
    return items


def evaluate(directory: Path, out_dir: Path, bootstrap: int = 1000, limit: int | None = None,
             record_in_card: bool = False, command: str = "", subsample: int | None = None,
             degradation: str = "none", scanner: Scanner | None = None) -> EvalResult:
    items = select(read_labels(directory), limit, subsample)
    degrade = parse_degradation(degradation)
    scanner = scanner or Scanner(eval_settings())
    rows = []
    kinds: set[str | None] = set()
    label = directory.name + ("" if degradation == "none" else f" [{degradation}]")
    for it in progress_iter(items, f"evaluating {label}"):
        if degrade is None:
            rep = scanner.scan(it.path, it.file)
        else:
            try:
                media = decode(read_file(it.path, scanner.settings.limits), scanner.settings.limits)
            except FakescopeError:
                rep = scanner.scan(it.path, it.file)  # report the file's own error
            else:
                if not hasattr(media, "rgb"):  # video and audio have no pixels to re-encode
                    raise DatasetError(f"{it.file}: --degrade {degradation} applies to images, "
                                       f"not {media.media_type}")
                rep = scanner.scan_bytes(degrade(media.rgb), it.file)
        rows.append((it.file, it.label, rep.score, rep.verdict, rep.reason))
        kinds.add(rep.media_type)
    y = np.array([r[1] for r in rows])
    s = np.array([r[2] if r[2] is not None else NO_OPINION for r in rows], dtype=np.float64)
    threshold = _threshold(scanner, video=kinds == {"video"})
    metrics = summarise(y, s, threshold, probabilities=True, bootstrap=bootstrap)
    verdicts: dict[str, int] = {}
    for r in rows:
        verdicts[r[3]] = verdicts.get(r[3], 0) + 1
    result = EvalResult(
        dataset=directory.name, degradation=degradation, metrics=metrics, verdicts=verdicts,
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
    if plots_available():
        plot_roc(y, s, out_dir / "roc.png", f"{result.name}: AUC {metrics.auc:.3f}")
        plot_reliability(y, s, out_dir / "reliability.png", f"{result.name}: ECE {metrics.ece:.3f}")
    if record_in_card:
        _record(scanner, result.name, metrics, command)
    return result


def _threshold(scanner: Scanner, video: bool = False) -> float:
    """The score at which verdicts turn ``fake``: the fusion card's, else the model's."""
    if scanner.fusion is not None:
        params = scanner.fusion.video if video and scanner.fusion.video else scanner.fusion.image
        return params.threshold_fake
    cards = [a.card for a in scanner.analyzers if a.card is not None]
    return cards[0].threshold if cards else 0.5


def _record(scanner: Scanner, dataset: str, metrics: DetectionMetrics, command: str) -> None:
    today = dt.date.today()
    for a in scanner.analyzers:
        if a.card is None:
            continue
        card = load_card(a.card.name)
        names = ("auc", "eer", "fpr_at_threshold")
        card.metrics = [m for m in card.metrics if not (m.dataset == dataset and m.name in names)]
        card.metrics += [
            Metric(dataset=dataset, name="auc", value=round(metrics.auc, 4), n=metrics.n,
                   ci95=metrics.auc_ci95, command=command, measured=today),
            Metric(dataset=dataset, name="eer", value=round(metrics.eer, 4), n=metrics.n,
                   command=command, measured=today),
            Metric(dataset=dataset, name="fpr_at_threshold",
                   value=round(metrics.fpr_at_threshold, 4), n=metrics.n_real, command=command,
                   measured=today),
        ]
        card.save(card_path(card.name))


def plots_available() -> bool:
    """matplotlib is optional (the ``eval`` extra): a plain install is scans only, and it
    is 75 MB of the install for two pictures."""
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_roc(y: np.ndarray, s: np.ndarray, path: Path, title: str) -> None:
    plt = _pyplot()
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


def plot_reliability(y: np.ndarray, p: np.ndarray, path: Path, title: str, bins: int = 10) -> None:
    """Predicted probability vs observed share of fakes per bin: the diagonal is calibrated."""
    plt = _pyplot()
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    conf, acc, count = [], [], []
    for b in range(bins):
        m = idx == b
        if m.any():
            conf.append(p[m].mean())
            acc.append(y[m].mean())
            count.append(int(m.sum()))
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=120)
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1, label="perfect calibration")
    ax.plot(conf, acc, "o-", lw=2, label="fakescope")
    for c, a, n in zip(conf, acc, count, strict=True):
        ax.annotate(str(n), (c, a), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xlabel("predicted probability of manipulation")
    ax.set_ylabel("observed share of fakes")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def results_table(results: list[EvalResult]) -> str:
    """A Markdown table of several evaluations, as docs/metrics.md keeps them."""
    head = ("| dataset | degradation | n | AUC (95% CI) | EER | TPR@1%FPR | TPR@5%FPR | "
            "FPR at threshold | ECE |\n|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in results:
        m = r.metrics
        ci = f" ({m.auc_ci95[0]:.3f}–{m.auc_ci95[1]:.3f})" if m.auc_ci95 else ""
        lines.append(
            f"| {r.dataset} | {r.degradation} | {m.n} | {m.auc:.3f}{ci} | {m.eer:.3f} | "
            f"{m.tpr_at_fpr_1:.3f} | {m.tpr_at_fpr_5:.3f} | {m.fpr_at_threshold:.3f} | "
            f"{m.ece:.3f} |"
        )
    return "\n".join(lines)
