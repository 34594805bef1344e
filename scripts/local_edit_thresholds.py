"""The fusion card's `local_edit` thresholds, from real photos of many sources (issue 29).

    python scripts/local_edit_thresholds.py --real DATA/pictures --real ../shared/data/photos \\
        --real DATA/edits-dev --edits DATA/edits-dev [--fpr 0.02] [--write]

Scores every real picture of the folders (labels.csv, label real) with the shipped
`local-edit` analyzer, as a scan reads it, and puts the `fake` threshold where no source of
1 / ``--fpr`` pictures or more (where that share is at least one picture) has more than
``--fpr`` of its real pictures at or above it (a local edit adds false alarms to those of
the face and generated-image kinds, so it gets a smaller share than the 5 % they all must
stay under together); smaller sources are listed with theirs.

The analyzer's calibration is anchored on real pictures, not fitted on real edits: its
raw logit (the mean of the 16 highest cells) maps the median real picture to 0.05 and the
threshold to 0.65, and the fusion card's `local_edit` entry says `fake` at 0.65 or more,
with no uncertain band (`real` below the same 0.65). A detector this far from the targets
(AUC 0.61 on the dev set's real edits) would, fitted on them, move every photo's
probability towards 0.5 and make many real photos `inconclusive`; anchored, it says
"edited" only where its evidence is strong and leaves the other kinds' verdicts alone.
(Platt scaling on pseudo-edits, the card's first calibration, put typical real photos at
0.95 and saturated the strongest at 1.0.) With ``--edits``, prints how many edited
pictures the threshold catches. ``--write`` stores the calibration in the `local-edit`
card and the thresholds in the fusion card; ``--cache`` keeps the scores.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

MEDIAN_P, FAKE_P = 0.05, 0.65


def logit(p: float) -> float:
    p = min(max(p, 1e-9), 1 - 1e-9)
    return float(np.log(p / (1 - p)))


def scores(folder: Path, label: str, analyzer, copies: bool = False) -> list[tuple[str, float]]:  # type: ignore[no-untyped-def]
    """(source, the net's raw logit) per picture; with ``copies``, (source, copy-move inliers)."""
    from fakescope.analyzers.base import ScanItem
    from fakescope.config import ScanSettings
    from fakescope.errors import FakescopeError
    from fakescope.media import decode, read_file
    from fakescope.progress import progress_iter

    settings = ScanSettings()
    with open(folder / "labels.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r.get("label") == label]
    out = []
    for r in progress_iter(rows, f"{folder.name} {label}"):
        try:
            media = decode(read_file(folder / r["file"], settings.limits), settings.limits)
        except FakescopeError:
            continue
        group = r.get("group") or r.get("repo") or r.get("set") or folder.name
        if copies:
            from fakescope.analyzers.copy_move import find_copies

            out.append((f"{folder.name}:{group}", float(find_copies(media.rgb).inliers)))
            continue
        ev = analyzer.analyze(ScanItem(media=media, faces=[], settings=settings))
        out.append((f"{folder.name}:{group}", float(ev.details["logit"])))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", type=Path, action="append", required=True)
    ap.add_argument("--edits", type=Path, help="a folder whose fake rows are real edits (corpora/edits)")
    ap.add_argument("--fpr", type=float, default=0.02)
    ap.add_argument("--write", action="store_true", help="store them in the bundled fusion card")
    ap.add_argument("--cache", type=Path, help="scores kept here (JSON) and read back when present")
    args = ap.parse_args()
    cv2.setNumThreads(2)
    os.environ["FAKESCOPE_COPY_MOVE"] = "off"  # the net's logit alone; the matching apart
    from fakescope.analyzers.local_edit import LocalEditAnalyzer

    analyzer = LocalEditAnalyzer()
    cached = json.loads(args.cache.read_text()) if args.cache and args.cache.is_file() else {}
    if "real" in cached:
        real, fakes = [tuple(x) for x in cached["real"]], cached["edits"]
    else:
        real = [s for folder in args.real for s in scores(folder, "real", analyzer)]
        fakes = [s for _, s in scores(args.edits, "fake", analyzer)] if args.edits else []
    if "real_copies" in cached:  # each part is kept once computed
        real_copies, fake_copies = cached["real_copies"], cached["edits_copies"]
    else:
        real_copies = [s for folder in args.real for _, s in scores(folder, "real", None, copies=True)]
        fake_copies = [s for _, s in scores(args.edits, "fake", None, copies=True)] if args.edits else []
    if args.cache:
        args.cache.write_text(json.dumps({"real": real, "edits": fakes, "real_copies": real_copies,
                                          "edits_copies": fake_copies}))
    if len(real_copies) != len(real) or len(fake_copies) != len(fakes):
        raise SystemExit("the net's pass and the copy-move pass read different pictures: drop the cache")
    by: dict[str, list[float]] = defaultdict(list)
    for g, s in real:
        by[g].append(s)
    min_source = int(np.ceil(1 / args.fpr))
    big = {g: np.array(v) for g, v in by.items() if len(v) >= min_source}
    # The lowest threshold that keeps every sizeable source at or under the share (in the
    # analyzer's raw logit: its probabilities are what this sets).
    thr = max(float(np.quantile(v, 1 - args.fpr, method="higher")) for v in big.values()) + 1e-6
    med = float(np.median([s for _, s in real]))
    a = (logit(FAKE_P) - logit(MEDIAN_P)) / (thr - med)
    b = logit(FAKE_P) - a * thr
    allv = np.array([s for _, s in real])
    print(f"{len(real)} real pictures of {len(by)} sources ({len(big)} with {min_source} or more): "
          f"threshold logit {thr:.3f} (median {med:.3f}); {np.mean(allv >= thr):.1%} of all real pictures "
          f"at or above; calibration a {a:.4f}, b {b:.4f}")
    # copy-move: the inlier count, in log(1 + n)
    by_copy: dict[str, list[float]] = defaultdict(list)
    for (g, _), n in zip(real, real_copies, strict=True):
        by_copy[g].append(float(np.log1p(n)))
    c_thr = max(float(np.quantile(v, 1 - args.fpr, method="higher")) for g, v in by_copy.items()
                if g in big) + 1e-6
    c_med = float(np.median([v for vs in by_copy.values() for v in vs]))
    c_a = (logit(FAKE_P) - logit(MEDIAN_P)) / (c_thr - c_med)
    c_b = logit(FAKE_P) - c_a * c_thr
    print(f"copy-move: threshold {np.expm1(c_thr):.1f} inliers (median {np.expm1(c_med):.1f}); "
          f"calibration a {c_a:.4f}, b {c_b:.4f}")
    either = {g: np.array(by[g]) >= thr for g in by}
    for g in by:
        either[g] |= np.array(by_copy[g]) >= c_thr
    all_either = np.concatenate(list(either.values()))
    print(f"net or copy-move at or above its threshold: {all_either.mean():.1%} of all real pictures")
    print(f"  {'source':60s} {'n':>5s}  {'net':>6s} {'copies':>6s} {'either':>6s}")
    for g, v in sorted(by.items(), key=lambda kv: -either[kv[0]].mean()):
        print(f"  {g[:60]:60s} {len(v):5d}  {np.mean(np.array(v) >= thr):6.1%} "
              f"{np.mean(np.array(by_copy[g]) >= c_thr):6.1%} {either[g].mean():6.1%}")
    f, fc = np.array(fakes), np.log1p(np.array(fake_copies))
    if fakes:
        print(f"real edits of {args.edits.name if args.edits else 'the cache'} ({len(f)}) at or above: "
              f"net {np.mean(f >= thr):.1%}, copy-move {np.mean(fc >= c_thr):.1%}, "
              f"either {np.mean((f >= thr) | (fc >= c_thr)):.1%}")
    if args.write:
        from fakescope.models import WEIGHTS_DIR
        from fakescope.models.card import Calibration, FusionCard, FusionParams, ModelCard

        card_path = WEIGHTS_DIR / "local-edit.card.json"
        model = ModelCard.load(card_path)
        model.calibration = Calibration(
            a=round(a, 6), b=round(b, 6),
            fitted_on=f"anchored on {len(real)} real pictures of {len(by)} sources: the median real "
                      f"picture reads {MEDIAN_P}, the threshold keeping every source of {min_source} or more "
                      f"at or under {args.fpr:.0%} reads {FAKE_P} (scripts/local_edit_thresholds.py)")
        model.other_calibrations["copy-move"] = Calibration(
            a=round(c_a, 6), b=round(c_b, 6),
            fitted_on=f"on log(1 + inliers), anchored as the net on the same pictures: "
                      f"{np.expm1(c_med):.0f} inliers read {MEDIAN_P}, {np.expm1(c_thr):.1f} read {FAKE_P}")
        model.save(card_path)
        path = WEIGHTS_DIR / "fusion.json"
        card = FusionCard.load(path)
        card.local_edit = FusionParams(
            threshold_fake=FAKE_P, threshold_real=FAKE_P,
            expected_fpr=round(float(all_either.mean()), 4),
            expected_tpr=round(float(np.mean((f >= thr) | (fc >= c_thr))), 4) if fakes else None,
            fitted_on=[p.name for p in args.real])
        card.save(path)
        print(f"wrote {card_path} and {path}")


if __name__ == "__main__":
    main()
