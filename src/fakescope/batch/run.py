"""A batch run: list SOURCE, skip what the output holds, scan the rest, append rows, summarise.

Ctrl-C (or SIGTERM, as a scheduler sends before killing) stops taking new files, writes
every result that has completed, flushes, fsyncs (and, for Parquet, merges the journal)
and says how to resume; a second Ctrl-C stops at once, still leaving a valid output.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, Literal

from pydantic import BaseModel, Field
from rich.console import Console

from fakescope.batch.executors import (
    Executor,
    InlineExecutor,
    LocalExecutor,
    Outcome,
    RayExecutor,
    WorkItem,
)
from fakescope.batch.resume import DoneIndex
from fakescope.batch.rows import RowSchema
from fakescope.batch.sources import expand_source
from fakescope.batch.writers import Format, Output, format_for
from fakescope.config import ScanSettings

EXIT_OK, EXIT_SOME_FAILED, EXIT_INTERRUPTED = 0, 1, 130


class BatchConfig(BaseModel):
    source: str = Field(description="a folder, a text file listing paths/URLs, or an fsspec URL prefix")
    out: Path
    format: Format | None = Field(None, description="default: from the output's extension")
    executor: Literal["local", "ray"] = "local"
    workers: int | None = Field(
        None, ge=0, description="local: processes (default: the cores; 0: scan in this process); "
        "ray: actors (default: the cluster's CPUs)")
    address: str | None = Field(None, description="ray: auto, ray://host:10001, or None for a private "
                                "local instance")
    limit: int | None = Field(None, ge=1, description="only the first N files of SOURCE")
    settings: ScanSettings = Field(default_factory=ScanSettings)
    progress: bool | None = Field(None, description="progress bar on stderr (default: when a terminal)")
    fsync_interval_s: float = Field(2.0, gt=0)


class BatchSummary(BaseModel):
    source: str
    out: str
    format: str
    executor: str
    workers: int = 0
    listed: int = Field(0, description="files SOURCE names (after --limit)")
    not_media: int = 0
    already_done: int = Field(0, description="skipped: the output has their path and content hash")
    scanned: int = 0
    verdicts: dict[str, int] = Field(default_factory=dict, description="this run's rows by verdict")
    errors: dict[str, int] = Field(default_factory=dict, description="this run's error rows by code")
    earlier_errors: int = Field(0, description="skipped files whose existing row is an error")
    interrupted: bool = False
    aborted: bool = Field(False, description="a second Ctrl-C: stopped without merging the journal")
    elapsed_s: float = 0.0
    files_per_s: float = 0.0
    output_rows: int = 0
    repaired_bytes: int = Field(0, description="torn last line cut off the output (a killed run)")

    @property
    def exit_status(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_SOME_FAILED if sum(self.errors.values()) or self.earlier_errors else EXIT_OK

    def _where(self) -> str:
        if self.workers == 0:
            return f"{self.executor}, in this process"
        return f"{self.executor}, {self.workers} worker{'s' if self.workers != 1 else ''}"

    def lines(self) -> list[str]:
        verdicts = ", ".join(f"{n} {v}" for v, n in sorted(self.verdicts.items())) or "none"
        out = [f"{self.scanned} scanned ({verdicts}), {self.already_done} already in {self.out}, "
               f"{self.not_media} not media; {self.elapsed_s:.1f} s, {self.files_per_s:.2f} files/s "
               f"({self._where()})"]
        if self.errors:
            out.append("errors: " + ", ".join(f"{n} {c}" for c, n in sorted(self.errors.items(),
                                                                           key=lambda kv: -kv[1])))
        if self.earlier_errors:
            out.append(f"{self.earlier_errors} file(s) already in the output with an error row")
        if self.repaired_bytes:
            out.append(f"cut a torn last line ({self.repaired_bytes} bytes) left by an interrupted run")
        out.append(f"{self.output_rows} rows in {self.out}")
        return out


class _Interrupts:
    """First SIGINT/SIGTERM: finish cleanly. Second: raise KeyboardInterrupt (stop now)."""

    def __init__(self, console: Console) -> None:
        self.requested = False
        self._console = console
        self._saved: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self._console.print("stopping: writing the results that completed (Ctrl-C again to stop at once)",
                            highlight=False)

    def __enter__(self) -> _Interrupts:
        # Signal handlers can only be set from the main thread (an embedding app's worker
        # thread keeps its own handling).
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)


def analyzer_names(settings: ScanSettings) -> list[str]:
    """The analyzers a Scanner with these settings runs, without loading any model."""
    from fakescope.analyzers.registry import UnknownAnalyzerError, available

    table = available()
    names = list(table) if settings.analyzers is None else list(settings.analyzers)
    unknown = [n for n in names if n not in table]
    if unknown:
        raise UnknownAnalyzerError(
            f"unknown analyzer(s) {', '.join(unknown)}; available: {', '.join(sorted(table))}")
    return names


def make_executor(config: BatchConfig, settings_json: str, schema: RowSchema) -> Executor:
    if config.executor == "ray":
        return RayExecutor(settings_json, schema, workers=config.workers or None, address=config.address)
    if config.workers == 0:
        return InlineExecutor(settings_json, schema)
    return LocalExecutor(settings_json, schema, workers=config.workers)


def run_batch(config: BatchConfig, console: Console | None = None,
              on_outcome: Callable[[Outcome], None] | None = None) -> BatchSummary:
    """Run a batch; ``on_outcome`` sees every file's outcome as it arrives (benchmarks,
    notebooks). Raises FakescopeError for what the user must fix (source, output, Ray)."""
    err = console or Console(stderr=True)
    settings_json = config.settings.model_dump_json()
    schema = RowSchema(analyzers=analyzer_names(config.settings))
    fmt = format_for(config.out, config.format)
    output = Output(config.out, fmt, schema, config.fsync_interval_s)
    output.prepare()
    try:
        done = DoneIndex.from_rows(output.existing())
        listing = expand_source(config.source, config.limit)
        executor = make_executor(config, settings_json, schema)
    except BaseException:
        output.release()
        raise
    summary = BatchSummary(source=config.source, out=str(config.out), format=fmt, executor=executor.name,
                           workers=executor.workers, listed=len(listing.candidates),
                           not_media=listing.not_media, repaired_bytes=output.repaired_bytes)
    if listing.not_media:
        examples = ", ".join(listing.not_media_examples)
        err.print(f"skipping {listing.not_media} file(s) that are not media (e.g. {examples})",
                  highlight=False, markup=False, soft_wrap=True)

    items = (WorkItem(c.path, c.location, c.remote, done.known(c.path)) for c in listing.candidates)
    show = config.progress if config.progress is not None else err.is_terminal
    prog = task = None
    if show:
        from fakescope.progress import make_progress

        prog = make_progress(err)
        task = prog.add_task("scanning", total=len(listing.candidates), rate="")
        prog.start()
    t0 = time.perf_counter()
    aborted = False
    with _Interrupts(err) as interrupts:
        outcomes = executor.run(items, stop=lambda: interrupts.requested)
        try:
            for outcome in outcomes:
                if on_outcome is not None:
                    on_outcome(outcome)
                if outcome.row is None or done.contains(outcome.path, outcome.sha256):
                    # Already in the output (also guards against a file whose bytes changed
                    # back between the hash check and the scan).
                    summary.already_done += 1
                    if done.failed(outcome.path, outcome.sha256):
                        summary.earlier_errors += 1
                else:
                    row = outcome.row
                    output.write(row)
                    done.add(row["path"], row["sha256"], failed=row["verdict"] == "error")
                    summary.scanned += 1
                    summary.verdicts[row["verdict"]] = summary.verdicts.get(row["verdict"], 0) + 1
                    if row["error_code"]:
                        summary.errors[row["error_code"]] = summary.errors.get(row["error_code"], 0) + 1
                if prog is not None and task is not None:
                    elapsed = time.perf_counter() - t0
                    prog.update(task, advance=1,
                                rate=f"{summary.scanned / elapsed:.1f} files/s" if elapsed > 0 else "")
        except KeyboardInterrupt:
            aborted = True
        finally:
            try:
                outcomes.close()  # type: ignore[attr-defined]
            finally:
                if prog is not None:
                    prog.stop()
                summary.elapsed_s = round(time.perf_counter() - t0, 2)
                summary.interrupted = interrupts.requested or aborted
                summary.aborted = aborted
                # Even after a second Ctrl-C the journal is flushed; only the (possibly long)
                # Parquet merge waits for the next run.
                output.close(finalize=not aborted)
    summary.workers = executor.workers
    summary.files_per_s = round(summary.scanned / summary.elapsed_s, 3) if summary.elapsed_s else 0.0
    summary.output_rows = done.rows
    return summary
