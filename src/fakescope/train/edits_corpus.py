"""The local-edits corpus (issue 29): pictures of which a part was edited by hand or by a
model (splice, copy-move, removal, inpainting), and authentic pictures, from public
repositories, each file pinned to a commit.

``corpora/edits/manifest.csv`` names every picture (repository@commit:path, the path of its
ground-truth mask when the repository has one, both files' sha256, label edited/authentic,
what kind of edit and which benchmark or demo it comes from, the source's licence and its
size); ``scripts/edits_manifest.py`` writes it from the selection lists made while reviewing
each source. ``prepare`` turns it into a folder the rest of fakescope reads:

    python -m fakescope.train.edits_corpus --repos /work/.mirror --out DATA/edits-dev

Unlike the pictures corpus, nothing is re-encoded: an edit leaves its traces in the file
itself (a second JPEG compression over part of the picture, resampling, noise that does not
match), so ``files/<sha12><ext>`` are the original bytes, and any channel both classes go
through is for the figures to apply. A mask becomes ``masks/<sha12>.png`` (the picture's
hash), one channel, 0 or 255, white where the picture was edited: the sources' masks are
PNG, TIFF or JPEG, grey or colour, and a JPEG one holds grey values along every edge, so
each is cut at 128 and, when its size differs from the picture's, resized by nearest
neighbour (with a warning). Sizes are those of the stored pixels, before any EXIF rotation,
since that is the grid the masks are drawn on. ``labels.csv`` says ``fake`` for an edited
picture and ``real`` for an authentic one, as every other labels.csv of the project does.

The group of a picture is its repository, the unit held out: a repository's edits and its
originals (often the very pictures they were made from) go out together.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from fakescope.progress import progress_iter
from fakescope.train.pictures_corpus import git_dir, read_blobs, write_rows

log = logging.getLogger("fakescope.train")

MANIFEST = Path(__file__).resolve().parents[3] / "corpora" / "edits" / "manifest.csv"
LABEL = {"edited": "fake", "authentic": "real"}
# Mask convention: white = edited; grey values (JPEG masks, greyscale TIFFs) are cut here.
MASK_THRESHOLD = 128
LABELS = ("file", "mask", "label", "edit_kind", "source_kind", "group", "licence", "non_commercial",
          "width", "height", "source", "repo", "commit", "path")


@dataclass(frozen=True)
class Row:
    repo: str
    commit: str
    path: str
    mask_path: str  # the ground-truth mask in the same commit (empty: none)
    sha256: str  # of the picture's bytes
    mask_sha256: str  # of the mask's bytes (empty: no mask)
    label: str  # edited | authentic
    edit_kind: str  # splice | copy-move | removal | inpainting-classic | background | unknown | ...
    source_kind: str  # the benchmark or demo it comes from: CASIA, COVERAGE, IMD2020, own-demo, ...
    licence: str
    non_commercial: int  # 1 also where the terms are unknown: nothing grants commercial use
    width: int  # of the stored pixels (no EXIF rotation)
    height: int
    group: str  # the repository: the unit a held-out estimate leaves out

    @property
    def name(self) -> str:
        """The picture's file name in a prepared folder: its hash and its own extension."""
        return f"{self.sha256[:12]}{Path(self.path).suffix.lower()}"


def read_manifest(path: Path = MANIFEST) -> list[Row]:
    ints = {"non_commercial", "width", "height"}
    with path.open(newline="", encoding="utf-8") as fh:
        return [Row(**{f.name: (int(r[f.name]) if f.name in ints else r[f.name]) for f in fields(Row)})
                for r in csv.DictReader(fh)]


def write_manifest(rows: Iterable[Row], path: Path = MANIFEST) -> None:
    write_rows(rows, Row, path)


def snapshot_blobs(repos: Path, repo: str, specs: set[str]) -> dict[str, bytes | None] | None:
    """``commit:path`` -> bytes (None where absent) read from ``repo``'s snapshot; None, with a
    warning, when there is no snapshot."""
    try:
        gd = git_dir(repos, repo)
    except FileNotFoundError as exc:
        log.warning("%s", exc)
        return None
    ordered = sorted(specs)
    return dict(zip(ordered, read_blobs(gd, ordered), strict=True))


