"""The pictures corpus (issue 26): real photographs and generated pictures from public
repositories, each file pinned to a commit, listed in ``corpora/pictures/manifest.csv``.

Each row names one picture: ``repo`` (owner/name), ``commit``, ``path``, the ``crop`` that
cuts it out of a grid or strip (empty for a whole file), the file's ``sha256``, the
``label`` (real / fake), the ``generator`` (for real photos, the kind of camera or
collection), the generator's ``family``, what it shows (``content``: people, scene, art...),
its ``licence`` and whether that licence is non-commercial. The unit a figure holds out is
the ``source`` repository: a page's fakes and its reals go out together.

``prepare`` turns the manifest into a folder the training and evaluation code read:

    python -m fakescope.train.pictures_corpus prepare --repos /work/.mirror --out DATA/pictures

It reads every file from a clone or a bare mirror of its repository (``REPOS/owner+name``
or ``REPOS/owner/name``, as ``git clone --mirror`` or the search tool's fetch leave them),
checks its sha256, decodes it (EXIF orientation applied, transparency over mid-grey),
refuses greyscale pictures and those under 256 px on the shorter side, cuts the rest to at
most 1024 px on the longer side (area averaging, both classes alike), drops near-duplicates
(the same picture in two repositories would sit on both sides of a held-out split) and
writes ``files/<sha12>.png`` and ``labels.csv``. The same manifest and blobs give the same
folder, byte for byte.

``hidden_like`` is the channel the figures pass both classes through, as the hidden sets
were made: the longer side resized to 384-512 px, JPEG quality 88-90, drawn per file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("fakescope.train")

MANIFEST = Path(__file__).resolve().parents[3] / "corpora" / "pictures" / "manifest.csv"
MAX_SIDE = 1024
MIN_SIDE = 256
# dHash distance at or under which two pictures are the same picture (re-saved, rescaled).
DUPLICATE_BITS = 6


@dataclass(frozen=True)
class Row:
    repo: str
    commit: str
    path: str
    crop: str  # "x,y,w,h": a panel of a grid or strip (empty: the whole file)
    sha256: str  # of the file, before any crop
    label: str  # real | fake
    generator: str
    family: str  # camera | gan | diffusion | autoregressive | unknown
    content: str  # people | scene | art | ...
    licence: str
    non_commercial: int

    @property
    def source(self) -> str:
        return self.repo

    @property
    def key(self) -> str:
        """Names the picture: the file's hash, and the panel when it is one."""
        if not self.crop:
            return self.sha256
        return hashlib.sha256(f"{self.sha256}:{self.crop}".encode()).hexdigest()

    def cut(self, rgb: np.ndarray) -> np.ndarray:
        if not self.crop:
            return rgb
        x, y, w, h = (int(v) for v in self.crop.split(","))
        return rgb[y:y + h, x:x + w]


def read_manifest(path: Path = MANIFEST) -> list[Row]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [Row(**{f.name: (int(r[f.name]) if f.name == "non_commercial" else r[f.name])
                       for f in fields(Row)}) for r in csv.DictReader(fh)]


