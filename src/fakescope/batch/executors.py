"""Where files are scanned: a local process pool, or Ray Data actors on a cluster.

Both run the same :func:`process` on each work item with a :class:`Scanner` built once
per worker (models load once per process or actor), and stream outcomes back in completion
order, so the same input gives the same rows whichever executor ran it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import tempfile
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from itertools import islice
from multiprocessing import get_context
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from fakescope.batch.rows import RowSchema, error_row, row_from_report
from fakescope.errors import DependencyMissingError, FakescopeError

log = logging.getLogger("fakescope.batch")

_CHUNK = 1 << 20
# Submissions ahead of the workers: enough to keep them busy, few enough that memory stays
# flat however long the listing is.
_AHEAD_PER_WORKER = 4


class ExecutorError(FakescopeError):
    """The executor cannot start (Ray absent or unreachable)."""

    code = "executor_error"


class ExecutorFailedError(FakescopeError):
    """The executor failed mid-run; the rows written so far stand and a re-run resumes."""

    code = "executor_failed"


@dataclass(frozen=True, slots=True)
class WorkItem:
    path: str
    location: str
    remote: bool
    known: tuple[str | None, ...] | None  # hashes already in the output for this path

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkItem:
        d = json.loads(text)
        known = tuple(d["known"]) if d["known"] is not None else None
        return cls(d["path"], d["location"], d["remote"], known)


@dataclass(frozen=True, slots=True)
class Outcome:
    path: str
    sha256: str | None
    row: dict[str, Any] | None  # None: skipped, the output already has (path, sha256)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Outcome:
        d = json.loads(text)
        return cls(d["path"], d["sha256"], d["row"])


# -- the work itself (runs in a worker) ------------------------------------------------------


def _sha256_file(path: Path) -> str | None:
    """None when unreadable or empty: what a scan reports for such files, so they match."""
    h = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
                size += len(chunk)
    except OSError:
        return None
    return h.hexdigest() if size else None


def process(scanner: Any, schema: RowSchema, item: WorkItem) -> Outcome:
    """Hash (when the path has rows already), skip or scan one file; never raises for bad input."""
    if item.remote:
        return _process_remote(scanner, schema, item)
    path = Path(item.location)
    try:
        size: int | None = path.stat().st_size
    except OSError:
        size = None
    if item.known is not None:
        digest = _sha256_file(path)
        if digest in item.known:
            return Outcome(item.path, digest, None)
    report = scanner.scan(path, item.path)
    return Outcome(item.path, report.sha256, row_from_report(report, schema, size))


def _process_remote(scanner: Any, schema: RowSchema, item: WorkItem) -> Outcome:
    import fsspec

    limits = scanner.settings.limits
    tmp: str | None = None
    try:
        fs, p = fsspec.core.url_to_fs(item.location)
        try:
            size: int | None = int(fs.size(p))
        except (OSError, TypeError, ValueError, NotImplementedError):
            size = None
        if size is not None and size > limits.max_bytes:
            # Too big to hold in memory (long videos): spool to disk and stream from there,
            # as for a local file. The suffix keeps what the name claims for the decoder.
            suffix = PurePosixPath(p).suffix
            h = hashlib.sha256()
            with fs.open(p, "rb") as src, tempfile.NamedTemporaryFile(suffix=suffix, delete=False) as dst:
                tmp = dst.name
                while chunk := src.read(_CHUNK):
                    h.update(chunk)
                    dst.write(chunk)
            digest = h.hexdigest()
            if item.known is not None and digest in item.known:
                return Outcome(item.path, digest, None)
            report = scanner.scan(tmp, item.path)
        else:
            data = fs.cat_file(p)
            size = len(data)
            digest = hashlib.sha256(data).hexdigest() if data else None
            if item.known is not None and digest in item.known:
                return Outcome(item.path, digest, None)
            report = scanner.scan_bytes(data, item.path)
    except Exception as exc:  # fsspec backends raise their own types for missing or denied objects
        if item.known is not None and None in item.known:
            return Outcome(item.path, None, None)
        message = f"cannot read {item.location}: {type(exc).__name__}: {exc}"
        return Outcome(item.path, None, error_row(item.path, "not_found", " ".join(message.split()),
                                                   schema))
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return Outcome(item.path, report.sha256, row_from_report(report, schema, size))


def build_scanner(settings_json: str) -> Any:
    from fakescope.config import ScanSettings
    from fakescope.scan.scanner import Scanner

    return Scanner(ScanSettings.model_validate_json(settings_json))


# -- executors ------------------------------------------------------------------------------


StopCheck = Callable[[], bool]


class Executor(Protocol):
    name: str
    workers: int

    def run(self, items: Iterable[WorkItem], stop: StopCheck) -> Iterator[Outcome]: ...


class InlineExecutor:
    """Scan in the calling process (``--workers 0``): for debugging, and for fsspec
    filesystems that exist only in this process (``memory://``)."""

    name = "local"

    def __init__(self, settings_json: str, schema: RowSchema) -> None:
        self.workers = 0
        self._settings_json = settings_json
        self._schema = schema

    def run(self, items: Iterable[WorkItem], stop: StopCheck) -> Iterator[Outcome]:
        scanner = build_scanner(self._settings_json)
        for item in items:
            if stop():
                return
            yield process(scanner, self._schema, item)


_WORKER: tuple[Any, RowSchema] | None = None
_INIT_ERROR: str | None = None
# Consecutive fresh pools that broke before returning a single file: the workers cannot
# run at all (they die on start), as opposed to a file that crashes its worker.
_MAX_BARREN_POOLS = 3


class WorkerInitError(Exception):
    """A worker could not build its Scanner (missing model, bad settings)."""


def _init_worker(settings_json: str, schema_json: str) -> None:
    global _WORKER, _INIT_ERROR
    # Ctrl-C reaches the whole terminal process group: the parent decides what stops and
    # when, so a worker neither dies mid-file nor prints a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _WORKER = (build_scanner(settings_json), RowSchema.model_validate_json(schema_json))
    except Exception as exc:  # reported by the first task, so the parent can stop the run
        _INIT_ERROR = " ".join(f"{type(exc).__name__}: {exc}".split())


def _ping() -> int:
    if _WORKER is None:
        raise WorkerInitError(_INIT_ERROR or "the worker was not initialised")
    return os.getpid()


def _work(item: WorkItem) -> Outcome:
    if _WORKER is None:
        raise WorkerInitError(_INIT_ERROR or "the worker was not initialised")
    scanner, schema = _WORKER
    return process(scanner, schema, item)


class LocalExecutor:
    """A process pool sized to the cores; each worker builds one Scanner in its initializer."""

    name = "local"

    def __init__(self, settings_json: str, schema: RowSchema, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._settings_json = settings_json
        self._schema = schema

    def _pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: the parent may hold threads (progress bar, pyarrow) whose locks a
        # forked child would inherit locked.
        pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=get_context("spawn"), initializer=_init_worker,
            initargs=(self._settings_json, self._schema.model_dump_json()))
        # Workers that cannot start at all must stop the run here, not be mistaken for files
        # that crash their worker (each would get an error row).
        try:
            pool.submit(_ping).result()
        except BrokenProcessPool as exc:
            _terminate(pool)
            raise ExecutorFailedError("the worker processes die as they start (see above)") from exc
        except WorkerInitError as exc:
            _terminate(pool)
            raise ExecutorFailedError(f"the workers cannot build a scanner: {exc}") from exc
        return pool

    def _crashed(self, item: WorkItem) -> Outcome:
        log.warning("a worker died while scanning %s", item.path)
        # With the file's hash, a re-run skips it instead of crashing on it again.
        digest = None if item.remote else _sha256_file(Path(item.location))
        return Outcome(item.path, digest, error_row(
            item.path, "worker_crashed",
            "the worker process died while scanning this file (crash or out of memory)",
            self._schema, sha256=digest))

    def run(self, items: Iterable[WorkItem], stop: StopCheck) -> Iterator[Outcome]:
        source = iter(items)
        # Files that were in flight when a worker died: run one at a time until each has
        # either finished or been shown to be the one that kills its worker.
        suspects: deque[WorkItem] = deque()
        pool = self._pool()
        inflight: dict[Future[Outcome], WorkItem] = {}
        exhausted = False
        results_from_pool = 0
        barren_pools = 0
        try:
            while True:
                if stop():
                    yield from _finished(inflight)
                    return
                limit = 1 if suspects else self.workers * _AHEAD_PER_WORKER
                while len(inflight) < limit and (suspects or not exhausted):
                    if suspects:
                        item = suspects.popleft()
                    else:
                        item = next(source, None)  # type: ignore[arg-type]
                        if item is None:
                            exhausted = True
                            break
                    inflight[pool.submit(_work, item)] = item
                if not inflight:
                    return
                done, _ = wait(list(inflight), timeout=0.5, return_when=FIRST_COMPLETED)
                broken: list[WorkItem] = []
                for fut in done:
                    item = inflight.pop(fut)
                    try:
                        outcome = fut.result()
                    except BrokenProcessPool:
                        broken.append(item)
                        continue
                    except WorkerInitError as exc:
                        raise ExecutorFailedError(f"the workers cannot build a scanner: {exc}") from exc
                    except Exception as exc:  # a bug in the worker costs one file, not the batch
                        log.error("scanning %s failed in its worker: %r", item.path, exc)
                        outcome = Outcome(item.path, None, error_row(
                            item.path, "internal_error", f"internal error: {type(exc).__name__}: {exc}",
                            self._schema))
                    results_from_pool += 1
                    yield outcome
                if broken:
                    broken += list(inflight.values())
                    inflight.clear()
                    _terminate(pool)
                    barren_pools = barren_pools + 1 if results_from_pool == 0 else 0
                    if barren_pools >= _MAX_BARREN_POOLS:
                        raise ExecutorFailedError(
                            f"worker processes keep dying before they return any file (last with "
                            f"{broken[0].path}); see the messages above")
                    pool = self._pool()
                    results_from_pool = 0
                    if len(broken) == 1:
                        yield self._crashed(broken[0])
                    else:
                        suspects.extend(broken)
        finally:
            _terminate(pool)


def _finished(inflight: dict[Future[Outcome], WorkItem]) -> Iterator[Outcome]:
    for fut in list(inflight):
        if fut.done() and not fut.cancelled() and fut.exception() is None:
            yield fut.result()


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop now: cancel queued work and end the workers (they ignore SIGINT by design)."""
    pool.shutdown(wait=False, cancel_futures=True)
    kill = getattr(pool, "terminate_workers", None)  # Python 3.14+
    if kill is not None:
        kill()
    else:
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            if proc.is_alive():
                proc.terminate()
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        proc.join(timeout=5)
    pool.shutdown(wait=True)


# -- Ray ------------------------------------------------------------------------------------


def import_ray(private: bool = False) -> Any:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if private:
        # A private instance serves this run only: Ray's single-machine mode (its default on
        # macOS and Windows) binds it to loopback instead of every interface. Read when ray
        # is first imported.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise DependencyMissingError(
            "--executor ray needs Ray Data: pip install 'fakescope[ray]'") from exc
    return ray


class RayScan:
    """Ray Data callable class: one Scanner per actor, built in ``__init__``."""

    def __init__(self, settings_json: str, schema_json: str) -> None:
        self.scanner = build_scanner(settings_json)
        self.schema = RowSchema.model_validate_json(schema_json)

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        out = [process(self.scanner, self.schema, WorkItem.from_json(str(s))).to_json()
               for s in batch["item"]]
        return {"outcome": np.array(out, dtype=object)}


class RayExecutor:
    """Ray Data: the work items as a dataset, ``map_batches`` over an actor pool.

    ``address`` None starts a private local Ray instance (and stops it at the end);
    ``auto`` joins the one ``ray start --head`` started on this machine; ``ray://host:10001``
    goes through Ray Client. Items travel in windows so that the driver's memory stays
    flat over millions of files; each window gets a fresh actor pool (models load once per
    actor per window, seconds against hours of scanning).
    """

    name = "ray"

    def __init__(self, settings_json: str, schema: RowSchema, workers: int | None = None,
                 address: str | None = None, cpus_per_worker: float = 1.0, window: int = 50_000,
                 object_store_mb: int = 256) -> None:
        self._ray = import_ray(private=address is None)
        self._settings_json = settings_json
        self._schema = schema
        self.address = address
        self.cpus_per_worker = cpus_per_worker
        self.window = window
        self._object_store_mb = object_store_mb
        self._requested_workers = workers
        self.workers = workers or 0
        self._started = False

    def start(self) -> None:
        ray = self._ray
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True}
            if self.address is None:
                # Rows and work items are a few hundred bytes: a small object store suffices,
                # and the dashboard is not needed for a batch run.
                kwargs.update(include_dashboard=False, object_store_memory=self._object_store_mb * 2**20)
            try:
                ray.init(address=self.address, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ExecutorError(f"cannot start or join Ray at {self.address or 'a new local instance'}:"
                                    f" {exc}") from exc
            self._started = True
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # fakescope draws its own, on stderr
        if hasattr(ctx, "print_on_execution_start"):
            ctx.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        # It would say, at every window, that progress bars are off: we turned them off.
        logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)
        if not self._requested_workers:
            cpus = float(ray.cluster_resources().get("CPU", 1))
            self.workers = max(1, int(cpus // self.cpus_per_worker))

    def stop(self) -> None:
        if self._started:
            self._ray.shutdown()
            self._started = False

    def run(self, items: Iterable[WorkItem], stop: StopCheck) -> Iterator[Outcome]:
        ray = self._ray
        self.start()
        try:
            source = iter(items)
            while window := list(islice(source, self.window)):
                # One block per file: a block is Ray Data's unit of work, so this spreads
                # files over the actors and streams each row back as soon as it is done.
                ds = ray.data.from_items([{"item": w.to_json()} for w in window],
                                         override_num_blocks=len(window))
                with warnings.catch_warnings():
                    # max_restarts/max_task_retries have no named parameter in Ray 2.60:
                    # ray_remote_args, deprecated, is still the only way to pass them.
                    warnings.simplefilter("ignore", DeprecationWarning)
                    ds = ds.map_batches(
                        RayScan,
                        fn_constructor_kwargs={"settings_json": self._settings_json,
                                               "schema_json": self._schema.model_dump_json()},
                        batch_size=1, batch_format="numpy",
                        compute=ray.data.ActorPoolStrategy(size=self.workers),
                        num_cpus=self.cpus_per_worker,
                        # Ray's default restarts a dead actor and retries forever: a file that
                        # crashes its worker would then never let the run end.
                        max_restarts=2, max_task_retries=2,
                    )
                for batch in ds.iter_batches(batch_size=1, batch_format="numpy"):
                    for text in batch["outcome"]:
                        yield Outcome.from_json(str(text))
                    if stop():
                        return
        except Exception as exc:
            if isinstance(exc, FakescopeError):
                raise
            raise ExecutorFailedError(f"Ray execution failed: {type(exc).__name__}: {exc}; the rows "
                                      "written so far stand, re-run to resume") from exc
        finally:
            self.stop()
