"""The local-edits corpus (issue 29): pictures read from a repository snapshot at a commit,
kept byte for byte, their masks made binary at the picture's size, reserved repositories
refused and the same bytes kept once."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakescope.train.edits_corpus import main, read_manifest

ROOT = Path(__file__).resolve().parents[1]


def _encode(a: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format=fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return buf.getvalue()


def _mirror(mirrors: Path, repo: str, files: dict[str, bytes]) -> str:
    """A bare mirror ``mirrors/owner+name`` of one commit holding ``files``; its commit."""
    work = mirrors.parent / f"work-{repo.replace('/', '+')}"
    for rel, data in files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_bytes(data)
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "pictures"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout
    subprocess.run(["git", "clone", "-q", "--mirror", str(work), str(mirrors / repo.replace("/", "+"))],
                   check=True)
    return commit.strip()


@pytest.fixture()
def corpus(tmp_path: Path) -> dict[str, object]:
    rng = np.random.default_rng(0)
    edited = _encode(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), "JPEG")
    authentic = _encode(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8), "PNG")
    # Half the picture's size, grey values on both sides of the cut (as a JPEG mask has):
    # the top-left quadrant is the edit.
    small = np.full((24, 32), 100, np.uint8)
    small[:12, :16] = 200
    mirrors = tmp_path / "mirror"
    mirrors.mkdir()
    files = {"forged/a.JPG": edited, "masks/a_gt.png": _encode(small, "PNG"), "orig/b.png": authentic,
             "copy/a.JPG": edited}
    commit = _mirror(mirrors, "someone/edits", files)
    other = _mirror(mirrors, "Reserved/Set", {"x.png": authentic})
    (tmp_path / "RESERVED.md").write_text("# Reserved\n\nreserved/set (its test pictures)\n",
                                          encoding="utf-8")
    sel = tmp_path / "edits.csv"
    with sel.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["repo", "commit", "path", "mask_path", "label", "edit_kind", "source_kind", "licence",
                    "non_commercial", "note"])
        w.writerow(["someone/edits", commit, "forged/a.JPG", "masks/a_gt.png", "edited", "splice", "CASIA",
                    "MIT", "yes", "folder forged/"])
        w.writerow(["someone/edits", commit, "orig/b.png", "", "authentic", "none", "own-demo", "MIT",
                    "unknown", "folder orig/"])
        w.writerow(["someone/edits", commit, "copy/a.JPG", "", "edited", "splice", "CASIA", "MIT", "no",
                    "the same bytes again"])
        w.writerow(["Reserved/Set", other, "x.png", "", "authentic", "none", "own-demo", "MIT", "no", ""])
    return {"tmp": tmp_path, "mirrors": mirrors, "commit": commit, "sel": sel, "edited": edited,
            "authentic": authentic}


def _build(corpus: dict[str, object], manifest: Path) -> str:
    """Run ``scripts/edits_manifest.py`` as a person would; its report."""
    tmp = corpus["tmp"]
    assert isinstance(tmp, Path)
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "edits_manifest.py"), "--repos",
                           str(corpus["mirrors"]), "--selections", str(corpus["sel"]), "--reserved",
                           str(tmp / "RESERVED.md"), "--out", str(manifest)],
                          capture_output=True, text=True, check=True, cwd=ROOT).stdout


def test_manifest_refuses_reserved_and_keeps_a_file_once(corpus: dict[str, object]) -> None:
    tmp = corpus["tmp"]
    assert isinstance(tmp, Path)
    manifest = tmp / "manifest.csv"
    report = _build(corpus, manifest)
    assert "2 pictures from 1 repositories" in report
    assert "'duplicate file': 1" in report and "'reserved repository': 1" in report
    rows = read_manifest(manifest)
    assert [(r.path, r.label, r.group) for r in rows] == [("forged/a.JPG", "edited", "someone/edits"),
                                                          ("orig/b.png", "authentic", "someone/edits")]
    a, b = rows
    assert a.sha256 == hashlib.sha256(corpus["edited"]).hexdigest()  # type: ignore[arg-type]
    assert (a.width, a.height, b.width, b.height) == (64, 48, 40, 40)
    assert a.mask_path == "masks/a_gt.png" and len(a.mask_sha256) == 64 and b.mask_sha256 == ""
    assert (a.non_commercial, b.non_commercial) == (1, 1)  # unknown terms count as non-commercial
    # The same selections and snapshots give the same bytes.
    first = manifest.read_bytes()
    _build(corpus, manifest)
    assert manifest.read_bytes() == first


def test_prepare_keeps_bytes_and_binarises_masks(corpus: dict[str, object], caplog: pytest.LogCaptureFixture,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    tmp, commit = corpus["tmp"], corpus["commit"]
    assert isinstance(tmp, Path)
    manifest = tmp / "manifest.csv"
    _build(corpus, manifest)
    out = tmp / "out"
    argv = ["--repos", str(corpus["mirrors"]), "--out", str(out), "--manifest", str(manifest)]
    with caplog.at_level(logging.WARNING, logger="fakescope.train"):
        main(argv)
    assert capsys.readouterr().out.strip() == "fake: 1, mask resized: 1, masks: 1, real: 1, written: 2"
    assert any("32x24, picture 64x48" in m for m in caplog.messages)

    sha_a = hashlib.sha256(corpus["edited"]).hexdigest()  # type: ignore[arg-type]
    sha_b = hashlib.sha256(corpus["authentic"]).hexdigest()  # type: ignore[arg-type]
    assert (out / "files" / f"{sha_a[:12]}.jpg").read_bytes() == corpus["edited"]
    assert (out / "files" / f"{sha_b[:12]}.png").read_bytes() == corpus["authentic"]
    mask_im = Image.open(out / "masks" / f"{sha_a[:12]}.png")
    assert (mask_im.mode, mask_im.size) == ("L", (64, 48))
    mask = np.asarray(mask_im)
    want = np.zeros((48, 64), np.uint8)
    want[:24, :32] = 255
    np.testing.assert_array_equal(mask, want)

    with (out / "labels.csv").open(newline="", encoding="utf-8") as fh:
        labels = list(csv.DictReader(fh))
    assert labels == sorted([
        {"file": f"files/{sha_a[:12]}.jpg", "mask": f"masks/{sha_a[:12]}.png", "label": "fake",
         "edit_kind": "splice", "source_kind": "CASIA", "group": "someone/edits", "licence": "MIT",
         "non_commercial": "1", "width": "64", "height": "48",
         "source": f"someone/edits@{commit}:forged/a.JPG", "repo": "someone/edits", "commit": commit,
         "path": "forged/a.JPG"},
        {"file": f"files/{sha_b[:12]}.png", "mask": "", "label": "real", "edit_kind": "none",
         "source_kind": "own-demo", "group": "someone/edits", "licence": "MIT", "non_commercial": "1",
         "width": "40", "height": "40", "source": f"someone/edits@{commit}:orig/b.png",
         "repo": "someone/edits", "commit": commit, "path": "orig/b.png"},
    ], key=lambda d: d["file"])

    # A second run writes nothing and leaves the folder as it was.
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file()}
    main(argv)
    assert capsys.readouterr().out.strip() == "fake: 1, mask resized: 1, masks: 1, real: 1"
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file()} == before

    # A picture whose bytes changed since the manifest was made is not taken.
    text = manifest.read_text(encoding="utf-8").replace(sha_b, "0" * 64)
    manifest.write_text(text, encoding="utf-8")
    main(["--repos", str(corpus["mirrors"]), "--out", str(tmp / "out2"), "--manifest", str(manifest)])
    assert "missing or changed file: 1" in capsys.readouterr().out
