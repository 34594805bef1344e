"""Service fixtures: an app per test on a fresh database — SQLite always, PostgreSQL when
FAKESCOPE_TEST_POSTGRES_URL points at a reachable server (CI starts one) — and a blob
folder in tmp_path."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fakescope.report.schema import ScanReport

try:
    with warnings.catch_warnings():
        # Starlette's TestClient now suggests httpx2; the httpx it is built on works as before.
        warnings.filterwarnings("ignore", message=".*httpx2.*")
        from fastapi.testclient import TestClient

    from fakescope.service.app import create_app
    from fakescope.service.settings import ServiceSettings
except ImportError:  # without the [service] extra these tests cannot run: skip them all
    collect_ignore_glob = ["test_*.py"]

PG_URL = os.environ.get("FAKESCOPE_TEST_POSTGRES_URL")
_pg_state: dict[str, str | None] = {}


def _pg_unreachable() -> str | None:
    if "reason" not in _pg_state:
        try:
            import psycopg

            url = PG_URL.replace("postgresql+psycopg://", "postgresql://")
            psycopg.connect(url, connect_timeout=3).close()
            _pg_state["reason"] = None
        except Exception as exc:
            _pg_state["reason"] = f"PostgreSQL at FAKESCOPE_TEST_POSTGRES_URL is not reachable: {exc}"
    return _pg_state["reason"]


def fresh_postgres(url: str) -> None:
    from fakescope.store.database import Database
    from fakescope.store.models import Base

    db = Database(url)
    Base.metadata.drop_all(db.engine)
    db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fakescope.db'}"
    if not PG_URL:
        pytest.skip("PostgreSQL tests need FAKESCOPE_TEST_POSTGRES_URL (CI sets it)")
    reason = _pg_unreachable()
    if reason:
        pytest.skip(reason)
    fresh_postgres(PG_URL)
    return PG_URL


@pytest.fixture(scope="session")
def jpeg_bytes() -> bytes:
    from PIL import Image

    from fakescope.demo import astronaut

    buf = io.BytesIO()
    Image.fromarray(astronaut()).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, 12, 0, 0)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            # Every reading moves on a little, so rows created one after another keep their order.
            self.now += timedelta(milliseconds=1)
            return self.now

    def advance(self, **kw: float) -> None:
        with self._lock:
            self.now += timedelta(**kw)


class FastScanner:
    """A stand-in Scanner for queue tests: instant, records what it scanned."""

    def __init__(self, delay: float = 0.0) -> None:
        self.scanned: list[str] = []
        self.delay = delay
        self._lock = threading.Lock()

    def scan(self, path: Any, display: str | None = None) -> ScanReport:
        time.sleep(self.delay)
        with self._lock:
            self.scanned.append(display or str(path))
        return ScanReport(fakescope_version="test", file=display or str(path), verdict="real", score=0.1,
                          media_type="image", reason="stand-in scanner")


AppFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(db_url: str, tmp_path: Path, explaining_scanner: Any) -> Iterator[AppFactory]:
    """make_client(**settings, scanner=..., clock=..., start_workers=...) -> a started TestClient."""
    clients: list[TestClient] = []

    def make(*, scanner: Any = None, clock: Any = None, start_workers: bool = True,
             **overrides: Any) -> TestClient:
        values: dict[str, Any] = {"data_dir": tmp_path / "data", "database_url": db_url, "auth": "off",
                                  "workers": 1, "purge_interval_s": 3600.0}
        values.update(overrides)
        s = scanner if scanner is not None else explaining_scanner
        kwargs: dict[str, Any] = {"scanner_factory": lambda: s, "start_workers": start_workers}
        if clock is not None:
            kwargs["clock"] = clock
        client = TestClient(create_app(ServiceSettings(**values), **kwargs), base_url="http://localhost")
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def wait_final(client: TestClient, scan_id: str, headers: dict[str, str] | None = None,
               timeout: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/v1/scans/{scan_id}", headers=headers or {})
        assert r.status_code == 200, r.text
        body = r.json()
        if body["status"] in ("done", "failed"):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"scan {scan_id} still {body['status']} after {timeout} s")
        time.sleep(0.1)


def upload(client: TestClient, data: bytes, name: str = "astronaut.jpg",
           headers: dict[str, str] | None = None, **fields: str) -> Any:
    return client.post("/v1/scans", files={"file": (name, data, "image/jpeg")}, data=fields or None,
                       headers=headers or {})


RealServer = Callable[..., tuple[str, str]]


@pytest.fixture
def real_server(tmp_path: Path) -> Iterator[RealServer]:
    """``start(name, env)`` runs `fakescope serve` in a subprocess (API keys required, data
    in tmp_path) and returns its base URL and a fresh key once /readyz answers; every server
    started is stopped after the test. For the tests that drive a real browser."""
    started: list[tuple[subprocess.Popen[bytes], Any]] = []

    def start(name: str = "browser", env: dict[str, str] | None = None) -> tuple[str, str]:
        import httpx

        data = tmp_path / "data"
        full_env = {**os.environ, "FAKESCOPE_CONFIG": "", **(env or {})}
        cli = [sys.executable, "-m", "fakescope.cli"]
        key = subprocess.run([*cli, "keys", "create", "--data-dir", str(data), "--name", name],
                             capture_output=True, text=True, env=full_env, check=True).stdout.strip()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed when the server stops
        proc = subprocess.Popen([*cli, "serve", "--data-dir", str(data), "--port", str(port),
                                 "--auth", "required"], stdout=log, stderr=subprocess.STDOUT, env=full_env)
        started.append((proc, log))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    return base, key
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("server did not start: " + (tmp_path / "server.log").read_text()[-3000:])
            time.sleep(0.3)

    yield start
    for proc, log in started:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def raw_upload_scope(content_length: int, query: bytes = b"filename=a.jpg") -> dict[str, Any]:
    """The ASGI scope of a raw ``POST /v1/scans`` (JPEG body), for tests that play the client
    themselves (one that stalls, one that goes away)."""
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": "/v1/scans", "raw_path": b"/v1/scans", "query_string": query,
            "root_path": "", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
            "headers": [(b"host", b"localhost"), (b"content-type", b"image/jpeg"),
                        (b"content-length", str(content_length).encode())]}
