"""The job queue lives in the ``scans`` table: queued -> running -> done | failed.

A worker *claims* a job by taking a lease (owner + expiry) and keeps it alive with
heartbeats. A job whose lease expired (its worker died) is claimable again; one that was
interrupted ``max_attempts`` times is failed rather than retried forever (a file that
crashes the process must not take the service down in a loop). On start, a server
re-queues at once the running jobs of dead processes on its own host, so a restart after a
crash does not wait for their leases to expire.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update

from fakescope.report.schema import ScanReport
from fakescope.store.database import Database, utcnow
from fakescope.store.models import Scan

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Job:
    id: str
    filename: str
    upload_key: str
    media_type: str | None
    attempts: int


# Tells this process from an earlier one that had the same pid (a restarted container).
PROCESS_BOOT = secrets.token_hex(6)


def owner_id(pool: str, index: int) -> str:
    """``host:pid:process-boot:pool:index`` — enough to tell, after a crash, whose lease is stale."""
    return f"{socket.gethostname()}:{os.getpid()}:{PROCESS_BOOT}:{pool}:{index}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobQueue:
    def __init__(self, db: Database, *, lease_s: float = 60.0, max_attempts: int = 3,
                 clock: Clock = utcnow) -> None:
        self.db = db
        self.lease = timedelta(seconds=lease_s)
        self.max_attempts = max_attempts
        self.clock = clock

    def _claimable(self, now: datetime):  # type: ignore[no-untyped-def]
        # A queued job's lease_expires_at, when set, is the time before which it waits
        # (``retry_later``).
        return or_(and_(Scan.status == "queued",
                        or_(Scan.lease_expires_at.is_(None), Scan.lease_expires_at < now)),
                   and_(Scan.status == "running", Scan.lease_expires_at < now))

    def claim(self, owner: str) -> Job | None:
        """Take the oldest claimable job, or None when there is none."""
        for _ in range(20):
            now = self.clock()
            with self.db.write() as s:
                q = (select(Scan.id, Scan.attempts, Scan.filename, Scan.upload_key, Scan.media_type)
                     .where(self._claimable(now)).order_by(Scan.created_at, Scan.id).limit(1))
                if self.db.dialect == "postgresql":
                    q = q.with_for_update(skip_locked=True)
                row = s.execute(q).first()
                if row is None:
                    return None
                if row.attempts >= self.max_attempts:
                    s.execute(update(Scan).where(Scan.id == row.id, self._claimable(now)).values(
                        status="failed", finished_at=now, lease_owner=None, lease_expires_at=None,
                        error=f"the scan was interrupted {row.attempts} times (the worker stopped or "
                              "crashed while scanning this file); not retried",
                        **_callback_due(now)))
                    continue
                res = s.execute(update(Scan).where(Scan.id == row.id, self._claimable(now)).values(
                    status="running", lease_owner=owner, lease_expires_at=now + self.lease,
                    attempts=Scan.attempts + 1, started_at=now))
                if res.rowcount == 1:
                    return Job(id=row.id, filename=row.filename, upload_key=row.upload_key or "",
                               media_type=row.media_type, attempts=row.attempts + 1)
        return None

    def heartbeat(self, owner: str, ids: Iterable[str]) -> None:
        ids = list(ids)
        if not ids:
            return
        with self.db.write() as s:
            s.execute(update(Scan).where(Scan.id.in_(ids), Scan.lease_owner == owner,
                                         Scan.status == "running")
                      .values(lease_expires_at=self.clock() + self.lease))

    def complete(self, job_id: str, owner: str, report: ScanReport, heatmap_key: str | None) -> bool:
        """Store the report; False when the job is no longer ours (deleted, or re-leased)."""
        now = self.clock()
        with self.db.write() as s:
            res = s.execute(update(Scan).where(Scan.id == job_id, Scan.lease_owner == owner,
                                               Scan.status == "running").values(
                status="done", verdict=report.verdict, score=report.score,
                media_type=report.media_type, report=report.to_json(), heatmap_key=heatmap_key,
                finished_at=now, lease_owner=None, lease_expires_at=None, error=None,
                **_callback_due(now)))
            return res.rowcount == 1

    def fail(self, job_id: str, owner: str, message: str) -> bool:
        now = self.clock()
        with self.db.write() as s:
            res = s.execute(update(Scan).where(Scan.id == job_id, Scan.lease_owner == owner,
                                               Scan.status == "running").values(
                status="failed", error=message[:2000], finished_at=now, lease_owner=None,
                lease_expires_at=None, **_callback_due(now)))
            return res.rowcount == 1

    def retry_later(self, job_id: str, owner: str, delay_s: float, message: str) -> bool:
        """Queue the job again after ``delay_s``, the attempt not counted: a temporary
        failure (the blob store unavailable) is not the file's fault."""
        now = self.clock()
        with self.db.write() as s:
            res = s.execute(update(Scan).where(Scan.id == job_id, Scan.lease_owner == owner,
                                               Scan.status == "running").values(
                status="queued", lease_owner=None, error=message[:2000],
                lease_expires_at=now + timedelta(seconds=delay_s),
                attempts=func.greatest(Scan.attempts - 1, 0) if self.db.dialect == "postgresql"
                else func.max(Scan.attempts - 1, 0)))
            return res.rowcount == 1

    def release(self, owner: str, ids: Iterable[str]) -> int:
        """Give unfinished jobs back (a graceful stop): queued again, the attempt not counted."""
        ids = list(ids)
        if not ids:
            return 0
        with self.db.write() as s:
            res = s.execute(update(Scan).where(Scan.id.in_(ids), Scan.lease_owner == owner,
                                               Scan.status == "running").values(
                status="queued", lease_owner=None, lease_expires_at=None,
                attempts=func.greatest(Scan.attempts - 1, 0) if self.db.dialect == "postgresql"
                else func.max(Scan.attempts - 1, 0)))
            return res.rowcount

    def recover_dead_local(self) -> int:
        """Re-queue running jobs held by processes of this host that no longer exist."""
        host, me = socket.gethostname(), os.getpid()
        stale = []
        with self.db.read() as s:
            for job_id, owner in s.execute(select(Scan.id, Scan.lease_owner).where(
                    Scan.status == "running", Scan.lease_owner.like(f"{host}:%"))):
                parts = (owner or "").split(":")
                if len(parts) < 3 or not parts[1].isdigit():
                    continue
                pid = int(parts[1])
                if (pid == me and parts[2] != PROCESS_BOOT) or (pid != me and not _pid_alive(pid)):
                    stale.append((job_id, owner))
        n = 0
        for job_id, owner in stale:
            with self.db.write() as s:
                n += s.execute(update(Scan).where(Scan.id == job_id, Scan.lease_owner == owner,
                                                  Scan.status == "running")
                               .values(status="queued", lease_owner=None,
                                       lease_expires_at=None)).rowcount
        return n

    def exists(self, job_id: str) -> bool:
        with self.db.read() as s:
            return s.scalar(select(Scan.id).where(Scan.id == job_id)) is not None

    def depth(self) -> dict[str, int]:
        with self.db.read() as s:
            rows = s.execute(select(Scan.status, func.count()).where(
                Scan.status.in_(("queued", "running"))).group_by(Scan.status)).all()
        out = {"queued": 0, "running": 0}
        out.update({status: int(n) for status, n in rows})
        return out


def _callback_due(now: datetime) -> dict:  # type: ignore[type-arg]
    """Values that mark a finished job's callback as due, when it has a callback URL."""
    from sqlalchemy import case

    return {
        "callback_state": case((Scan.callback_url.is_not(None), "pending"), else_=None),
        "callback_next_at": case((Scan.callback_url.is_not(None), now), else_=None),
    }
