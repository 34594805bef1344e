"""`fakescope batch`: sources, the three output formats, resume after a kill, Ctrl-C.

Ray is compared with the local executor in tests/test_batch_ray.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fakescope.batch.rows import VOLATILE_COLUMNS, RowSchema
from fakescope.batch.run import BatchConfig, BatchSummary, analyzer_names, run_batch
from fakescope.batch.writers import JOURNAL_SUFFIX, read_rows
from fakescope.config import ScanSettings

MEDIA_IN_DEMO = 8  # make_demo's 7 media files (README.txt is not media) + the generated clip


def cli(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fakescope.cli", "batch", *args], capture_output=True,
                          text=True, timeout=600, **kw)


def batch(source: str | Path, out: Path, **kw: Any) -> BatchSummary:
    kw.setdefault("workers", 0)  # in this process: the pool has its own tests below
    kw.setdefault("progress", False)
    return run_batch(BatchConfig(source=str(source), out=out, **kw))


def stable(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Rows by path without the columns that differ between two scans of the same bytes."""
    return {r["path"]: {k: v for k, v in r.items() if k not in VOLATILE_COLUMNS} for r in rows}


@pytest.fixture(scope="session")
def many_photos(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> Path:
    """30 distinct small portraits: enough for a run to be killed half-way."""
    out = tmp_path_factory.mktemp("many")
    small = np.asarray(Image.fromarray(astronaut).resize((256, 256), Image.BILINEAR))
    for i in range(30):
        img = np.roll(small, 3 * i - 45, axis=1)
        Image.fromarray(np.ascontiguousarray(img)).save(out / f"p{i:03d}.jpg", quality=85 + i % 10)
    return out


@pytest.fixture(scope="session")
def jsonl_rows(media_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = tmp_path_factory.mktemp("jsonl") / "r.jsonl"
    summary = batch(media_dir, out)
    assert summary.scanned == MEDIA_IN_DEMO and summary.not_media == 1
    assert summary.exit_status == 1  # the truncated JPEG
    return read_rows(out)


def test_one_row_per_media_file_with_the_documented_columns(jsonl_rows: list[dict[str, Any]],
                                                            media_dir: Path, scanner: Any) -> None:
    names = RowSchema(analyzers=analyzer_names(ScanSettings())).names()
    assert all(list(r) == names for r in jsonl_rows)
    assert {"score_face_forgery", "score_blink", "score_voice"} <= set(names)
    by_name = {Path(r["path"]).name: r for r in jsonl_rows}
    assert len(jsonl_rows) == MEDIA_IN_DEMO and "README.txt" not in by_name
    assert by_name["group.jpg"]["path"] == os.path.join(str(media_dir), "group.jpg")
    assert by_name["truncated.jpg"]["verdict"] == "error"
    assert by_name["truncated.jpg"]["error_code"] == "truncated_file"
    coffee = by_name["coffee.png"]
    assert coffee["verdict"] in ("real", "inconclusive") and coffee["faces"] == 0
    assert coffee["decided_by"] == "generated_image"
    clip = by_name["clip.mp4"]
    assert clip["media_type"] == "video" and clip["duration_s"] == pytest.approx(2.0, abs=0.1)
    assert clip["score_blink"] is not None and clip["score_face_forgery"] is not None
    # The row is the scanner's own verdict, flattened.
    for name in ("astronaut.jpg", "astronaut_selfblended.jpg", "coffee.png", "truncated.jpg"):
        report = scanner.scan(media_dir / name)
        row = by_name[name]
        assert (row["verdict"], row["score"], row["sha256"]) == (report.verdict, report.score, report.sha256)
        assert row["size_bytes"] == (media_dir / name).stat().st_size
        ff = {a.name: a.score for a in report.analyzers}.get("face-forgery")
        assert row["score_face_forgery"] == ff
        assert row["c2pa_state"] == (report.provenance.c2pa.state if report.provenance else None)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_csv_and_parquet_hold_the_same_rows_as_jsonl(fmt: str, media_dir: Path, tmp_path: Path,
                                                     jsonl_rows: list[dict[str, Any]]) -> None:
    out = tmp_path / f"r.{fmt}"
    batch(media_dir, out)
    rows = read_rows(out)
    assert list(rows[0]) == list(jsonl_rows[0])
    assert stable(rows) == stable(jsonl_rows)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        schema = pq.read_schema(out)
        assert str(schema.field("score").type) == "double" and str(schema.field("faces").type) == "int64"
        assert not out.with_name(out.name + JOURNAL_SUFFIX).exists()


def test_rerun_skips_done_files_and_rescans_changed_ones(media_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(media_dir, src)
    out = tmp_path / "r.csv"
    first = batch(src, out, limit=3)
    assert first.scanned == 3
    second = batch(src, out)
    assert (second.scanned, second.already_done) == (MEDIA_IN_DEMO - 3, 3)
    third = batch(src, out)
    assert (third.scanned, third.already_done) == (0, MEDIA_IN_DEMO)
    assert third.earlier_errors == 1 and third.exit_status == 1  # truncated.jpg's row is an error
    # New bytes under a known path: scanned again, its new row beside the old one.
    Image.open(src / "coffee.png").convert("L").save(src / "coffee.png")
    fourth = batch(src, out)
    assert (fourth.scanned, fourth.already_done) == (1, MEDIA_IN_DEMO - 1)
    rows = read_rows(out)
    assert len(rows) == MEDIA_IN_DEMO + 1
    assert len({(r["path"], r["sha256"]) for r in rows}) == len(rows)
    assert sum(Path(r["path"]).name == "coffee.png" for r in rows) == 2


def test_listing_file_with_comments_missing_files_and_duplicates(media_dir: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(media_dir)  # relative lines are relative to the current directory
    listing = tmp_path / "files.txt"
    listing.write_text("# photos to check\n\nastronaut.jpg\n  coffee.png  \nmissing.jpg\nastronaut.jpg\n"
                       f"file://{media_dir / 'group.jpg'}\n")
    out = tmp_path / "r.jsonl"
    summary = batch(listing, out)
    rows = {r["path"]: r for r in read_rows(out)}
    assert list(rows) != [] and set(rows) == {"astronaut.jpg", "coffee.png", "missing.jpg",
                                              f"file://{media_dir / 'group.jpg'}"}
    assert rows["missing.jpg"]["error_code"] == "not_found" and rows["missing.jpg"]["sha256"] is None
    assert rows[f"file://{media_dir / 'group.jpg'}"]["faces"] == 3
    assert summary.exit_status == 1
    # A file that still cannot be read is not tried again (its row is there).
    again = batch(listing, out)
    assert (again.scanned, again.already_done) == (0, 4)


def test_memory_fsspec_prefix(media_dir: Path, tmp_path: Path, jsonl_rows: list[dict[str, Any]]) -> None:
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    for name in ("astronaut.jpg", "coffee.png", "truncated.jpg", "README.txt"):
        fs.pipe(f"/archive/2024/{name}", (media_dir / name).read_bytes())
    fs.pipe("/archive/.hidden/x.jpg", b"not scanned")
    out = tmp_path / "r.jsonl"
    try:
        summary = batch("memory://archive", out)  # memory:// exists in this process only
    finally:
        fs.rm("/archive", recursive=True)
    assert summary.not_media == 1  # README.txt, by its name
    rows = stable(read_rows(out))
    names = ("astronaut.jpg", "coffee.png", "truncated.jpg")
    assert set(rows) == {f"memory://archive/2024/{n}" for n in names}
    local = stable(jsonl_rows)
    for path, row in rows.items():
        name = path.rsplit("/", 1)[1]
        want = dict(local[os.path.join(str(media_dir), name)], path=path)
        assert row == want  # bytes through fsspec give the same row as the file on disk


def test_file_url_prefix_read_by_worker_processes(media_dir: Path, tmp_path: Path,
                                                  jsonl_rows: list[dict[str, Any]]) -> None:
    out = tmp_path / "r.parquet"
    summary = batch(f"file://{media_dir}", out, workers=2)
    assert summary.workers == 2 and summary.scanned == MEDIA_IN_DEMO
    local = stable(jsonl_rows)
    for path, row in stable(read_rows(out)).items():
        assert row == dict(local[path.removeprefix("file://")], path=path)


def test_torn_last_line_is_cut_and_scanned_again(media_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    batch(media_dir, out, limit=2)
    whole = out.read_bytes()
    out.write_bytes(whole[: len(whole) - 40])  # a run killed in the middle of its second row
    summary = batch(media_dir, out)
    assert summary.repaired_bytes > 0
    assert (summary.already_done, summary.scanned) == (1, MEDIA_IN_DEMO - 1)
    rows = read_rows(out)
    assert len(rows) == MEDIA_IN_DEMO == len({r["path"] for r in rows})


def test_parquet_merge_never_duplicates_rows_already_merged(media_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.parquet"
    batch(media_dir, out, limit=3)
    journal = out.with_name(out.name + JOURNAL_SUFFIX)
    # A kill between the rename of the merged file and the journal's deletion leaves both.
    journal.write_text("".join(json.dumps(r) + "\n" for r in read_rows(out)))
    summary = batch(media_dir, out)
    assert summary.already_done == 3
    rows = read_rows(out)
    assert len(rows) == MEDIA_IN_DEMO == len({r["path"] for r in rows})
    assert not journal.exists()


def test_other_analyzer_set_is_refused_and_usage_errors_exit_2(media_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    p = cli(str(media_dir), "--out", str(out), "--analyzers", "face-forgery", "--workers", "0",
            "--limit", "2")
    assert p.returncode == 0, p.stderr
    p = cli(str(media_dir), "--out", str(out), "--workers", "0")
    assert p.returncode == 2 and "analyzer columns" in p.stderr
    assert cli(str(media_dir), "--out", str(tmp_path / "r.xlsx")).returncode == 2
    assert cli(str(tmp_path / "nope"), "--out", str(out)).returncode == 2
    p = cli(str(media_dir / "astronaut.jpg"), "--out", str(tmp_path / "x.jsonl"))
    assert p.returncode == 2 and "media file" in p.stderr
    assert cli(str(media_dir), "--out", str(out), "--address", "auto").returncode == 2


def test_a_second_run_on_the_same_output_is_refused_while_the_first_writes(media_dir: Path,
                                                                          tmp_path: Path) -> None:
    from fakescope.batch.writers import Output, OutputError

    out = tmp_path / "r.jsonl"
    first = Output(out, "jsonl", RowSchema(analyzers=analyzer_names(ScanSettings())))
    first.prepare()  # holds the lock, as a running batch does
    try:
        with pytest.raises(OutputError, match="another fakescope batch"):
            batch(media_dir, out)
    finally:
        first.close()
    assert batch(media_dir, out, limit=1).scanned == 1


def _rows_in(out: Path) -> int:
    journal = out.with_name(out.name + JOURNAL_SUFFIX)
    path = journal if out.suffix == ".parquet" else out
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _start(source: Path, out: Path, workers: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "fakescope.cli", "batch", str(source), "--out", str(out), "--workers",
         str(workers), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for_rows(proc: subprocess.Popen[str], out: Path, n: int, timeout: float = 300.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = _rows_in(out)
        if rows >= n:
            return rows
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"no {n} rows after {timeout} s")


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_sigkilled_run_resumes_without_duplicates(fmt: str, many_photos: Path, tmp_path: Path) -> None:
    out = tmp_path / f"r.{fmt}"
    proc = _start(many_photos, out, workers=2)
    try:
        seen = _wait_for_rows(proc, out, 4)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the parent and its workers: a machine loss
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    written = _rows_in(out)
    assert seen <= written < 30, "the kill came too late to test resuming"
    p = cli(str(many_photos), "--out", str(out), "--workers", "2")
    assert p.returncode == 0, p.stderr
    rows = read_rows(out)
    assert sorted(r["path"] for r in rows) == sorted(str(many_photos / f"p{i:03d}.jpg") for i in range(30))
    assert f"{30 - written} scanned" in p.stderr and f"{written} already in" in p.stderr


def test_ctrl_c_writes_what_completed_and_leaves_a_valid_output(many_photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.parquet"
    proc = _start(many_photos, out, workers=1)
    try:
        _wait_for_rows(proc, out, 3)
        proc.send_signal(signal.SIGINT)  # the parent only, as `kill -INT` would
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    assert "run the same command again to resume" in stderr
    assert not out.with_name(out.name + JOURNAL_SUFFIX).exists()  # merged into the Parquet file
    rows = read_rows(out)
    assert 3 <= len(rows) < 30 and len({r["path"] for r in rows}) == len(rows)
    summary = batch(many_photos, out, workers=1)
    assert summary.already_done == len(rows) and summary.scanned == 30 - len(rows)