def write_rows(rows: Iterable[Any], row_type: type, path: Path) -> None:
    """A manifest of dataclass rows as CSV (columns in field order, rows ordered by repository,
    path and, where rows have one, crop): the same rows always give the same bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=[f.name for f in fields(row_type)], lineterminator="\n")
        w.writeheader()
        for r in sorted(rows, key=lambda r: (r.repo, r.path, getattr(r, "crop", ""))):
            w.writerow(asdict(r))


def write_manifest(rows: Iterable[Row], path: Path = MANIFEST) -> None:
    write_rows(rows, Row, path)


def git_dir(repos: Path, repo: str) -> Path:
    """The git directory of ``repo`` under ``repos`` (a bare mirror or a clone)."""
    owner, name = repo.split("/", 1)
    for cand in (repos / f"{owner}+{name}", repos / owner / name, repos / name):
        if not cand.exists():
            continue
        if (cand / ".git").exists():
            return cand / ".git"
        if (cand / "objects").exists():
            return cand
        found = sorted(p.parent for p in cand.glob("**/objects") if (p.parent / "HEAD").exists())
        if found:
            return found[0]
    raise FileNotFoundError(f"no clone or mirror of {repo} under {repos} (git clone --mirror "
                            f"https://github.com/{repo} {repos}/{owner}+{name})")


def read_blobs(gitdir: Path, specs: list[str]) -> Iterator[bytes | None]:
    """The contents of ``commit:path`` specs, in order (None for one that is missing)."""
    proc = subprocess.Popen(["git", f"--git-dir={gitdir}", "cat-file", "--batch"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for spec in specs:
            proc.stdin.write(spec.encode() + b"\n")
            proc.stdin.flush()
            header = proc.stdout.readline().split()
            if len(header) < 3 or header[1] != b"blob":
                yield None
                continue
            data = proc.stdout.read(int(header[2]))
            proc.stdout.read(1)
            yield data
    finally:
        proc.stdin.close()
        proc.wait()


def decode(data: bytes) -> np.ndarray | None:
    """RGB uint8 with orientation applied and transparency over mid-grey; None for a
    greyscale picture or one that does not decode."""
    from PIL import Image, ImageOps

    try:
        im = Image.open(io.BytesIO(data))
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, (128, 128, 128, 255))
            im = Image.alpha_composite(bg, im)
        rgb = np.asarray(im.convert("RGB"))
    except Exception:
        return None
    small = rgb[:: max(1, rgb.shape[0] // 64), :: max(1, rgb.shape[1] // 64)].astype(np.int16)
    if max(np.abs(small[..., 0] - small[..., 1]).mean(), np.abs(small[..., 1] - small[..., 2]).mean()) < 1.0:
        return None  # greyscale: a colour-less picture says nothing either class would
    return rgb


def cap_size(rgb: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    f = max_side / max(h, w)
    if f >= 1.0:
        return rgb
    return cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)


def dhash(rgb: np.ndarray) -> int:
    """A 64-bit difference hash: near-identical pictures (re-saved, rescaled) share it
    within a few bits."""
    import cv2

    g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    s = cv2.resize(g, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (s[:, 1:] > s[:, :-1]).flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


def _png(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


LABEL_FIELDS = ["file", "label", "generator", "family", "content", "source", "licence", "non_commercial",
                "repo", "commit", "path", "crop", "width", "height"]


def prepare(rows: list[Row], repos: Path, out: Path, known: Iterable[Path] = ()) -> dict[str, int]:
    """Write ``out/files/*.png`` and ``out/labels.csv`` (see the module); returns counts of
    what was kept and why the rest was not. Pictures that duplicate one in a ``known``
    folder (one with a labels.csv, e.g. the shared data's) are dropped too: the two would
    be different sources holding the same picture."""
    from rich.progress import track

    files = out / "files"
    files.mkdir(parents=True, exist_ok=True)
    counts = {"kept": 0, "missing": 0, "sha_mismatch": 0, "undecodable_or_grey": 0, "too_small": 0,
              "duplicate": 0}
    by_repo: dict[str, list[Row]] = {}
    for r in rows:
        by_repo.setdefault(r.repo, []).append(r)
    kept: list[dict[str, object]] = []
    hashes = _Hashes(_known_hashes(known))
    seen_sha: set[str] = set()
    ordered = [(repo, by_repo[repo]) for repo in sorted(by_repo)]
    todo = sum(len(v) for _, v in ordered)
    it = ((repo, r, data) for repo, rs in ordered
          for r, data in zip(rs, read_blobs(git_dir(repos, repo), [f"{r.commit}:{r.path}" for r in rs]),
                             strict=True))
    for repo, r, data in track(it, total=todo, description="preparing pictures"):
        if data is None:
            counts["missing"] += 1
            continue
        if hashlib.sha256(data).hexdigest() != r.sha256:
            counts["sha_mismatch"] += 1
            continue
        if r.key in seen_sha:
            counts["duplicate"] += 1
            continue
        rgb = decode(data)
        if rgb is None:
            counts["undecodable_or_grey"] += 1
            continue
        rgb = r.cut(rgb)
        if min(rgb.shape[:2]) < MIN_SIDE:
            counts["too_small"] += 1
            continue
        rgb = cap_size(rgb)
        h = dhash(rgb)
        if hashes.near(h):
            counts["duplicate"] += 1
            continue
        hashes.add(h)
        seen_sha.add(r.key)
        name = f"{r.key[:12]}.png"
        path = files / name
        if not path.exists():
            path.write_bytes(_png(rgb))
        kept.append({"file": f"files/{name}", "label": r.label, "generator": r.generator,
                     "family": r.family, "content": r.content, "source": r.source, "licence": r.licence,
                     "non_commercial": r.non_commercial, "repo": repo, "commit": r.commit, "path": r.path,
                     "crop": r.crop,
                     "width": rgb.shape[1], "height": rgb.shape[0]})
        counts["kept"] += 1
    with (out / "labels.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=LABEL_FIELDS, lineterminator="\n")
        w.writeheader()
        w.writerows(kept)
    return counts


class _Hashes:
    """dHashes seen so far; ``near`` says whether one is within DUPLICATE_BITS of any."""

    def __init__(self, first: Iterable[int] = ()) -> None:
        self._a = np.zeros(1024, np.uint64)
        self._n = 0
        for h in first:
            self.add(h)

    def add(self, h: int) -> None:
        if self._n == len(self._a):
            self._a = np.concatenate([self._a, np.zeros_like(self._a)])
        self._a[self._n] = np.uint64(h)
        self._n += 1

    def near(self, h: int) -> bool:
        x = np.bitwise_xor(self._a[: self._n], np.uint64(h))
        bits = np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(1)
        return bool((bits <= DUPLICATE_BITS).any())


def _known_hashes(folders: Iterable[Path]) -> list[int]:
    from PIL import Image

    out = []
    for folder in folders:
        with (folder / "labels.csv").open(newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                out.append(dhash(cap_size(np.asarray(Image.open(folder / r["file"]).convert("RGB")))))
    return out


def prepare_frames(video_dirs: Iterable[Path], out: Path, per_clip: int = 4) -> int:
    """Still frames of the *real* clips of video folders (labels.csv with file, label,
    group), at 1/(n+1) ... n/(n+1) of each clip: real footage uploaded as a picture must
    stay real too. ``source`` is the clip's group (its collection)."""
    from fakescope.config import MediaLimits
    from fakescope.media import decode, read_file

    files = out / "files"
    files.mkdir(parents=True, exist_ok=True)
    limits = MediaLimits()
    kept = []
    for folder in video_dirs:
        with (folder / "labels.csv").open(newline="", encoding="utf-8") as fh:
            clips = [r for r in csv.DictReader(fh) if r["label"] == "real"]
        for c in clips:
            media = decode(read_file(folder / c["file"], limits), limits)
            times = [media.info.duration_s * (i + 1) / (per_clip + 1) for i in range(per_clip)]  # type: ignore[union-attr]
            for i, frame in enumerate(media.frames_at(times)):  # type: ignore[union-attr]
                clip_id = hashlib.sha1(f"{folder.name}/{c['file']}".encode()).hexdigest()[:12]
                name = f"{clip_id}-{i}.png"
                (files / name).write_bytes(_png(frame.rgb))
                kept.append({"file": f"files/{name}", "label": "real", "generator": "video frame",
                             "family": "camera", "content": "face", "source": f"video-{c['group']}",
                             "licence": c.get("license", ""), "non_commercial": 1, "repo": "",
                             "commit": "", "path": c["file"], "crop": "", "width": frame.rgb.shape[1],
                             "height": frame.rgb.shape[0]})
    with (out / "labels.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=LABEL_FIELDS, lineterminator="\n")
        w.writeheader()
        w.writerows(kept)
    return len(kept)


def corpus_rows(corpus: Path) -> list[dict[str, str]]:
    """A prepared corpus's ``labels.csv`` with ``key`` (corpus/file), ``path`` and ``source``
    (the publishing repository; the shared data's folders name theirs in their own way)."""
    with (corpus / "labels.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r["key"] = f"{corpus.name}/{r['file']}"
        r["path"] = str(corpus / r["file"])
        r.setdefault("source", corpus.name)
        if corpus.name in ("generated", "photos"):  # shared data: source = the publishing repository
            src = r.get("source", "") or ""
            r["source"] = src.split("@")[0] if "/" in src else f"shared-{corpus.name}-{r.get('set', 'x')}"
            r["label"] = "fake" if corpus.name == "generated" else "real"
            r.setdefault("generator", r.get("set", corpus.name))
            r["content"] = r.get("content") or ""
    return rows


ALIGNED_SIZE = 512


def ffhq_quad(landmarks5: np.ndarray) -> np.ndarray:
    """The FFHQ framing of a face from its 5 points (eyes, nose, mouth corners): a square
    around the eyes and mouth, turned with the face, (4, 2) corners: top-left, bottom-left,
    bottom-right, top-right."""
    eye_l, eye_r = landmarks5[0], landmarks5[1]
    mouth = (landmarks5[3] + landmarks5[4]) / 2
    eye_avg = (eye_l + eye_r) / 2
    eye_to_eye, eye_to_mouth = eye_r - eye_l, mouth - eye_avg
    x = eye_to_eye - np.array([-eye_to_mouth[1], eye_to_mouth[0]])
    x /= max(np.hypot(*x), 1e-6)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.array([-x[1], x[0]])
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def aligned_face(rgb: np.ndarray, landmarks5: np.ndarray, size: int = ALIGNED_SIZE,
                 min_size: int = 256) -> np.ndarray | None:
    """The FFHQ-style aligned crop of a face, ``size`` px or the framing's own size when
    smaller (never upsampled: a blur would tell); None when the framing is under
    ``min_size`` px or reaches far outside the picture."""
    import cv2

    quad = ffhq_quad(landmarks5)
    side = float(np.hypot(*(quad[3] - quad[0])))
    h, w = rgb.shape[:2]
    margin = 0.1 * side
    if side < min_size or quad[:, 0].min() < -margin or quad[:, 1].min() < -margin \
            or quad[:, 0].max() > w + margin or quad[:, 1].max() > h + margin:
        return None
    out = min(size, int(side))
    f = out / side  # shrink first with area averaging, as FFHQ's photos were
    small = rgb if f >= 1 else cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))),
                                          interpolation=cv2.INTER_AREA)
    src = (quad[[0, 1, 3]] * min(f, 1.0)).astype(np.float32)
    dst = np.array([[0, 0], [0, out], [out, 0]], np.float32)
    m = cv2.getAffineTransform(src, dst)
    return cv2.warpAffine(small, m, (out, out), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def prepare_aligned(corpora: Iterable[Path], out: Path) -> int:
    """FFHQ-style aligned crops of the largest confirmed face of every picture of both
    classes (GAN portrait sets are aligned this way, real photos seldom are: with both
    classes aligned alike, the framing cannot tell the label). Each crop keeps its
    picture's source, so held-out folds keep them together."""
    from PIL import Image

    from fakescope.faces.detector import FaceDetector

    detector = FaceDetector()
    files = out / "files"
    files.mkdir(parents=True, exist_ok=True)
    kept: list[dict[str, object]] = []
    rows = [r for c in corpora for r in corpus_rows(c)]
    for n, r in enumerate(rows, 1):
        rgb = np.asarray(Image.open(r["path"]).convert("RGB"))
        faces = [f for f in detector.detect(rgb) if f.why_not_judged() is None]
        if faces:
            face = max(faces, key=lambda f: f.eye_distance)
            crop = aligned_face(rgb, face.landmarks5)
            if crop is not None:
                name = hashlib.sha1(r["key"].encode()).hexdigest()[:12] + ".png"
                (files / name).write_bytes(_png(crop))
                kept.append({"file": f"files/{name}", "label": r["label"],
                             "generator": r.get("generator", ""), "family": r.get("family", ""),
                             "content": "aligned face", "source": r["source"],
                             "licence": r.get("licence", ""), "non_commercial": r.get("non_commercial", ""),
                             "repo": "", "commit": "", "path": r["key"], "crop": "", "width": crop.shape[1],
                             "height": crop.shape[0]})
        if n % 500 == 0:
            log.info("%d/%d pictures, %d aligned faces", n, len(rows), len(kept))
    with (out / "labels.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=LABEL_FIELDS, lineterminator="\n")
        w.writeheader()
        w.writerows(kept)
    return len(kept)


def stable_unit(key: str, salt: str = "") -> float:
    """A number in [0, 1) fixed by ``key``: the same file is always degraded the same way."""
    return int(hashlib.sha1(f"{salt}:{key}".encode()).hexdigest()[:8], 16) / 2**32


def hidden_like(rgb: np.ndarray, key: str) -> np.ndarray:
    """The hidden sets' channel, drawn per file: longer side to 384-512 px (area), JPEG
    quality 88-90."""
    import cv2
    from PIL import Image

    side = 384 + int(stable_unit(key, "side") * 129)
    q = 88 + int(stable_unit(key, "q") * 3)
    h, w = rgb.shape[:2]
    f = side / max(h, w)
    if f < 1.0:
        rgb = cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=q)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def prepare_faces(faces: Path, out: Path, n: int = 400) -> int:
    """``n`` real face crops of a DFDC folder (``labels.csv``: file, label, group), one per
    source video, drawn by a fixed hash of their names: the real class's close-up faces."""
    import shutil

    with (faces / "labels.csv").open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["label"] == "real"]
    one_each: dict[str, dict[str, str]] = {}
    for r in sorted(rows, key=lambda r: stable_unit(r["file"], "dfdc-real")):
        one_each.setdefault(r.get("group") or r["file"], r)
    chosen = list(one_each.values())[:n]
    (out / "files").mkdir(parents=True, exist_ok=True)
    with (out / "labels.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "label", "generator", "family", "content", "source", "licence"])
        for r in chosen:
            name = Path(r["file"]).name
            shutil.copyfile(faces / r["file"], out / "files" / name)
            w.writerow([f"files/{name}", "real", "DFDC video frames", "camera", "face", "dfdc-train",
                        "DFDC terms (research, non-commercial)"])
    return len(chosen)


def prepare_screens(out: Path, n: int = 400) -> int:
    """``n`` drawn screenshots (text, chat bubbles, cards, charts: ``train.screens``) as real
    pictures: a screenshot is not a generator's picture, and nothing else in the corpus
    shows one. Keys other than those the fusion check draws (``dev*``)."""
    from fakescope.train.screens import screenshot

    (out / "files").mkdir(parents=True, exist_ok=True)
    with (out / "labels.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["file", "label", "generator", "family", "content", "source", "licence"])
        for i in range(n):
            name = f"corpus{i:04d}.png"
            (out / "files" / name).write_bytes(_png(screenshot(f"corpus{i:04d}")))
            w.writerow([f"files/{name}", "real", "drawn screenshot", "render", "screenshot",
                        "fakescope/drawn-screens", "Apache-2.0 (drawn by fakescope.train.screens)"])
    return n


def sources_table(labels: Path) -> str:
    """The README's table of sources (markdown) from a prepared corpus's ``labels.csv``."""
    from collections import Counter

    with labels.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    groups: dict[tuple[str, str], list[dict[str, str]]] = {}
    for r in rows:
        groups.setdefault((r["label"], r["source"]), []).append(r)
    order = sorted(groups, key=lambda k: (k[0] != "real", -len(groups[k]), k[1].lower()))
    out = ["| label | source repository | pictures | what | licence |", "|---|---|---|---|---|"]
    for label, source in order:
        g = groups[(label, source)]
        kinds = Counter(r["generator"] for r in g).most_common()
        what = kinds[0][0] if len(kinds) == 1 else "; ".join(f"{k} {n}" for k, n in kinds[:4]) + (
            " …" if len(kinds) > 4 else "")
        nc = " — **non-commercial**" if any(r["non_commercial"] == "1" for r in g) else ""
        out.append(f"| {label} | {source} | {len(g)} | {what} | {g[0]['licence']}{nc} |")
    n_real = sum(1 for r in rows if r["label"] == "real")
    out.append(f"\nTotal: {n_real} real, {len(rows) - n_real} generated, {len(groups)} sources")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m fakescope.train.pictures_corpus")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="write the corpus folder from the manifest")
    p.add_argument("--manifest", type=Path, default=MANIFEST)
    p.add_argument("--repos", type=Path, required=True, help="folder of clones or mirrors")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--known", type=Path, action="append", default=[],
                   help="a folder with labels.csv whose pictures must not come again (repeatable)")
    f = sub.add_parser("frames", help="still frames of the real clips of video folders")
    f.add_argument("--video", type=Path, action="append", required=True)
    f.add_argument("--out", type=Path, required=True)
    d = sub.add_parser("faces", help="real face crops of a DFDC folder, one per source video")
    d.add_argument("--faces", type=Path, required=True)
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--n", type=int, default=400)
    al = sub.add_parser("aligned", help="FFHQ-style aligned face crops of prepared corpora, both classes")
    al.add_argument("--corpus", type=Path, action="append", required=True)
    al.add_argument("--out", type=Path, required=True)
    sc = sub.add_parser("screens", help="drawn screenshots as real pictures")
    sc.add_argument("--out", type=Path, required=True)
    sc.add_argument("--n", type=int, default=400)
    t = sub.add_parser("table", help="print the README's sources table of a prepared corpus")
    t.add_argument("corpus", type=Path)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if a.cmd == "faces":
        log.info("%d face crops", prepare_faces(a.faces, a.out, a.n))
        return
    if a.cmd == "aligned":
        log.info("%d aligned faces", prepare_aligned(a.corpus, a.out))
        return
    if a.cmd == "screens":
        log.info("%d screenshots", prepare_screens(a.out, a.n))
        return
    if a.cmd == "table":
        print(sources_table(a.corpus / "labels.csv"))
        return
    if a.cmd == "frames":
        log.info("%d frames", prepare_frames(a.video, a.out))
        return
    counts = prepare(read_manifest(a.manifest), a.repos, a.out, a.known)
    log.info("pictures corpus: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()


def reserved_repos(path: Path | None) -> set[str]:
    """Repositories (lower case) named at the start of a line of EVALUATION-RESERVED.md."""
    if path is None or not path.exists():
        return set()
    names = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)\b", line.strip())
        if m:
            names.add(m.group(1).lower())
    return names
