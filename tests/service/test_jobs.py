"""Durable jobs: leases, crash recovery, retries and concurrent workers, on SQLite and
PostgreSQL. The scanner is a stand-in so that timing is under the test's control."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta

from sqlalchemy import update

from fakescope.jobs.queue import JobQueue
from fakescope.jobs.worker import WorkerPool
from fakescope.report.schema import ScanReport
from fakescope.store.blobs import BlobStore
from fakescope.store.database import Database
from fakescope.store.models import Scan

from .conftest import FakeClock, FastScanner, upload, wait_final


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_jobs_accepted_before_a_crash_complete_after_restart(make_client, jpeg_bytes: bytes) -> None:
    # First life: uploads accepted, no worker gets to them; then the process "dies".
    first = make_client(start_workers=False)
    ids = [upload(first, jpeg_bytes, f"p{i}.jpg").json()["id"] for i in range(4)]
    svc = first.app.state.service
    host = socket.gethostname()
    with svc.db.write() as s:
        far = svc.clock() + timedelta(hours=1)
        # A worker of a process on this host that no longer exists: re-queued at once on start.
        s.execute(update(Scan).where(Scan.id == ids[0]).values(
            status="running", attempts=1, lease_owner=f"{host}:{_dead_pid()}:dead:0", lease_expires_at=far))
        # A worker elsewhere whose lease ran out: claimable again.
        s.execute(update(Scan).where(Scan.id == ids[1]).values(
            status="running", attempts=1, lease_owner="other-host:1:x:0",
            lease_expires_at=svc.clock() - timedelta(seconds=1)))
        # Interrupted as often as allowed already: failed, not retried forever.
        s.execute(update(Scan).where(Scan.id == ids[2]).values(
            status="running", attempts=3, lease_owner="other-host:1:x:0",
            lease_expires_at=svc.clock() - timedelta(seconds=1)))
    first.__exit__(None, None, None)

    scanner = FastScanner()
    second = make_client(scanner=scanner)
    final = {i: wait_final(second, i) for i in ids}
    assert [final[i]["status"] for i in ids] == ["done", "done", "failed", "done"]
    assert "interrupted 3 times" in final[ids[2]]["error"]
    assert sorted(scanner.scanned) == ["p0.jpg", "p1.jpg", "p3.jpg"]


def test_each_job_runs_once_with_concurrent_workers(db_url: str, tmp_path) -> None:
    from fakescope.service.core import new_scan_id
    from fakescope.store.database import utcnow

    if db_url.startswith("postgresql"):
        from .conftest import fresh_postgres

        fresh_postgres(db_url)
    db = Database(db_url)
    db.migrate()
    blobs = BlobStore(f"file://{tmp_path / 'blobs'}")
    ids = []
    with db.write() as s:
        for i in range(24):
            now = utcnow() + timedelta(milliseconds=i)
            sid = new_scan_id(now)
            blobs.put_bytes(f"scans/{sid}/upload.jpg", b"\xff\xd8\xff" + bytes(10))
            s.add(Scan(id=sid, created_at=now, expires_at=now + timedelta(days=1), status="queued",
                       filename=f"f{i}.jpg", size_bytes=13, sha256="0" * 64, media_type="image",
                       upload_key=f"scans/{sid}/upload.jpg", attempts=0, callback_attempts=0))
            ids.append(sid)
    scanner = FastScanner(delay=0.01)
    pools = [WorkerPool(JobQueue(db), blobs, workers=3, scanner_factory=lambda: scanner, poll_s=0.05)
             for _ in range(2)]  # two "processes" of three workers on one database
    for p in pools:
        p.start()
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and JobQueue(db).depth() != {"queued": 0, "running": 0}:
        time.sleep(0.05)
    for p in pools:
        p.stop()
    assert sorted(scanner.scanned) == sorted(f"f{i}.jpg" for i in range(24))  # once each
    with db.read() as s:
        assert {s.get(Scan, i).status for i in ids} == {"done"}
    db.dispose()


def _one_queued_scan(db_url: str, tmp_path, filename: str) -> tuple[Database, BlobStore, str]:
    """A migrated database and blob store holding one queued image scan."""
    from fakescope.service.core import new_scan_id
    from fakescope.store.database import utcnow

    db = Database(db_url)
    db.migrate()
    blobs = BlobStore(f"file://{tmp_path / 'blobs'}")
    now = utcnow()
    sid = new_scan_id(now)
    blobs.put_bytes(f"scans/{sid}/upload.jpg", b"\xff\xd8\xff")
    with db.write() as s:
        s.add(Scan(id=sid, created_at=now, expires_at=now + timedelta(days=1), status="queued",
                   filename=filename, size_bytes=3, sha256="0" * 64, media_type="image",
                   upload_key=f"scans/{sid}/upload.jpg", attempts=0, callback_attempts=0))
    return db, blobs, sid


def test_graceful_stop_gives_running_jobs_back(db_url: str, tmp_path) -> None:
    db, blobs, sid = _one_queued_scan(db_url, tmp_path, "slow.jpg")
    slow = FastScanner(delay=3.0)
    pool = WorkerPool(JobQueue(db), blobs, workers=1, scanner_factory=lambda: slow, poll_s=0.05)
    pool.start()
    import time

    while JobQueue(db).depth()["running"] == 0:
        time.sleep(0.02)
    pool.stop(timeout=0.2)  # the scan is still going: the job goes back to the queue
    with db.read() as s:
        row = s.get(Scan, sid)
        assert (row.status, row.lease_owner, row.attempts) == ("queued", None, 0)
    time.sleep(3.2)  # the abandoned thread finishing late must not touch the job nor its upload
    with db.read() as s:
        assert s.get(Scan, sid).status == "queued"
    assert blobs.exists(f"scans/{sid}/upload.jpg")
    db.dispose()


def test_heartbeat_keeps_a_long_scan_leased(db_url: str, tmp_path) -> None:
    db, blobs, sid = _one_queued_scan(db_url, tmp_path, "long.jpg")
    # A 2 s lease renewed every 0.5 s: enough slack for a loaded CI machine, while the scan
    # lasts more than twice the lease, so an unrenewed lease would certainly expire.
    slow = FastScanner(delay=5.0)
    pool = WorkerPool(JobQueue(db, lease_s=2.0), blobs, workers=1, scanner_factory=lambda: slow,
                      poll_s=0.05)
    other = JobQueue(db, lease_s=2.0)
    pool.start()
    import time

    # Only once the pool holds it: a queued job is anyone's to claim (on a loaded machine
    # the thief used to get there before the worker had even started).
    t0 = time.monotonic()
    while time.monotonic() - t0 < 30:
        with db.read() as s:
            if s.get(Scan, sid).status == "running":
                break
        time.sleep(0.02)
    t0 = time.monotonic()
    stolen = None
    while time.monotonic() - t0 < 4.5 and stolen is None:
        stolen = other.claim("thief")  # would succeed if the 2 s lease were not renewed
        time.sleep(0.1)
    pool.stop(timeout=8)
    assert stolen is None
    with db.read() as s:
        assert s.get(Scan, sid).status == "done"
    db.dispose()


def test_deleted_while_scanning_leaves_no_blob(make_client, jpeg_bytes: bytes, tmp_path) -> None:
    c = make_client(scanner=FastScanner(delay=1.0))
    sid = upload(c, jpeg_bytes).json()["id"]
    import time

    while c.get(f"/v1/scans/{sid}").json()["status"] != "running":
        time.sleep(0.02)
    assert c.delete(f"/v1/scans/{sid}").status_code == 204
    time.sleep(1.5)
    assert not (tmp_path / "data" / "blobs" / "scans" / sid).exists()


def test_fake_clock_is_monotonic() -> None:
    clock = FakeClock()
    a, b = clock(), clock()
    assert b > a


def test_report_hook_errors_do_not_fail_the_job(db_url: str, tmp_path) -> None:
    db, blobs, sid = _one_queued_scan(db_url, tmp_path, "a.jpg")

    def broken_hook(report: ScanReport, seconds: float) -> None:
        raise RuntimeError("metrics backend down")

    pool = WorkerPool(JobQueue(db), blobs, workers=1, scanner_factory=FastScanner, on_report=broken_hook,
                      poll_s=0.05)
    pool.start()
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with db.read() as s:
            if s.get(Scan, sid).status == "done":
                break
        time.sleep(0.05)
    pool.stop()
    with db.read() as s:
        assert s.get(Scan, sid).status == "done"
    db.dispose()
    assert os.path.exists(tmp_path / "blobs" / "scans" / sid / "upload.jpg")
