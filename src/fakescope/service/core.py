"""The service's state and background work, independent of HTTP: accept an upload, audit,
purge by retention, and start/stop the workers, callbacks and maintenance threads."""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from fakescope.jobs.callbacks import CallbackDispatcher
from fakescope.jobs.queue import JobQueue
from fakescope.jobs.worker import ScannerFactory, WorkerPool, scanner_factory_for
from fakescope.service.metrics import Metrics
from fakescope.service.ratelimit import RateLimiter
from fakescope.service.settings import ServiceSettings, people_scan_settings
from fakescope.service.uploads import Upload, blob_suffix
from fakescope.store.blobs import BlobStore
from fakescope.store.database import Database, utcnow
from fakescope.store.models import AuditEvent, IdempotencyKey, Review, Scan

log = logging.getLogger("fakescope.service")

Clock = Callable[[], datetime]
# A blob folder with no scan row is an upload that crashed between storing and recording,
# or a deletion that crashed half-way; after this long it cannot be an upload in flight.
ORPHAN_GRACE = timedelta(hours=1)
# How long an upload's Idempotency-Key is remembered.
IDEMPOTENCY_TTL = timedelta(hours=24)


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before for a different upload."""
VIEW_AUDIT_DEDUP_S = 60.0


def new_scan_id(now: datetime) -> str:
    """Time-ordered (milliseconds first) and unguessable (64 random bits)."""
    ms = int(now.replace(tzinfo=timezone.utc).timestamp() * 1000)
    return f"{ms:012x}{secrets.token_hex(8)}"


def scan_id_time(scan_id: str) -> datetime | None:
    try:
        ms = int(scan_id[:12], 16)
    except ValueError:
        return None
    return datetime.fromtimestamp(ms / 1000, timezone.utc).replace(tzinfo=None)


def scan_resource(scan: Scan, *, with_report: bool = True) -> dict[str, Any]:
    """The JSON a client sees for a scan (the API's ScanOut, and the callback body)."""
    out: dict[str, Any] = {
        "id": scan.id, "status": scan.status, "filename": scan.filename,
        "size_bytes": scan.size_bytes, "sha256": scan.sha256, "media_type": scan.media_type,
        "verdict": scan.verdict, "score": scan.score, "error": scan.error,
        "created_at": iso(scan.created_at), "started_at": iso(scan.started_at),
        "finished_at": iso(scan.finished_at), "expires_at": iso(scan.expires_at),
        "links": {"self": f"/v1/scans/{scan.id}", "report_html": f"/v1/scans/{scan.id}/report.html"},
    }
    if with_report:
        out["report"] = json.loads(scan.report) if scan.report else None
    return out


def iso(t: datetime | None) -> str | None:
    return t.isoformat(timespec="milliseconds") + "Z" if t is not None else None


class Service:
    def __init__(self, settings: ServiceSettings, *, clock: Clock = utcnow,
                 scanner_factory: ScannerFactory | None = None,
                 start_workers: bool = True, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        scanner_factory = scanner_factory or scanner_factory_for(
            settings.calibration_dir, people_scan_settings(settings))
        self.clock = clock
        self.db = Database(settings.db_url)
        self.blobs = BlobStore(settings.blobs_url)
        self.queue = JobQueue(self.db, lease_s=settings.lease_s, max_attempts=settings.max_attempts,
                              clock=clock)
        self.metrics = Metrics(self.queue.depth)
        self.limiter = RateLimiter(monotonic)
        self.pool = WorkerPool(self.queue, self.blobs, workers=settings.workers if start_workers else 0,
                               scanner_factory=scanner_factory, on_report=self.metrics.observe_report,
                               anonymize_previews=settings.anonymize_previews)
        self.callbacks = CallbackDispatcher(
            self.db, lambda scan: scan_resource(scan), timeout_s=settings.callback_timeout_s,
            max_attempts=settings.callback_max_attempts, allow_private=settings.callback_allow_private,
            secret=settings.callback_secret, clock=clock)
        self.start_background = start_workers
        self._stop = threading.Event()
        self._maintenance: threading.Thread | None = None
        self._viewed: dict[tuple[str | None, str, str], float] = {}
        self._viewed_lock = threading.Lock()
        self.started = False

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self.db.migrate()
        if self.start_background:
            self.pool.start()
            self.callbacks.start()
            self._maintenance = threading.Thread(target=self._maintain, name="fakescope-maintenance",
                                                 daemon=True)
            self._maintenance.start()
        self.started = True

    def stop(self) -> None:
        self._stop.set()
        self.pool.stop()
        if self.start_background:
            self.callbacks.stop()
        if self._maintenance is not None:
            self._maintenance.join(5)
        self.db.dispose()
        self.started = False

    def _maintain(self) -> None:
        while True:
            try:
                self.purge()
            except Exception:
                log.exception("retention purge failed")
            if self._stop.wait(self.settings.purge_interval_s):
                return

    # --- scans -----------------------------------------------------------------------

    def replayed(self, key_id: str | None, idempotency_key: str, sha256: str | None = None) -> Scan | None:
        """The scan an earlier upload with this Idempotency-Key made (within the TTL), or
        None; IdempotencyConflict when it was for different content (``sha256``)."""
        with self.db.read() as s:
            row = s.get(IdempotencyKey, (key_id or "anon", idempotency_key))
            if row is None or row.created_at < self.clock() - IDEMPOTENCY_TTL:
                return None
            scan = s.get(Scan, row.scan_id)
            if scan is None:
                return None  # deleted since: the key is free again
            if sha256 is not None and row.sha256 != sha256:
                raise IdempotencyConflict(
                    "this Idempotency-Key was used for a different upload: use a new key per upload")
            return scan

    def accept(self, upload: Upload, key_id: str | None, callback_url: str | None,
               idempotency_key: str | None = None) -> tuple[Scan, bool]:
        """Store the upload, then record the job: once this returns, the scan will happen.
        Returns the scan and whether it is an earlier one (the same Idempotency-Key)."""
        if idempotency_key is not None:
            earlier = self.replayed(key_id, idempotency_key, upload.sha256)
            if earlier is not None:
                return earlier, True
        now = self.clock()
        scan_id = new_scan_id(now)
        key = f"scans/{scan_id}/upload{blob_suffix(upload.filename, upload.format)}"
        self.blobs.put_file(key, upload.path)
        scan = Scan(
            id=scan_id, created_at=now, expires_at=now + timedelta(days=self.settings.retention_days),
            status="queued", key_id=key_id, filename=upload.filename, size_bytes=upload.size,
            sha256=upload.sha256, media_type=upload.media_type, upload_key=key, attempts=0,
            callback_url=callback_url, callback_attempts=0,
        )
        earlier = None
        try:
            with self.db.write() as s:
                if idempotency_key is not None:
                    earlier = self._claim_key(s, key_id or "anon", idempotency_key, scan_id, upload, now)
                if earlier is None:
                    s.add(scan)
                    s.add(AuditEvent(at=now, key_id=key_id, action="scan.create", scan_id=scan_id,
                                     detail=f"{upload.media_type}, {upload.size} bytes"))
        except IntegrityError:
            # The same key raced in from a second connection and won: answer with its scan.
            self.blobs.delete_prefix(f"scans/{scan_id}")
            earlier = self.replayed(key_id, idempotency_key or "", upload.sha256)
            if earlier is None:
                raise
            return earlier, True
        except Exception:
            self.blobs.delete_prefix(f"scans/{scan_id}")
            raise
        if earlier is not None:
            # Another upload with this key was recorded first (a concurrent retry): its scan.
            self.blobs.delete_prefix(f"scans/{scan_id}")
            return earlier, True
        self.pool.wake()
        return scan, False

    def _claim_key(self, s: Any, owner: str, key: str, scan_id: str, upload: Upload,
                   now: datetime) -> Scan | None:
        """Inside the write transaction that records the scan: the scan an earlier upload with
        this Idempotency-Key recorded (checked again here, where concurrent uploads are
        serialised), or None once the key is claimed for ``scan_id``. Only an expired row, or
        one whose scan was deleted, gives way: deleting a live one let four identical
        uploads at once make three scans."""
        row = s.get(IdempotencyKey, (owner, key), with_for_update=True)
        if row is not None:
            scan = s.get(Scan, row.scan_id)
            if scan is not None and row.created_at >= now - IDEMPOTENCY_TTL:
                if row.sha256 != upload.sha256:
                    raise IdempotencyConflict(
                        "this Idempotency-Key was used for a different upload: use a new key per upload")
                return scan
            s.delete(row)
            s.flush()
        s.add(IdempotencyKey(owner=owner, key=key, scan_id=scan_id, sha256=upload.sha256, created_at=now))
        return None

    def delete_scan(self, scan: Scan, key_id: str | None, action: str = "scan.delete") -> None:
        with self.db.write() as s:
            s.execute(delete(Scan).where(Scan.id == scan.id))
            s.execute(delete(Review).where(Review.scan_id == scan.id))  # it lives and dies with its scan
            s.add(AuditEvent(at=self.clock(), key_id=key_id, action=action, scan_id=scan.id))
        self.blobs.delete_prefix(f"scans/{scan.id}")

    def audit(self, key_id: str | None, action: str, scan_id: str | None = None,
              detail: str | None = None, *, dedup: bool = False) -> None:
        """Record an action; ``dedup``: once a minute per key, scan and action (page views)."""
        if dedup:
            k = (key_id, scan_id or "", action)
            now = time.monotonic()
            with self._viewed_lock:
                last = self._viewed.get(k)
                if last is not None and now - last < VIEW_AUDIT_DEDUP_S:
                    return
                self._viewed[k] = now
                if len(self._viewed) > 10_000:
                    self._viewed = {kk: t for kk, t in self._viewed.items()
                                    if now - t < VIEW_AUDIT_DEDUP_S}
        with self.db.write() as s:
            s.add(AuditEvent(at=self.clock(), key_id=key_id, action=action, scan_id=scan_id,
                             detail=detail))

    def purge(self) -> int:
        """Delete scans past their retention (report, upload, heatmaps), old audit events
        and orphaned blobs. Returns how many scans were purged."""
        now = self.clock()
        n = 0
        while True:
            with self.db.read() as s:
                expired = list(s.scalars(select(Scan).where(Scan.expires_at <= now).limit(200)))
            expired = [x for x in expired if not (x.status == "running" and x.lease_expires_at
                                                  and x.lease_expires_at > now)]
            if not expired:
                break
            for scan in expired:
                self.delete_scan(scan, None, action="scan.purge")
                n += 1
            self.metrics.purged.inc(len(expired))
        with self.db.write() as s:
            s.execute(delete(AuditEvent).where(
                AuditEvent.at < now - timedelta(days=self.settings.audit_retention_days)))
            s.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < now - IDEMPOTENCY_TTL))
        if self.settings.people_retention_days is not None:
            from fakescope.people.store import purge_older_than

            # Needs no key: an erasure never waits on one. Each is audited (people.remove).
            erased = purge_older_than(self.db, self.settings.people_retention_days, now=now)
            if erased:
                log.info("retention: erased %d protected people", len(erased))
        self._sweep_orphans(now)
        if n:
            log.info("retention: purged %d scan(s)", n)
        return n

    def _sweep_orphans(self, now: datetime) -> None:
        names = self.blobs.list_prefixes("scans")
        if not names:
            return
        old = [x for x in names if (t := scan_id_time(x)) is None or t < now - ORPHAN_GRACE]
        if not old:
            return
        with self.db.read() as s:
            known = set(s.scalars(select(Scan.id).where(Scan.id.in_(old))))
        for name in old:
            if name not in known:
                self.blobs.delete_prefix(f"scans/{name}")
