"""Fit the fusion card: recalibration of the fused (maximum) score and verdict thresholds.

    python scripts/fit_fusion.py --images ../shared/data/faces/dfdc-dev [--images DIR ...] \
        --videos ../shared/data/video/dev --out src/fakescope/models/weights/fusion.json

Every file is scanned by the normal pipeline with the fusion card switched off, so the
raw score is the maximum over analyzers. On dev data only:
- Platt scaling of that raw score (``a``, ``b``), both classes weighed equally (the
  probability is for an even prior: the video dev set holds few fakes);
- ``threshold_fake``: the lowest calibrated score at which no more than ``--fpr`` of the
  real files (5 % for images, 10 % for videos) would be called fake;
- ``threshold_real``: below it at most ``--miss`` of the fakes would be called real;
  between the two a file is inconclusive.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np

from fakescope.config import ProvenanceSettings, ScanSettings
from fakescope.datasets import read_labels
from fakescope.evaluation.calibration import fit_platt, sigmoid
from fakescope.evaluation.metrics import auc, ece
from fakescope.models.card import FusionCard, FusionParams
from fakescope.pipeline import Scanner
from fakescope.progress import progress_iter


def raw_scores(scanner: Scanner, roots: list[Path], cache: Path | None = None,
               ) -> tuple[np.ndarray, np.ndarray]:
    ys, ss = [], []
    for root in roots:
        saved = cache / f"{root.name}.npz" if cache else None
        if saved is not None and saved.exists():
            d = np.load(saved)
            ys.extend(d["y"].tolist())
            ss.extend(d["s"].tolist())
            continue
        y_root, s_root = [], []
        for it in progress_iter(read_labels(root), f"scanning {root.name}"):
            r = scanner.scan(it.path, it.file)
            if r.score is None:
                continue  # no face / error: the verdict is not the fused score's to make
            y_root.append(it.label)
            s_root.append(r.score)
        if saved is not None:
            saved.parent.mkdir(parents=True, exist_ok=True)
            np.savez(saved, y=np.array(y_root), s=np.array(s_root))
        ys += y_root
        ss += s_root
    return np.array(ys), np.array(ss)


def fit(y: np.ndarray, raw: np.ndarray, fpr: float, miss: float, names: list[str]) -> FusionParams:
    logit = np.log(np.clip(raw, 1e-6, 1 - 1e-6) / np.clip(1 - raw, 1e-6, 1))
    a, b = fit_platt(logit, y, balanced=True)
    p = sigmoid(a * logit + b)
    reals, fakes = np.sort(p[y == 0]), np.sort(p[y == 1])
    # Smallest threshold with at most `fpr` of reals at or above it.
    k = int(np.floor(fpr * len(reals)))
    t_fake = float(reals[len(reals) - k]) if k > 0 else float(reals[-1]) + 1e-6
    t_fake = min(max(t_fake, 0.5), 0.999)
    # Largest threshold with at most `miss` of fakes below it.
    j = int(np.floor(miss * len(fakes)))
    t_real = float(fakes[j]) if j < len(fakes) else t_fake
    t_real = min(t_real, t_fake)
    return FusionParams(
        a=a, b=b, threshold_fake=round(t_fake, 4), threshold_real=round(t_real, 4),
        expected_fpr=round(float((reals >= t_fake).mean()), 4),
        expected_tpr=round(float((fakes >= t_fake).mean()), 4),
        fitted_on=names, n=len(y),
    )


def report(kind: str, y: np.ndarray, raw: np.ndarray, params: FusionParams) -> None:
    logit = np.log(np.clip(raw, 1e-6, 1 - 1e-6) / np.clip(1 - raw, 1e-6, 1))
    p = sigmoid(params.a * logit + params.b)
    print(f"{kind}: n={len(y)} AUC {auc(y, p):.4f}  ECE raw {ece(y, raw):.4f} -> fused {ece(y, p):.4f}")
    print(f"  fake at >= {params.threshold_fake:.3f}: FPR {params.expected_fpr:.3f}, "
          f"TPR {params.expected_tpr:.3f}; real below {params.threshold_real:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=Path, action="append", default=[])
    ap.add_argument("--videos", type=Path, action="append", default=[])
    ap.add_argument("--fpr", type=float, default=0.05, help="image false-positive budget")
    ap.add_argument("--video-fpr", type=float, default=0.10)
    ap.add_argument("--miss", type=float, default=0.10)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--version", default="1.0.0")
    ap.add_argument("--scores-cache", type=Path,
                    help="keep each folder's raw scores here and reuse them (same models only)")
    args = ap.parse_args()

    scanner = Scanner(ScanSettings(provenance=ProvenanceSettings(registry=None)))
    scanner.fusion = None  # raw maxima: what the card is fitted on
    y, raw = raw_scores(scanner, args.images, args.scores_cache)
    image = fit(y, raw, args.fpr, args.miss, [p.name for p in args.images])
    report("images", y, raw, image)
    video = None
    if args.videos:
        vy, vraw = raw_scores(scanner, args.videos, args.scores_cache)
        video = fit(vy, vraw, args.video_fpr, args.miss, [p.name for p in args.videos])
        report("videos", vy, vraw, video)
    cmd = "python scripts/fit_fusion.py " + " ".join(
        [f"--images {p}" for p in args.images] + [f"--videos {p}" for p in args.videos]
        + [f"--out {args.out}"])
    FusionCard(version=args.version, image=image, video=video, command=cmd,
               created=dt.date.today()).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
