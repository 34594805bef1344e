"""The demo-page speech corpus: the manifest becomes a labelled folder only when the snapshot
holds exactly the listed bytes, and the per-family table counts what it should."""

from __future__ import annotations

import csv
import hashlib
import subprocess
from pathlib import Path

import pytest

from fakescope.train.speech_corpus import prepare, table

FIELDS = ["repo", "commit", "path", "sha256", "label", "system", "page", "family", "prompt", "language",
          "seconds", "sample_rate", "licence", "non_commercial", "note"]


def _mirror(root: Path, files: dict[str, bytes]) -> str:
    work = root / "work"
    work.mkdir()
    for name, data in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(data)
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git[:3], "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    head = subprocess.run([*git[:3], "rev-parse", "HEAD"], check=True, capture_output=True, text=True)
    subprocess.run(["git", "clone", "-q", "--mirror", str(work), str(root / "mirrors" / "lab+demo")],
                   check=True)
    return head.stdout.strip()


def _manifest(path: Path, commit: str, rows: list[tuple[str, bytes, str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        w.writeheader()
        for p, data, label, family in rows:
            w.writerow({"repo": "lab/demo", "commit": commit, "path": p,
                        "sha256": hashlib.sha256(data).hexdigest(),
                        "label": label, "system": "bonafide" if label == "real" else "clone-tts",
                        "page": "lab/demo", "family": family, "prompt": "", "language": "en", "seconds": "2",
                        "sample_rate": "16000", "licence": "none stated", "non_commercial": "1", "note": ""})
    return path


def test_prepare_copies_the_listed_bytes_and_groups_by_family(tmp_path: Path) -> None:
    files = {"wavs/prompt.wav": b"RIFF-real", "wavs/clone.wav": b"RIFF-fake", "wavs/unlisted.wav": b"x"}
    commit = _mirror(tmp_path, files)
    m = _manifest(tmp_path / "m.csv", commit, [("wavs/prompt.wav", files["wavs/prompt.wav"], "real", "fam"),
                                               ("wavs/clone.wav", files["wavs/clone.wav"], "fake", "fam")])
    out = tmp_path / "out"
    assert prepare(tmp_path / "mirrors", out, m) == 2
    rows = list(csv.DictReader((out / "labels.csv").open()))
    assert sorted(r["label"] for r in rows) == ["fake", "real"]
    assert {r["group"] for r in rows} == {"fam"}
    for r in rows:
        data = (out / r["file"]).read_bytes()
        assert r["source"].endswith(":wavs/prompt.wav" if r["label"] == "real" else ":wavs/clone.wav")
        assert data == files[r["source"].split(":", 1)[1]]


def test_prepare_refuses_a_snapshot_with_other_bytes(tmp_path: Path) -> None:
    commit = _mirror(tmp_path, {"a.wav": b"one"})
    m = _manifest(tmp_path / "m.csv", commit, [("a.wav", b"other", "real", "f")])
    with pytest.raises(ValueError, match="other bytes"):
        prepare(tmp_path / "mirrors", tmp_path / "out", m)
    m = _manifest(tmp_path / "m2.csv", commit, [("missing.wav", b"one", "real", "f")])
    with pytest.raises(FileNotFoundError, match=r"missing\.wav"):
        prepare(tmp_path / "mirrors", tmp_path / "out", m)


def test_table_gives_each_family_its_auc_and_false_alarms(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text(
        "file,label,system,page,family,group,prompt,language,source,licence,non_commercial\n"
        + "".join(f"f{i}.wav,{lab},s,p,{fam},{fam},,en,x,none,1\n"
                  for i, (lab, fam) in enumerate([("real", "a"), ("real", "a"), ("fake", "a"), ("fake", "a"),
                                                  ("real", "b"), ("fake", "b")])))
    scores = [0.1, 0.95, 0.8, 0.9, 0.7, 0.2]  # family a: 2 of 4 pairs right; b: inverted
    (tmp_path / "scores.csv").write_text("file,label,score,verdict,reason\n" + "".join(
        f"f{i}.wav,x,{s},{'fake' if s >= 0.9 else 'inconclusive'},r\n" for i, s in enumerate(scores)))
    text = table(tmp_path, tmp_path / "scores.csv")
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in text.splitlines()[2:]}
    assert rows["a"][3] == "0.500" and rows["a"][5] == "50.0%" and rows["a"][6].startswith("50.0%")
    assert rows["b"][3] == "0.000" and rows["b"][5] == "0.0%"
    assert rows["all pages"][1:3] == ["3", "3"]
