"""Build ``corpora/edits/manifest.csv`` (issue 29) from the selection lists made while
reviewing each source of locally edited pictures.

A selection list is a CSV with columns repo, commit, path, mask_path, label (edited /
authentic), edit_kind, source_kind, licence, non_commercial (yes / no / unknown), note: one
row per picture, the note saying where its label comes from (a folder name, a README, the
paper's benchmark). Every row's picture is read from its snapshot, must decode and gets its
sha256, size and its mask's sha256; rows of a repository reserved for the independent
evaluation are refused, and the same bytes named twice stay with the first list and line to
name them (see ``fakescope.train.edits_corpus.build_manifest``).

    python scripts/edits_manifest.py --repos /work/.mirror --selections /work/corpus/selections/edits_*.csv \\
        --reserved ../shared/design/EVALUATION-RESERVED.md
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from pathlib import Path

from fakescope.train.edits_corpus import MANIFEST, build_manifest, write_manifest
from fakescope.train.pictures_corpus import reserved_repos


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repos", type=Path, required=True)
    ap.add_argument("--selections", type=Path, nargs="+", required=True)
    ap.add_argument("--reserved", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=MANIFEST)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.reserved is not None and not args.reserved.exists():
        # A mistyped path would silently let reserved repositories through.
        ap.error(f"{args.reserved} does not exist")

    rows, dropped = build_manifest(args.selections, args.repos, reserved_repos(args.reserved))
    write_manifest(rows, args.out)
    kept = Counter((r.group, r.label) for r in rows)
    print(f"{len(rows)} pictures from {len({r.group for r in rows})} repositories "
          f"({sum(r.label == 'edited' for r in rows)} edited, {sum(bool(r.mask_path) for r in rows)} "
          f"with a mask); dropped: {dict(sorted(dropped.items()))}")
    for label in ("edited", "authentic"):
        print(f"  {label}: {sum(n for (_, lab), n in kept.items() if lab == label)}")
    for (group, label), n in sorted(kept.items()):
        print(f"  {label:9} {n:4}  {group}")


if __name__ == "__main__":
    main()
