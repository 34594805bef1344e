"""Is the local-edit picture score more than the picture's size (issue 29)?

    python research/local_edit_pooling.py --data DATA/edits-dev

The shipped net's cell logits (analyzers/local_edit.py, read as a scan reads them, without
the copy-move matching) for every picture of the dev set of real edits, pooled into one
picture score in several ways; for each, the AUC of real edits against authentic pictures
and its correlation with log pixels (edited pictures are larger there: a pooling that
grows with the number of cells reads size). Then the shipped pooling within size terciles.
"""

from __future__ import annotations

import argparse
import csv
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fakescope.evaluation.metrics import auc


def _top_share(share: float) -> Callable[[np.ndarray], float]:
    return lambda v: float(np.sort(v)[-max(1, int(len(v) * share)):].mean())


POOLINGS: dict[str, Callable[[np.ndarray], float]] = {
    "mean of the 16 highest (shipped)": lambda v: float(np.sort(v)[-16:].mean()),
    "highest": lambda v: float(v.max()),
    "mean of the highest 1 %": _top_share(0.01),
    "mean of the highest 5 %": _top_share(0.05),
    "highest 1 % minus the median": lambda v: _top_share(0.01)(v) - float(np.median(v)),
    "99th percentile minus the median": lambda v: float(np.quantile(v, 0.99) - np.median(v)),
    "share of cells above 0": lambda v: float((v > 0).mean()),
    "mean": lambda v: float(v.mean()),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="the edits dev set (labels.csv, files/)")
    args = ap.parse_args()
    os.environ["FAKESCOPE_COPY_MOVE"] = "off"
    from fakescope.analyzers.local_edit import LocalEditAnalyzer
    from fakescope.config import ScanSettings
    from fakescope.errors import FakescopeError
    from fakescope.media import decode, read_file
    from fakescope.progress import progress_iter

    analyzer, limits = LocalEditAnalyzer(), ScanSettings().limits
    with open(args.data / "labels.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    cells, y, px = [], [], []
    for r in progress_iter(rows, "pictures"):
        try:
            rgb = decode(read_file(args.data / r["file"], limits), limits).rgb
        except FakescopeError:
            continue
        cells.append(analyzer.cells(rgb)[0].ravel())
        y.append(int(r["label"] == "fake"))
        px.append(rgb.shape[0] * rgb.shape[1])
    yy, logpx = np.array(y), np.log(np.array(px, float))
    print(f"{len(y)} pictures ({int(yy.sum())} edited); log pixels as a score: AUC {auc(yy, logpx):.3f}")
    print(f"{'pooling':40s} {'AUC':>6s} {'corr. log px':>12s}")
    for name, pool in POOLINGS.items():
        s = np.array([pool(c) for c in cells])
        print(f"{name:40s} {auc(yy, s):6.3f} {np.corrcoef(s, logpx)[0, 1]:12.2f}")
    shipped = np.array([POOLINGS["mean of the 16 highest (shipped)"](c) for c in cells])
    edges = np.quantile(logpx, [1 / 3, 2 / 3])
    tercile = np.digitize(logpx, edges)
    print("shipped pooling within size terciles: " + ", ".join(
        f"{auc(yy[tercile == t], shipped[tercile == t]):.3f}" for t in range(3)))
    slope, icpt = np.polyfit(logpx, shipped, 1)
    print(f"shipped pooling with log pixels regressed out: {auc(yy, shipped - (slope * logpx + icpt)):.3f}")


if __name__ == "__main__":
    main()
