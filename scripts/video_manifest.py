"""Build ``corpora/video/manifest.csv`` (issue 28) from the selection lists made while
reviewing each source.

A selection list is a CSV with columns repo, commit, path, start, duration, crop, label,
method, kind, framing, licence, non_commercial (yes/no), note: one row per segment of a
file, the note saying where its label comes from (a README line, a page's caption, a
folder name). Every row's file is read from its snapshot and gets its sha256; rows of a
repository reserved for the independent evaluation are refused, as are segments shorter
than 2 s or repeated (a file named by two lists stays with the first); segments are cut
to 10 s; files that do not decode as video are dropped.

    python scripts/video_manifest.py --repos /work/.mirror --selections /work/corpus/selections/video_*.csv \\
        --reserved ../shared/design/EVALUATION-RESERVED.md
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from fakescope.train.pictures_corpus import git_dir, read_blobs, reserved_repos
from fakescope.train.video_corpus import MANIFEST, MAX_SECONDS, Row, write_manifest

MIN_SECONDS = 2.0


def video_seconds(data: bytes, suffix: str) -> float | None:
    with tempfile.NamedTemporaryFile(suffix=suffix) as fh:
        fh.write(data)
        fh.flush()
        out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                              "format=duration", "-of", "csv=p=0", fh.name],
                             capture_output=True, text=True).stdout.strip()
    try:
        return float(out.splitlines()[0])
    except (ValueError, IndexError):
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repos", type=Path, required=True)
    ap.add_argument("--selections", type=Path, nargs="+", required=True)
    ap.add_argument("--reserved", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=MANIFEST)
    args = ap.parse_args()

    reserved = reserved_repos(args.reserved)
    picked: list[dict[str, str]] = []
    dropped: Counter[str] = Counter()
    for sel in args.selections:
        # Two reviewers may cut different panels or stretches of one file: the first list
        # to name a file keeps it, so no footage is in the corpus twice.
        named = {(r["repo"], r["path"]) for r in picked}
        with sel.open(newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                if (r["repo"], r["path"]) in named:
                    dropped["file named by an earlier list"] += 1
                else:
                    picked.append(r)
    rows: dict[str, Row] = {}
    by_repo: dict[str, list[dict[str, str]]] = {}
    for r in picked:
        if r["repo"].lower() in reserved:
            dropped["reserved repository"] += 1
            continue
        by_repo.setdefault(r["repo"], []).append(r)
    for repo, rs in sorted(by_repo.items()):
        try:
            gd = git_dir(args.repos, repo)
        except FileNotFoundError:
            dropped["no snapshot"] += len(rs)
            continue
        specs = sorted({f"{r['commit']}:{r['path']}" for r in rs})
        info: dict[str, tuple[str, float | None]] = {}
        for spec, data in zip(specs, read_blobs(gd, specs), strict=True):
            if data is not None:
                info[spec] = (hashlib.sha256(data).hexdigest(), video_seconds(data, Path(spec).suffix))
        for r in rs:
            got = info.get(f"{r['commit']}:{r['path']}")
            if got is None:
                dropped["file not in snapshot"] += 1
                continue
            sha, seconds = got
            start, duration = float(r["start"] or 0), float(r["duration"])
            if seconds is None:
                dropped["not a video"] += 1
                continue
            duration = min(duration, MAX_SECONDS, seconds - start)
            if duration < MIN_SECONDS or r["label"] not in ("real", "fake"):
                dropped["too short or unlabelled"] += 1
                continue
            row = Row(repo=repo, commit=r["commit"], path=r["path"], start=round(start, 2),
                      duration=round(duration, 2), crop=r.get("crop", "") or "", sha256=sha,
                      label=r["label"], method=r["method"], kind=r["kind"], framing=r["framing"],
                      licence=r["licence"] or "none",
                      non_commercial=int(r["non_commercial"].strip().lower() in ("yes", "1", "true")))
            if row.key in rows:
                dropped["repeated"] += 1
                continue
            rows[row.key] = row
    write_manifest(list(rows.values()), args.out)
    kept = Counter((r.label, r.repo) for r in rows.values())
    print(f"{len(rows)} segments from {len({r.repo for r in rows.values()})} repositories "
          f"({sum(r.label == 'fake' for r in rows.values())} generated); dropped: {dict(dropped)}")
    for (label, repo), n in sorted(kept.items()):
        print(f"  {label:5} {n:4}  {repo}")


if __name__ == "__main__":
    main()
