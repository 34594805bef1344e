"""In-process worker pool: one thread per worker, each with its own Scanner (loaded once).

Threads, not processes: onnxruntime and OpenCV release the GIL while they compute, the face
detector serialises itself with a lock, and a thread shares the server's database pool. For
more throughput run more servers, or ``fakescope worker`` processes, on the same database
and blob store.
"""

from __future__ import annotations

import io
import logging
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fakescope.jobs.queue import Job, JobQueue, owner_id
from fakescope.report.schema import ScanReport
from fakescope.store.blobs import BlobStore, StoreUnavailable

log = logging.getLogger("fakescope.jobs")

ScannerFactory = Callable[[], Any]  # -> fakescope.scan.Scanner
ReportHook = Callable[[ScanReport, float], None]


def default_scanner_factory() -> Any:
    return scanner_factory_for(None)()


def scanner_factory_for(calibration_dir: Path | None, people: Any = None) -> ScannerFactory:
    """Scanners with the local thresholds of ``calibration_dir`` (fakescope calibrate) and,
    given ``people`` (config.PeopleSettings), the protected-people check."""
    def make() -> Any:
        from fakescope.config import ScanSettings
        from fakescope.scan.scanner import Scanner

        # explain=True: heatmaps cost nothing extra (the model returns its CAM anyway).
        return Scanner(ScanSettings(explain=True, calibration_dir=calibration_dir, people=people))

    return make


# Whole-image heatmaps are kept at most this many pixels on their long side: the crops
# they come from are 128 px, so nothing finer exists to keep.
IMAGE_HEAT_SIDE = 256
# A job that meets an unavailable blob store waits 5, 10, 20 ... at most 300 s between tries.
STORE_RETRY_BASE_S = 5.0
STORE_RETRY_MAX_S = 300.0


def public_error(exc: BaseException) -> str:
    """A failure as a client may read it: an OS error's reason without the server path."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return f"{type(exc).__name__}: {exc}"


def heatmaps_npz(report: ScanReport) -> bytes | None:
    """The report's heatmaps (face evidence maps and alignment matrices, whole-image
    evidence maps at low resolution; no pixels of the media)."""
    import cv2

    heatmaps = getattr(report.visual, "heatmaps", None) or []
    image_heatmaps = getattr(report.visual, "image_heatmaps", None) or []
    if not heatmaps and not image_heatmaps:
        return None
    arrays: dict[str, np.ndarray] = {}
    for k, h in enumerate(heatmaps):
        arrays[f"heat{k}"] = np.asarray(h.heat, dtype=np.float16)
        arrays[f"matrix{k}"] = np.asarray(h.image_to_crop, dtype=np.float64)
        arrays[f"meta{k}"] = np.asarray([h.face_index, h.crop_size], dtype=np.int64)
    for k, h in enumerate(image_heatmaps):
        hh, ww = h.heat.shape
        f = min(1.0, IMAGE_HEAT_SIDE / max(hh, ww))
        size = (max(1, round(ww * f)), max(1, round(hh * f)))
        cover = cv2.resize(np.isfinite(h.heat).astype(np.float32), size, interpolation=cv2.INTER_AREA)
        heat = cv2.resize(np.nan_to_num(h.heat, nan=0.0).astype(np.float32), size,
                          interpolation=cv2.INTER_AREA)
        small = np.where(cover > 0.5, heat / np.maximum(cover, 1e-6), np.nan)
        arrays[f"image_heat{k}"] = small.astype(np.float16)
        arrays[f"image_source{k}"] = np.asarray(h.source)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def load_heatmaps(data: bytes) -> list[Any]:
    """The face heatmaps stored by ``heatmaps_npz``."""
    from fakescope.analyzers.base import FaceHeatmap

    z = np.load(io.BytesIO(data))
    out = []
    k = 0
    while f"heat{k}" in z:
        face_index, crop_size = (int(v) for v in z[f"meta{k}"])
        out.append(FaceHeatmap(face_index=face_index, heat=z[f"heat{k}"].astype(np.float32),
                               crop_size=crop_size, image_to_crop=z[f"matrix{k}"]))
        k += 1
    return out


def load_image_heatmaps(data: bytes, height: int, width: int) -> list[Any]:
    """The whole-image heatmaps stored by ``heatmaps_npz``, back at the image's size."""
    import cv2

    from fakescope.analyzers.base import ImageHeatmap

    z = np.load(io.BytesIO(data))
    out = []
    k = 0
    while f"image_heat{k}" in z:
        small = z[f"image_heat{k}"].astype(np.float32)
        heat = cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)
        out.append(ImageHeatmap(heat=heat, source=str(z[f"image_source{k}"])))
        k += 1
    return out


