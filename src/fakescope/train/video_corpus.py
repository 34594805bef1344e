"""The video corpus (issue 28): clips of people from public repositories, generated and
real, each row a segment of one file at one commit, re-encoded alike.

``corpora/video/manifest.csv`` names every segment (repository@commit:path, start,
duration, the panel cut out of a side-by-side figure, the file's sha256, label, generator,
what kind of clip it is and the source's licence); ``scripts/video_manifest.py`` writes it
from the selection lists made while reviewing each source. ``prepare`` turns it into a
folder the rest of fakescope reads (``labels.csv`` with ``file, label, method, group, ...``
as ``../shared/data/video``), every clip through one chain so that neither codec, frame
rate nor size can give the label away:

    python -m fakescope.train.video_corpus --repos /work/.mirror --out DATA/video-corpus

The chain: the segment cut at a frame boundary, the panel cropped, scaled to at most
``MAX_HEIGHT`` px high (never up: upscaling would blur one kind of source only), 25 fps,
H.264 CRF 23, AAC 16 kHz mono where the file has sound. The group of a clip is its
repository: the unit held out by the estimate that predicts unseen generators.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import logging
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path

from fakescope.progress import progress_iter
from fakescope.train.pictures_corpus import git_dir, read_blobs, write_rows

log = logging.getLogger("fakescope.train")

MANIFEST = Path(__file__).resolve().parents[3] / "corpora" / "video" / "manifest.csv"
MAX_HEIGHT = 480
FPS = 25
MAX_SECONDS = 10.0
LABELS = ("file", "label", "method", "group", "has_audio", "license", "source", "kind", "framing",
          "width", "height", "non_commercial")


@dataclass(frozen=True)
class Row:
    repo: str
    commit: str
    path: str
    start: float  # seconds into the file
    duration: float  # seconds (at most MAX_SECONDS)
    crop: str  # ffmpeg "w:h:x:y": one panel of a side-by-side figure (empty: whole frame)
    sha256: str  # of the file
    label: str  # real | fake
    method: str  # the generator ("real" for camera footage)
    kind: str  # talking-head | half-body | dub | portrait-animation | swap | real-footage kinds
    framing: str  # head | half-body | full-body | crowd
    licence: str
    non_commercial: int

    @property
    def key(self) -> str:
        """Names the clip: the file's hash, the segment and the panel."""
        return hashlib.sha256(f"{self.sha256}:{self.start:g}:{self.duration:g}:{self.crop}".encode()
                              ).hexdigest()[:16]

    @property
    def group(self) -> str:
        return self.repo


def read_manifest(path: Path = MANIFEST) -> list[Row]:
    ints, floats = {"non_commercial"}, {"start", "duration"}
    with path.open(newline="", encoding="utf-8") as fh:
        return [Row(**{f.name: (int(r[f.name]) if f.name in ints else
                                float(r[f.name]) if f.name in floats else r[f.name])
                       for f in fields(Row)}) for r in csv.DictReader(fh)]


def write_manifest(rows: list[Row], path: Path = MANIFEST) -> None:
    write_rows(rows, Row, path)


def filters(row: Row) -> str:
    chain = [f"crop={row.crop}"] if row.crop else []
    # Even sizes for yuv420p; never upscale.
    chain += [f"scale=-2:'trunc(min(ih,{MAX_HEIGHT})/2)*2':flags=area", f"fps={FPS}", "format=yuv420p"]
    return ",".join(chain)


def encode(src: Path, row: Row, dst: Path) -> bool:
    """One segment through the common chain; False when ffmpeg could not make it."""
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-ss", f"{row.start:g}", "-i", str(src),
           "-t", f"{min(row.duration, MAX_SECONDS):g}", "-vf", filters(row), "-map", "0:v:0",
           "-map", "0:a:0?", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
           "-c:a", "aac", "-ar", "16000", "-ac", "1", "-b:a", "64k", "-threads", "2",
           "-map_metadata", "-1", str(dst)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 or not dst.exists() or dst.stat().st_size == 0:
        log.warning("%s@%s:%s not encoded: %s", row.repo, row.commit[:8], row.path,
                    done.stderr.strip().splitlines()[-1:] or "no output")
        dst.unlink(missing_ok=True)
        return False
    return True


def probe(path: Path) -> tuple[int, int, bool]:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,width,height",
                          "-of", "csv=p=0", str(path)], capture_output=True, text=True).stdout
    w = h = 0
    audio = False
    for line in out.splitlines():
        parts = line.split(",")
        if parts[0] == "video" and len(parts) >= 3:
            w, h = int(parts[1]), int(parts[2])
        elif parts[0] == "audio":
            audio = True
    return w, h, audio


def prepare(rows: list[Row], repos: Path, out: Path) -> dict[str, int]:
    """Every row's segment as ``out/<group>/<key>.mp4`` and ``out/labels.csv``; a clip
    already there is kept (a second run only adds what is missing)."""
    out.mkdir(parents=True, exist_ok=True)
    counts: Counter[str] = Counter()
    labels: list[dict[str, str]] = []
    by_repo: dict[str, list[Row]] = {}
    for r in rows:
        by_repo.setdefault(r.repo, []).append(r)
    todo = [(repo, rs) for repo, rs in sorted(by_repo.items())]
    with tempfile.TemporaryDirectory() as tmp:
        for repo, rs in progress_iter(todo, "sources"):
            try:
                gd = git_dir(repos, repo)
            except FileNotFoundError as exc:
                log.warning("%s", exc)
                counts["missing repository"] += len(rs)
                continue
            folder = repo.replace("/", "+")
            (out / folder).mkdir(exist_ok=True)
            specs = sorted({f"{r.commit}:{r.path}" for r in rs})
            blobs = dict(zip(specs, read_blobs(gd, specs), strict=True))
            for r in rs:
                rel = f"{folder}/{r.key}.mp4"
                dst = out / rel
                if not dst.exists():
                    data = blobs[f"{r.commit}:{r.path}"]
                    if data is None or hashlib.sha256(data).hexdigest() != r.sha256:
                        counts["missing or changed file"] += 1
                        continue
                    src = Path(tmp) / ("src" + Path(r.path).suffix)
                    src.write_bytes(data)
                    if not encode(src, r, dst):
                        counts["not encoded"] += 1
                        continue
                w, h, audio = probe(dst)
                if w == 0:  # the segment held no frame (a start past the last one)
                    dst.unlink()
                    counts["no frames"] += 1
                    continue
                counts[r.label] += 1
                labels.append({"file": rel, "label": r.label, "method": r.method, "group": r.group,
                               "has_audio": "yes" if audio else "no", "license": r.licence,
                               "source": f"{r.repo}@{r.commit}:{r.path}", "kind": r.kind,
                               "framing": r.framing, "width": str(w), "height": str(h),
                               "non_commercial": str(r.non_commercial)})
    with (out / "labels.csv").open("w", newline="", encoding="utf-8") as fh:
        wr = csv.DictWriter(fh, fieldnames=list(LABELS), lineterminator="\n")
        wr.writeheader()
        wr.writerows(sorted(labels, key=lambda d: d["file"]))
    return dict(counts)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Re-encode the video corpus from repository snapshots.")
    ap.add_argument("--repos", type=Path, required=True, help="folder of repository snapshots or clones")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--manifest", type=Path, default=MANIFEST)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    counts = prepare(read_manifest(args.manifest), args.repos, args.out)
    print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main()
