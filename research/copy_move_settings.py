"""How large must the picture be for the copy-move matching, and how strict the matches
(issue 29)?

    python research/copy_move_settings.py --data DATA/edits-dev \
        --settings 352,1500,0.6 512,1500,0.5 1024,3000,0.5

For each setting (long side, SIFT keypoints, ratio of the generalised 2NN test) runs
analyzers/copy_move.find_copies over the dev set of real edits (corpora/edits) and prints:
the AUC of the inlier count over every edit and every authentic picture, over the
copy-moves alone against every authentic picture, the median time per picture (one
OpenCV thread), and how many authentic pictures and copy-moves reach 10 inliers.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import cv2
import numpy as np

import fakescope.analyzers.copy_move as cm
from fakescope.evaluation.metrics import auc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="the edits dev set (labels.csv, files/)")
    ap.add_argument("--settings", nargs="+", default=[f"{cm.SIDE},{cm.FEATURES},{cm.RATIO}"],
                    help="SIDE,FEATURES,RATIO")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    with open(args.data / "labels.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    pictures = [(r, cv2.imread(str(args.data / r["file"]), cv2.IMREAD_COLOR)) for r in rows]
    pictures = [(r, bgr[..., ::-1]) for r, bgr in pictures if bgr is not None]
    y = np.array([r["label"] == "fake" for r, _ in pictures])
    copies = np.array([r["edit_kind"] == "copy-move" for r, _ in pictures])
    print(f"{len(pictures)} pictures: {int(y.sum())} edited ({int(copies.sum())} copy-moves), "
          f"{int((~y).sum())} authentic")
    print(f"{'side':>5s} {'keypoints':>9s} {'ratio':>5s} {'AUC all':>8s} {'copy-moves':>10s} {'ms':>6s} "
          f"{'authentic >= 10':>15s} {'copy-moves >= 10':>16s}")
    for setting in args.settings:
        side, features, ratio = setting.split(",")
        cm.SIDE, cm.FEATURES, cm.RATIO = int(side), int(features), float(ratio)
        n, ms = [], []
        for _, rgb in pictures:
            t0 = time.perf_counter()
            n.append(cm.find_copies(rgb).inliers)
            ms.append(1000 * (time.perf_counter() - t0))
        s = np.array(n, float)
        keep = copies | ~y
        print(f"{side:>5s} {features:>9s} {ratio:>5s} {auc(y.astype(int), s):8.3f} "
              f"{auc(y[keep].astype(int), s[keep]):10.3f} {np.median(ms):6.1f} "
              f"{int((s[~y] >= 10).sum()):15d} {int((s[copies] >= 10).sum()):16d}")


if __name__ == "__main__":
    main()