def picture_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a picture that decodes to RGB with PIL; None otherwise."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            size = im.size
            im.convert("RGB")
    except Exception:
        return None
    return size


def binary_mask(data: bytes, size: tuple[int, int] | None = None) -> np.ndarray | None:
    """A mask file as uint8 0/255 (255 = edited), resized (nearest) to ``size`` = (width,
    height) when given; None when it does not decode."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                # 16-bit, 32-bit or float: cut at the same share of the range its values use
                # (0-1, 0-255 or 0-65535), not at 128, which would make 0/1 masks empty.
                a = np.asarray(im).astype(np.float64)
                top = 1.0 if a.max() <= 1.0 else 255.0 if a.max() <= 255 else 65535.0
                grey = (a >= top * MASK_THRESHOLD / 255).astype(np.uint8) * 255
            else:
                if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                    # Alpha dropped, not composited: the inpainting demos' RGBA masks are
                    # read that way by their own code (cv2.imread), and black where clear.
                    im = im.convert("RGBA").convert("RGB")
                grey = (np.asarray(im.convert("L")) >= MASK_THRESHOLD).astype(np.uint8) * 255
    except Exception:
        return None
    if size is not None and (grey.shape[1], grey.shape[0]) != size:
        grey = np.asarray(Image.fromarray(grey).resize(size, Image.Resampling.NEAREST))
    return grey


def mask_png(mask: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(mask, mode="L").save(buf, format="PNG", compress_level=9)
    return buf.getvalue()


def _flag(value: str) -> int:
    """``non_commercial`` of a selection list (yes / no / unknown) as 0/1; unknown terms give
    no right to use a file commercially, so they count as non-commercial."""
    return 0 if value.strip().lower() in ("no", "0", "false") else 1


def build_manifest(selections: Iterable[Path], repos: Path,
                   reserved: set[str]) -> tuple[list[Row], Counter[str]]:
    """Rows for every selection-list line whose picture is in its snapshot and decodes, and
    what was dropped and why. A repository reserved for the independent evaluation is
    refused outright; the same bytes named twice (within a repository or across two) are
    kept once, as the first list and line to name them, so no picture sits on both sides
    of a held-out split; a mask that is missing or does not decode is left out (the
    picture keeps its label)."""
    picked: list[dict[str, str]] = []
    dropped: Counter[str] = Counter()
    for sel in selections:
        with sel.open(newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                if r["repo"].lower() in reserved:
                    dropped["reserved repository"] += 1
                elif r["label"] not in LABEL:
                    dropped["no label"] += 1
                else:
                    picked.append(r)
    blobs: dict[tuple[str, str], bytes | None] = {}
    for repo in sorted({r["repo"] for r in picked}):
        rs = [r for r in picked if r["repo"] == repo]
        specs = {f"{r['commit']}:{p}" for r in rs for p in (r["path"], r["mask_path"]) if p}
        got = snapshot_blobs(repos, repo, specs)
        if got is None:
            dropped["no snapshot"] += len(rs)
            continue
        for spec, data in got.items():
            blobs[(repo, spec)] = data
    rows: list[Row] = []
    seen: set[str] = set()
    for r in picked:  # in list order, so that the first to name a picture keeps it
        repo, commit = r["repo"], r["commit"]
        spec = (repo, f"{commit}:{r['path']}")
        if spec not in blobs:
            continue  # no snapshot of its repository (counted above)
        data = blobs[spec]
        if data is None:
            dropped["not in snapshot"] += 1
            continue
        sha = hashlib.sha256(data).hexdigest()
        if sha in seen:
            dropped["duplicate file"] += 1
            continue
        size = picture_size(data)
        if size is None:
            dropped["does not decode"] += 1
            continue
        mask_path, mask_sha = r.get("mask_path", "") or "", ""
        if mask_path:
            mdata = blobs.get((repo, f"{commit}:{mask_path}"))
            if mdata is None or binary_mask(mdata) is None:
                log.warning("%s@%s:%s: mask %s missing or undecodable, left out", repo, commit[:8],
                            r["path"], mask_path)
                dropped["mask left out"] += 1
                mask_path = ""
            else:
                mask_sha = hashlib.sha256(mdata).hexdigest()
        seen.add(sha)
        rows.append(Row(repo=repo, commit=commit, path=r["path"], mask_path=mask_path, sha256=sha,
                        mask_sha256=mask_sha, label=r["label"], edit_kind=r.get("edit_kind", "") or "unknown",
                        source_kind=r.get("source_kind", "") or "unknown", licence=r["licence"] or "none",
                        non_commercial=_flag(r["non_commercial"]), width=size[0], height=size[1],
                        group=repo))
    return rows, dropped


def _write(path: Path, data: bytes) -> bool:
    """Write ``data`` unless the file already holds exactly it; True when it was written."""
    if path.exists() and path.read_bytes() == data:
        return False
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return True


def prepare(rows: list[Row], repos: Path, out: Path) -> dict[str, int]:
    """Every row's picture as ``out/files/<sha12><ext>`` (its own bytes), its mask as
    ``out/masks/<sha12>.png`` and ``out/labels.csv``; a file already there with the right
    bytes is not written again, so a second run changes nothing."""
    files, masks = out / "files", out / "masks"
    files.mkdir(parents=True, exist_ok=True)
    masks.mkdir(exist_ok=True)
    counts: Counter[str] = Counter()
    labels: list[dict[str, str]] = []
    by_repo: dict[str, list[Row]] = {}
    for r in rows:
        by_repo.setdefault(r.repo, []).append(r)
    for repo, rs in progress_iter(sorted(by_repo.items()), "sources"):
        got = snapshot_blobs(repos, repo, {f"{r.commit}:{p}" for r in rs for p in (r.path, r.mask_path) if p})
        if got is None:
            counts["missing repository"] += len(rs)
            continue
        blobs = got
        for r in rs:
            dst = files / r.name
            have = dst.exists() and hashlib.sha256(dst.read_bytes()).hexdigest() == r.sha256
            data = dst.read_bytes() if have else blobs[f"{r.commit}:{r.path}"]
            if data is None or hashlib.sha256(data).hexdigest() != r.sha256:
                counts["missing or changed file"] += 1
                continue
            if picture_size(data) != (r.width, r.height):
                counts["does not decode to its size"] += 1
                continue
            if not have:
                _write(dst, data)
                counts["written"] += 1
            mask_rel = ""
            if r.mask_path:
                mdata = blobs[f"{r.commit}:{r.mask_path}"]
                mask = None
                if mdata is not None and hashlib.sha256(mdata).hexdigest() == r.mask_sha256:
                    raw = binary_mask(mdata)
                    if raw is not None and (raw.shape[1], raw.shape[0]) != (r.width, r.height):
                        log.warning("%s@%s:%s: mask %s is %dx%d, picture %dx%d: resized (nearest)", repo,
                                    r.commit[:8], r.path, r.mask_path, raw.shape[1], raw.shape[0],
                                    r.width, r.height)
                        counts["mask resized"] += 1
                    mask = binary_mask(mdata, (r.width, r.height))
                if mask is None:
                    log.warning("%s@%s:%s: mask %s missing or changed", repo, r.commit[:8], r.path,
                                r.mask_path)
                    counts["mask missing or changed"] += 1
                else:
                    mask_rel = f"masks/{r.sha256[:12]}.png"
                    _write(out / mask_rel, mask_png(mask))
                    counts["masks"] += 1
            counts[LABEL[r.label]] += 1
            labels.append({"file": f"files/{r.name}", "mask": mask_rel, "label": LABEL[r.label],
                           "edit_kind": r.edit_kind, "source_kind": r.source_kind, "group": r.group,
                           "licence": r.licence, "non_commercial": str(r.non_commercial),
                           "width": str(r.width), "height": str(r.height),
                           "source": f"{r.repo}@{r.commit}:{r.path}", "repo": r.repo, "commit": r.commit,
                           "path": r.path})
    buf = io.StringIO()
    wr = csv.DictWriter(buf, fieldnames=list(LABELS), lineterminator="\n")
    wr.writeheader()
    wr.writerows(sorted(labels, key=lambda d: d["file"]))
    _write(out / "labels.csv", buf.getvalue().encode("utf-8"))
    return dict(counts)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Extract the local-edits corpus from repository snapshots.")
    ap.add_argument("--repos", type=Path, required=True, help="folder of repository snapshots or clones")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--manifest", type=Path, default=MANIFEST)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    counts = prepare(read_manifest(args.manifest), args.repos, args.out)
    print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main()