class WorkerPool:
    def __init__(self, queue: JobQueue, blobs: BlobStore, *, workers: int,
                 scanner_factory: ScannerFactory = default_scanner_factory,
                 on_report: ReportHook | None = None, poll_s: float = 1.0,
                 anonymize_previews: bool = False) -> None:
        self.queue = queue
        self.blobs = blobs
        self.anonymize_previews = anonymize_previews
        self.n = workers
        self.scanner_factory = scanner_factory
        self.on_report = on_report
        self.poll_s = poll_s
        self.boot = secrets.token_hex(4)
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._held: dict[str, str] = {}  # job id -> owner
        self._held_lock = threading.Lock()
        self._store_retries: dict[str, int] = {}  # per job: storage outages met in a row
        self._ready = 0
        self._errors: list[str] = []

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        if self._threads:
            return
        n = self.queue.recover_dead_local()
        if n:
            log.warning("re-queued %d job(s) left running by a stopped process", n)
        for i in range(self.n):
            t = threading.Thread(target=self._run, args=(i,), name=f"fakescope-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        hb = threading.Thread(target=self._heartbeat, name="fakescope-heartbeat", daemon=True)
        hb.start()
        self._threads.append(hb)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming; wait for running scans, then give back those still unfinished."""
        self._stop.set()
        self.wake()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        with self._held_lock:
            held = dict(self._held)
            self._held.clear()
        by_owner: dict[str, list[str]] = {}
        for job_id, owner in held.items():
            by_owner.setdefault(owner, []).append(job_id)
        for owner, ids in by_owner.items():
            try:
                self.queue.release(owner, ids)
            except Exception:
                log.exception("could not give back jobs %s", ids)
        self._threads = []

    def wake(self) -> None:
        with self._wake:
            self._wake.notify_all()

    @property
    def ready(self) -> bool:
        """Every worker has loaded its scanner and is alive."""
        workers = [t for t in self._threads if t.name.startswith("fakescope-worker")]
        return self._ready >= self.n and all(t.is_alive() for t in workers)

    @property
    def errors(self) -> list[str]:
        return list(self._errors)

    # --- work ------------------------------------------------------------------------

    def _run(self, index: int) -> None:
        owner = owner_id(self.boot, index)
        try:
            scanner = self.scanner_factory()
        except Exception as exc:  # a broken model install: /readyz says so
            log.exception("worker %d could not load its scanner", index)
            self._errors.append(f"worker {index}: {type(exc).__name__}: {exc}")
            return
        with self._held_lock:
            self._ready += 1
        while not self._stop.is_set():
            try:
                job = self.queue.claim(owner)
            except Exception:
                log.exception("claiming a job failed; retrying")
                self._stop.wait(self.poll_s)
                continue
            if job is None:
                with self._wake:
                    self._wake.wait(self.poll_s)
                continue
            with self._held_lock:
                self._held[job.id] = owner
            try:
                self._process(scanner, job, owner)
            finally:
                with self._held_lock:
                    self._held.pop(job.id, None)

    def _process(self, scanner: Any, job: Job, owner: str) -> None:
        t0 = time.perf_counter()
        try:
            with self.blobs.local_file(job.upload_key, suffix=Path(job.upload_key).suffix) as path:
                report: ScanReport = scanner.scan(path, display=job.filename)
            audit = getattr(scanner, "audit_people", None)
            if audit is not None:
                audit(report, "worker", job.id)
            heat = heatmaps_npz(report)
            heat_key = None
            if heat is not None:
                heat_key = f"scans/{job.id}/heatmaps.npz"
                self.blobs.put_bytes(heat_key, heat)
            rgb = getattr(report.visual, "rgb", None)
            if report.media_type == "image" and isinstance(rgb, np.ndarray):
                # Rendered once, from the pixels the scan decoded anyway: /image never has
                # to decode the upload again (docs/service.md, "Memory").
                from fakescope.service.render import make_preview, preview_key

                jpeg = make_preview(rgb, [f.box for f in report.faces], anonymize=self.anonymize_previews,
                                    detector=scanner.detector)
                self.blobs.put_bytes(preview_key(job.id), jpeg)
            report.drop_visual()
            self._store_retries.pop(job.id, None)
            if not self.queue.complete(job.id, owner, report, heat_key):
                if not self.queue.exists(job.id):
                    # Deleted while it was being scanned: nothing of it may stay behind.
                    self.blobs.delete_prefix(f"scans/{job.id}")
                # Otherwise the job was given back or re-leased: its new owner finishes it.
                return
        except StoreUnavailable as exc:
            # The store is down, not the file: wait and retry, with back-off.
            k = self._store_retries.get(job.id, 0) + 1
            self._store_retries[job.id] = k
            delay = min(STORE_RETRY_MAX_S, STORE_RETRY_BASE_S * 2 ** (k - 1))
            log.warning("job %s: %s; retrying in %.0f s", job.id, exc, delay)
            try:
                self.queue.retry_later(job.id, owner, delay, f"{exc}; retrying")
            except Exception:
                log.exception("could not requeue job %s", job.id)
            return
        except Exception as exc:
            log.exception("job %s failed", job.id)
            try:
                self.queue.fail(job.id, owner, public_error(exc))
            except Exception:
                log.exception("could not record the failure of job %s", job.id)
            return
        if self.on_report is not None:
            try:
                self.on_report(report, time.perf_counter() - t0)
            except Exception:
                log.exception("report hook failed")

    def _heartbeat(self) -> None:
        every = max(0.5, self.queue.lease.total_seconds() / 4)
        while not self._stop.wait(every):
            with self._held_lock:
                held = dict(self._held)
            by_owner: dict[str, list[str]] = {}
            for job_id, owner in held.items():
                by_owner.setdefault(owner, []).append(job_id)
            for owner, ids in by_owner.items():
                try:
                    self.queue.heartbeat(owner, ids)
                except Exception:
                    log.exception("heartbeat failed")
