"""`fakescope batch --executor ray` gives the same rows as the local process pool.

Each test starts its own local Ray instance and stops it (skipped without the [ray]
extra). Ray binds to loopback only (its single-machine mode) with a small object store,
no dashboard and no usage statistics.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fakescope.batch.rows import VOLATILE_COLUMNS
from fakescope.batch.run import BatchConfig, run_batch
from fakescope.batch.writers import read_rows

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                reason="ray is not installed (pip install 'fakescope[ray]')")

RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def stable(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["path"]: {k: v for k, v in r.items() if k not in VOLATILE_COLUMNS} for r in rows}


@pytest.fixture(scope="module")
def local_rows(media_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    out = tmp_path_factory.mktemp("local") / "r.jsonl"
    summary = run_batch(BatchConfig(source=str(media_dir), out=out, executor="local", workers=2,
                                    progress=False))
    assert summary.workers == 2 and summary.scanned == 8
    return read_rows(out)


@pytest.fixture
def ray_instance(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for k, v in RAY_ENV.items():
        monkeypatch.setenv(k, v)
    import ray

    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20,
             logging_level="WARNING")
    try:
        yield ray
    finally:
        ray.shutdown()


def test_ray_actors_give_the_same_rows_as_local_workers(ray_instance: Any, media_dir: Path, tmp_path: Path,
                                                        local_rows: list[dict[str, Any]]) -> None:
    out = tmp_path / "r.parquet"
    summary = run_batch(BatchConfig(source=str(media_dir), out=out, executor="ray", workers=2,
                                    progress=False))
    assert summary.executor == "ray" and summary.workers == 2
    assert summary.scanned == 8 and summary.errors == {"truncated_file": 1}
    assert stable(read_rows(out)) == stable(local_rows)
    assert ray_instance.is_initialized()  # an instance the caller started is left running
    again = run_batch(BatchConfig(source=str(media_dir), out=out, executor="ray", workers=2, progress=False))
    assert (again.scanned, again.already_done) == (0, 8)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cli_joins_a_cluster_started_with_ray_start_head(media_dir: Path, tmp_path: Path,
                                                          local_rows: list[dict[str, Any]]) -> None:
    ray_bin = shutil.which("ray", path=os.path.dirname(sys.executable))
    assert ray_bin, "the ray extra installs the `ray` command beside python"
    port = _free_port()
    env = {**os.environ, **RAY_ENV}
    # Unix socket paths are limited to ~107 bytes: a short temp dir, not pytest's.
    temp_dir = tempfile.mkdtemp(prefix="fsray", dir="/tmp")
    log = open(tmp_path / "head.log", "w")  # noqa: SIM115 (closed below)
    head = subprocess.Popen(
        [ray_bin, "start", "--head", "--block", f"--port={port}", "--node-ip-address=127.0.0.1",
         "--num-cpus=2", "--include-dashboard=false", "--object-store-memory=200000000",
         "--disable-usage-stats", f"--temp-dir={temp_dir}"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in (tmp_path / "head.log").read_text():
            assert head.poll() is None and time.monotonic() < deadline, (tmp_path / "head.log").read_text()
            time.sleep(0.5)
        out = tmp_path / "r.csv"
        p = subprocess.run(
            [sys.executable, "-m", "fakescope.cli", "batch", str(media_dir), "--out", str(out),
             "--executor", "ray", "--address", f"127.0.0.1:{port}", "--workers", "2"],
            capture_output=True, text=True, timeout=600, env=env)
        assert p.returncode == 1, p.stderr  # truncated.jpg
        assert "8 scanned" in p.stderr and "(ray, 2 workers)" in p.stderr
        assert p.stdout == ""
        assert stable(read_rows(out)) == stable(local_rows)
    finally:
        # `ray start --block` stops every process it started on SIGTERM.
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)
