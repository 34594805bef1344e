"""The video corpus (issue 28): segments read from a repository snapshot at a commit, cut,
cropped and re-encoded alike, labelled with their source group."""

from __future__ import annotations

import csv
import hashlib
import subprocess
from pathlib import Path

import pytest

from fakescope.train.video_corpus import MAX_HEIGHT, Row, prepare, probe, read_manifest, write_manifest


def _repo(tmp: Path) -> tuple[Path, str, bytes]:
    from fakescope.demo import talking_clip

    work = tmp / "work"
    work.mkdir()
    # 1280x720 with sound: bigger than the chain keeps, so the re-encode must shrink it.
    talking_clip(work / "side.mp4", seconds=3, size=(1280, 720), audio_shift_s=0.0)
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "side.mp4"], check=True)
    subprocess.run([*git, "commit", "-qm", "clip"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout
    (tmp / "mirror").mkdir()
    subprocess.run(["git", "clone", "-q", "--mirror", str(work), str(tmp / "mirror" / "someone+talks")],
                   check=True)
    return tmp / "mirror", commit.strip(), (work / "side.mp4").read_bytes()


def _row(commit: str, sha: str, **kw: object) -> Row:
    base = dict(repo="someone/talks", commit=commit, path="side.mp4", start=0.5, duration=2.0, crop="",
                sha256=sha, label="fake", method="Gen", kind="talking-head", framing="head",
                licence="MIT", non_commercial=0)
    base.update(kw)
    return Row(**base)  # type: ignore[arg-type]


def test_segments_are_cut_cropped_and_reencoded_alike(tmp_path: Path) -> None:
    repos, commit, data = _repo(tmp_path)
    sha = hashlib.sha256(data).hexdigest()
    rows = [_row(commit, sha), _row(commit, sha, crop="640:720:640:0", label="real", method="real"),
            _row(commit, "0" * 64, start=1.0)]  # a changed file is not taken
    manifest = tmp_path / "manifest.csv"
    write_manifest(rows, manifest)
    assert read_manifest(manifest) == sorted(rows, key=lambda r: (r.repo, r.path, r.crop))
    counts = prepare(read_manifest(manifest), repos, tmp_path / "out")
    assert counts == {"fake": 1, "real": 1, "missing or changed file": 1}
    with (tmp_path / "out" / "labels.csv").open() as fh:
        labels = {r["label"]: r for r in csv.DictReader(fh)}
    assert {r["group"] for r in labels.values()} == {"someone/talks"}
    assert labels["fake"]["source"] == f"someone/talks@{commit}:side.mp4"
    for label, width in (("fake", 854), ("real", 426)):
        clip = tmp_path / "out" / labels[label]["file"]
        w, h, audio = probe(clip)
        assert (w, h, audio) == (width, MAX_HEIGHT, True)
        out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                              "stream=r_frame_rate,codec_name:format=duration", "-of", "csv=p=0", str(clip)],
                             capture_output=True, text=True).stdout.split()
        assert "h264,25/1" in out
        assert float(out[-1]) == pytest.approx(2.0, abs=0.1)
    # A second run keeps what is there and adds nothing new.
    assert prepare(read_manifest(manifest), repos, tmp_path / "out") == counts
