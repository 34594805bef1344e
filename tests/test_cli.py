"""The command line: output formats, exit status, HTML report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fakescope.cli", *args], capture_output=True,
                          text=True, timeout=600)


def test_jsonl_one_object_per_input_and_exit_1_on_failures(demo_dir: Path) -> None:
    p = run("scan", str(demo_dir), "--format", "jsonl")
    assert p.returncode == 1  # truncated.jpg failed; the rest was still scanned
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert len(rows) == 7  # README.txt is skipped, with a note on stderr
    assert "skipped" in p.stderr and "README.txt" in p.stderr
    required = {"schema_version", "file", "sha256", "media_type", "verdict", "score", "faces",
                "analyzers", "timing_ms", "models"}
    for row in rows:
        assert required <= row.keys()
    by_name = {Path(r["file"]).name: r for r in rows}
    assert by_name["truncated.jpg"]["verdict"] == "error"
    # No face, still judged: by the generated-image evidence.
    coffee = by_name["coffee.png"]
    assert coffee["verdict"] in ("real", "inconclusive") and coffee["score"] is not None
    assert coffee["decided_by"] == "generated_image" and coffee["faces"] == []
    face = by_name["astronaut.jpg"]["faces"][0]
    assert len(face["box"]) == 4 and len(face["landmarks"]) == 5 and 0 <= face["score"] <= 1
    assert set(by_name["astronaut.jpg"]["timing_ms"]) >= {"decode", "faces", "analyzers", "total"}
    assert by_name["group.jpg"]["file"] == str(demo_dir / "group.jpg")  # the path as given


def test_exit_0_when_everything_scanned(demo_dir: Path) -> None:
    p = run("scan", str(demo_dir / "astronaut.jpg"), str(demo_dir / "coffee.png"))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 2 and not lines[1].startswith("no_face") and "coffee.png" in lines[1]


def test_usage_errors_exit_2(demo_dir: Path) -> None:
    assert run("scan").returncode == 2
    assert run("scan", str(demo_dir), "--format", "xml").returncode == 2
    p = run("scan", str(demo_dir / "astronaut.jpg"), "--analyzers", "nope")
    assert p.returncode == 2 and "unknown analyzer" in p.stderr


def test_html_report_is_self_contained(demo_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    p = run("scan", str(demo_dir / "astronaut_selfblended.jpg"), str(demo_dir / "coffee.png"),
            "--html", str(out))
    assert p.returncode == 0, p.stderr
    html = out.read_text()
    assert html.count("data:image/jpeg;base64,") >= 3  # photo, aligned face, heatmap
    assert "FAKE" in html and "NO_FACE" not in html
    assert "where in the whole picture" in html  # the generated-image heatmap of each photo
    assert "http://" not in html and "https://" not in html and "<script" not in html


def test_schema_command_prints_json_schema() -> None:
    p = run("schema")
    schema = json.loads(p.stdout)
    assert "verdict" in schema["properties"] and "faces" in schema["properties"]


@pytest.mark.parametrize("arg", ["--version", "--help"])
def test_version_and_help(arg: str) -> None:
    p = run(arg)
    assert p.returncode == 0 and p.stdout
