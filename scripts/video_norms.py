"""Measure the motion statistics of real clips, to set ``fakescope.analyzers.motion.NORMS``.

    python scripts/video_norms.py ../shared/data/video/dev

Scans every clip labelled real (the video dev split) and prints, per statistic, the
median and the 95th percentile over clips: the norm is the 95th percentile, so about
one real clip in twenty exceeds it on a given statistic.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from fakescope.config import ProvenanceSettings, ScanSettings
from fakescope.datasets import read_labels
from fakescope.scan.scanner import Scanner


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--out", type=Path, help="also write the per-clip statistics as JSON")
    args = ap.parse_args()
    scanner = Scanner(ScanSettings(analyzers=["motion", "blink"],
                                   provenance=ProvenanceSettings(registry=None)))
    rows = []
    for it in read_labels(args.root):
        r = scanner.scan(it.path, it.file)
        d = {a.name: a.details for a in r.analyzers}
        rows.append({"file": it.file, "label": it.label, **{k: d.get("motion", {}).get(k)
                                                             for k in ("flicker", "jitter", "drift",
                                                                       "lighting")}})
    for label, name in ((0, "real"), (1, "fake")):
        sel = [r for r in rows if r["label"] == label]
        print(f"{name} clips: {len(sel)}")
        for k in ("flicker", "jitter", "drift", "lighting"):
            v = np.array([r[k] for r in sel if r[k] is not None], float)
            if len(v):
                print(f"  {k:9s} median {np.median(v):.4f}  p95 {np.percentile(v, 95):.4f}"
                      f"  max {v.max():.4f}")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
