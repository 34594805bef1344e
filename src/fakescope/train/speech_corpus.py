"""The demo-page speech corpus (issue 27): ``corpora/speech/manifest.csv`` into a labelled
folder, and its figures per held-out page family.

    python -m fakescope.train.speech_corpus prepare --repos /work/.mirror --out DATA/speech-pages
    fakescope eval DATA/speech-pages --analyzers voice --out runs/pages-eval
    python -m fakescope.train.speech_corpus table DATA/speech-pages runs/pages-eval/speech-pages/scores.csv

``prepare`` copies each listed file's bytes from its snapshot at the pinned commit (checked
against the manifest's sha256) to ``OUT/files/<sha256[:16]><ext>`` and writes
``OUT/labels.csv`` (file, label, system, page, family, prompt, language, source, licence,
non_commercial; ``group`` = the family, so a split never separates a page family). The same
manifest and snapshots give the same folder.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
from collections import defaultdict
from pathlib import Path

from fakescope.train.pictures_corpus import git_dir, read_blobs

MANIFEST = Path(__file__).resolve().parents[3] / "corpora" / "speech" / "manifest.csv"
LABEL_COLUMNS = ("file", "label", "system", "page", "family", "group", "prompt", "language", "source",
                 "licence", "non_commercial")


def read_manifest(path: Path = MANIFEST) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def prepare(repos: Path, out: Path, manifest: Path = MANIFEST) -> int:
    """Write the labelled folder; returns the number of files. A snapshot that lacks a
    listed file, or holds other bytes under its path, stops the run (the manifest and the
    snapshots must agree, or the figures would describe other audio)."""
    rows = read_manifest(manifest)
    by_repo: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        by_repo[(r["repo"], r["commit"])].append(r)
    files = out / "files"
    files.mkdir(parents=True, exist_ok=True)
    labelled = []
    for (repo, commit), items in sorted(by_repo.items()):
        blobs = read_blobs(git_dir(repos, repo), [f"{commit}:{r['path']}" for r in items])
        for r, data in zip(items, blobs, strict=True):
            if data is None:
                raise FileNotFoundError(f"{repo}@{commit}:{r['path']} is not in the snapshot under {repos}")
            if hashlib.sha256(data).hexdigest() != r["sha256"]:
                raise ValueError(f"{repo}@{commit}:{r['path']}: other bytes than the manifest's sha256")
            name = f"files/{r['sha256'][:16]}{Path(r['path']).suffix.lower()}"
            target = out / name
            if not target.is_file():
                target.write_bytes(data)
            labelled.append({
                "file": name, "label": r["label"], "system": r["system"], "page": r["page"],
                "family": r["family"], "group": r["family"], "prompt": r["prompt"], "language": r["language"],
                "source": f"{repo}@{commit}:{r['path']}", "licence": r["licence"],
                "non_commercial": r["non_commercial"],
            })
    with (out / "labels.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=LABEL_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(sorted(labelled, key=lambda d: d["file"]))
    return len(labelled)


def table(folder: Path, scores_csv: Path, threshold: float | None = None) -> str:
    """Per page family: AUC, EER, reals called `fake` and fakes caught, from ``fakescope
    eval``'s per-file scores (column ``score``; ``threshold`` defaults to the verdict's)."""
    from fakescope.evaluation.metrics import auc, eer

    with (folder / "labels.csv").open(encoding="utf-8") as fh:
        labels = {r["file"]: r for r in csv.DictReader(fh)}
    with scores_csv.open(encoding="utf-8") as fh:
        scored = list(csv.DictReader(fh))
    fam: dict[str, list[tuple[int, float, bool]]] = defaultdict(list)
    for s in scored:
        row = labels[s["file"]]
        if s["score"] in ("", "nan"):
            continue
        y, p = int(row["label"] == "fake"), float(s["score"])
        called = p >= threshold if threshold is not None else s.get("verdict") == "fake"
        fam[row["family"]].append((y, p, called))
        fam["all pages"].append((y, p, called))
    lines = ["| page family | real | fake | AUC | EER | reals called fake | fakes called fake |",
             "|---|---|---|---|---|---|---|"]
    for name, v in sorted(fam.items(), key=lambda kv: (kv[0] == "all pages", kv[0])):
        ys = [y for y, _, _ in v]
        ps = [p for _, p, _ in v]
        n_real, n_fake = ys.count(0), ys.count(1)
        real_fake = sum(c for y, _, c in v if y == 0)
        fake_fake = sum(c for y, _, c in v if y == 1)
        a = f"{auc(ys, ps):.3f}" if n_real and n_fake else "–"
        e = f"{eer(ys, ps):.3f}" if n_real and n_fake else "–"
        lines.append(f"| {name} | {n_real} | {n_fake} | {a} | {e} | "
                     f"{real_fake / max(1, n_real):.1%} | {fake_fake / max(1, n_fake):.1%} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--repos", type=Path, required=True, help="bare mirrors, owner+name/")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--manifest", type=Path, default=MANIFEST)
    t = sub.add_parser("table")
    t.add_argument("folder", type=Path)
    t.add_argument("scores", type=Path)
    t.add_argument("--threshold", type=float)
    a = ap.parse_args()
    if a.cmd == "prepare":
        print(f"{prepare(a.repos, a.out, a.manifest)} files in {a.out}")
    else:
        print(table(a.folder, a.scores, a.threshold))


if __name__ == "__main__":
    main()
