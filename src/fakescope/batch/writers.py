"""Append-only outputs that a SIGKILL never corrupts and a resumed run never duplicates.

- JSON Lines and CSV: one row is one line, written with a single ``write`` and flushed to
  the kernel at once (a killed *process* loses nothing written), ``fsync``-ed every
  ``fsync_interval_s`` and at the end (a lost *machine* loses at most that interval, and
  those files are scanned again). A torn last line (killed mid-write, or zeros after a
  power loss) is cut off when the file is opened again; nothing else is ever rewritten.
- Parquet cannot be appended to, so rows go to a JSON Lines journal beside it
  (``results.parquet.journal.jsonl``, same guarantees as above), and at the end of a run
  (or on Ctrl-C) the existing Parquet file and the journal are merged into
  ``results.parquet.tmp``, fsync-ed and renamed over ``results.parquet`` (atomic), then
  the journal is deleted. A kill at any point leaves either the old or the new Parquet
  file, whole, plus a journal that the next run merges; the merge drops rows already in
  the Parquet file (same path and content hash), so a kill between the rename and the
  journal's deletion duplicates nothing.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from fakescope.batch.rows import ColumnType, OutputMismatchError, RowSchema, check_columns, coerce
from fakescope.errors import DependencyMissingError, FakescopeError

Format = Literal["parquet", "csv", "jsonl"]
FORMAT_BY_SUFFIX: dict[str, Format] = {
    ".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
}
JOURNAL_SUFFIX = ".journal.jsonl"
_PARQUET_BATCH = 10_000


class OutputError(FakescopeError):
    """The output cannot be used: unknown format, unreadable, or corrupt before its last line."""

    code = "output_error"


def format_for(path: Path, fmt: str | None) -> Format:
    if fmt is not None:
        if fmt not in ("parquet", "csv", "jsonl"):
            raise OutputError(f"unknown output format {fmt!r}: parquet, csv or jsonl")
        return fmt  # type: ignore[return-value]
    found = FORMAT_BY_SUFFIX.get(path.suffix.lower())
    if found is None:
        raise OutputError(f"cannot tell the format of {path} from its extension: name it .parquet, "
                          ".csv or .jsonl, or pass --format")
    return found


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not every platform opens folders; the rename itself is still atomic
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _cut_torn_tail(path: Path) -> int:
    """Drop bytes after the last newline (a write cut short); returns how many were dropped."""
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as fh:
        pos = size
        block = 65536
        while pos > 0:
            start = max(0, pos - block)
            fh.seek(start)
            chunk = fh.read(pos - start)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
                break
            pos = start
        else:
            keep = 0
        if keep < size:
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
        return size - keep


class _LineFile:
    """A text file that only ever grows by whole lines."""

    def __init__(self, path: Path, fsync_interval_s: float) -> None:
        self.path = path
        self.fsync_interval_s = fsync_interval_s
        self._fh: io.TextIOWrapper | None = None
        self._last_sync = time.monotonic()

    def open_append(self) -> bool:
        """Open for appending; True when the file is new (or was empty)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._fh = open(self.path, "a", encoding="utf-8", newline="")  # noqa: SIM115 (held open)
        if new:
            _fsync_dir(self.path.parent.resolve())
        return new

    def append(self, line: str) -> None:
        assert self._fh is not None
        self._fh.write(line)
        self._fh.flush()
        now = time.monotonic()
        if now - self._last_sync >= self.fsync_interval_s:
            os.fsync(self._fh.fileno())
            self._last_sync = now

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None


def _json_line(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False, allow_nan=False, separators=(",", ":")) + "\n"


def _read_jsonl(path: Path, types: dict[str, ColumnType]) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise OutputError(f"{path} line {n} is not JSON ({exc.msg}): the file was edited or "
                                  "damaged; move it away or repair that line") from exc
            yield {k: coerce(obj.get(k), t) for k, t in types.items()}


def _jsonl_columns(path: Path) -> list[str] | None:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                try:
                    return list(json.loads(line))
                except json.JSONDecodeError:
                    return None
    return None


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    # One row must stay one line (see the module docstring): line breaks become spaces.
    return " ".join(str(value).splitlines()) if isinstance(value, str) else str(value)


class Output:
    """Rows already in an output (read first), then appending new ones."""

    def __init__(self, path: Path, fmt: Format, schema: RowSchema, fsync_interval_s: float = 2.0) -> None:
        self.path = path
        self.format = fmt
        self.schema = schema
        self.types: dict[str, ColumnType] = dict(schema.columns())
        self.fsync_interval_s = fsync_interval_s
        self.repaired_bytes = 0
        if fmt == "parquet":
            _require_pyarrow()
            self.journal = path.with_name(path.name + JOURNAL_SUFFIX)
            self._lines = _LineFile(self.journal, fsync_interval_s)
        else:
            self.journal = None
            self._lines = _LineFile(path, fsync_interval_s)
        self._opened = False
        self._lock_fh: io.TextIOWrapper | None = None
        self.rows_written = 0

    # -- reading ---------------------------------------------------------------------------

    def _lock(self) -> None:
        """One run per output at a time: two would scan the same files and both append them."""
        try:
            import fcntl
        except ImportError:  # not on Windows: no lock there
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(f".{self.path.name}.lock")
        self._lock_fh = open(lock_path, "a")  # noqa: SIM115 (held for the run; the OS drops it on exit)
        try:
            fcntl.flock(self._lock_fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._lock_fh.close()
            self._lock_fh = None
            raise OutputError(f"another fakescope batch is writing {self.path} (lock {lock_path}); "
                              "wait for it or use another --out") from exc

    def release(self) -> None:
        """Give the lock up without writing anything (a run that failed before it started)."""
        self._unlock()

    def _unlock(self) -> None:
        if self._lock_fh is not None:
            self._lock_fh.close()  # closing releases the flock
            self._lock_fh = None

    def prepare(self) -> None:
        """Lock the output, cut torn tails and check that the columns match this run's."""
        self._lock()
        line_file = self._lines.path
        if line_file.exists():
            self.repaired_bytes = _cut_torn_tail(line_file)
        if self.format == "csv" and self.path.exists() and self.path.stat().st_size:
            with open(self.path, encoding="utf-8", newline="") as fh:
                header = next(csv.reader(fh), [])
            check_columns(header, self.schema, str(self.path))
        if self.format == "jsonl" and self.path.exists():
            cols = _jsonl_columns(self.path)
            if cols is not None:
                check_columns(cols, self.schema, str(self.path))
        if self.format == "parquet":
            if self.path.exists():
                check_columns(_parquet_columns(self.path), self.schema, str(self.path))
            if self.journal is not None and self.journal.exists():
                cols = _jsonl_columns(self.journal)
                if cols is not None:
                    check_columns(cols, self.schema, str(self.journal))

    def existing(self) -> Iterator[dict[str, Any]]:
        """Every row already written (Parquet: the file, then the journal), typed."""
        if self.format == "jsonl":
            if self.path.exists():
                yield from _read_jsonl(self.path, self.types)
        elif self.format == "csv":
            if self.path.exists():
                yield from _read_csv(self.path, self.types)
        else:
            if self.path.exists():
                yield from _read_parquet(self.path, self.types)
            if self.journal is not None and self.journal.exists():
                yield from _read_jsonl(self.journal, self.types)

    # -- writing ---------------------------------------------------------------------------

    def write(self, row: dict[str, Any]) -> None:
        if not self._opened:
            new = self._lines.open_append()
            self._opened = True
            if new and self.format == "csv":
                self._lines.append(self._csv_line(self.schema.names()))
        if self.format == "csv":
            self._lines.append(self._csv_line([row.get(c) for c in self.types]))
        else:
            self._lines.append(_json_line({c: row.get(c) for c in self.types}))
        self.rows_written += 1

    @staticmethod
    def _csv_line(values: list[Any]) -> str:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow([_csv_cell(v) for v in values])
        return buf.getvalue()

    def close(self, finalize: bool = True) -> None:
        """Flush and fsync; for Parquet, merge the journal into the file unless told not to."""
        try:
            self._close(finalize)
        finally:
            self._unlock()

    def _close(self, finalize: bool) -> None:
        self._lines.close()
        if self.format == "parquet" and finalize:
            self.compact()
        elif self.format == "csv" and not self.path.exists():
            # A run that wrote nothing still leaves a valid (header-only) file.
            self._lines.open_append()
            self._lines.append(self._csv_line(self.schema.names()))
            self._lines.close()
        elif self.format == "jsonl" and not self.path.exists():
            self._lines.open_append()
            self._lines.close()

    def compact(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        assert self.journal is not None
        if self.path.exists() and not self.journal.exists():
            return
        schema = arrow_schema(self.schema)
        tmp = self.path.with_name(self.path.name + ".tmp")
        seen: set[tuple[str, str | None]] = set()
        buffer: list[dict[str, Any]] = []

        def rows() -> Iterator[dict[str, Any]]:
            if self.path.exists():
                yield from _read_parquet(self.path, self.types)
            if self.journal is not None and self.journal.exists():
                yield from _read_jsonl(self.journal, self.types)

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for row in rows():
                key = (row["path"], row["sha256"])
                if key in seen:
                    continue  # already merged before a kill removed the journal
                seen.add(key)
                buffer.append(row)
                if len(buffer) >= _PARQUET_BATCH:
                    writer.write_table(pa.Table.from_pylist(buffer, schema=schema))
                    buffer.clear()
            if buffer or not seen:
                writer.write_table(pa.Table.from_pylist(buffer, schema=schema))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent.resolve())
        self.journal.unlink(missing_ok=True)
        _fsync_dir(self.path.parent.resolve())


def _read_csv(path: Path, types: dict[str, ColumnType]) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            return
        for n, record in enumerate(reader, start=2):
            if len(record) != len(header):
                raise OutputError(f"{path} line {n} has {len(record)} fields, the header {len(header)}: "
                                  "the file was edited or damaged; move it away or repair that line")
            values = dict(zip(header, record, strict=True))
            yield {k: coerce(values.get(k), t) for k, t in types.items()}


def _require_pyarrow() -> None:
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError as exc:
        raise DependencyMissingError(
            "Parquet output needs pyarrow: pip install 'fakescope[batch]' (or write .jsonl or .csv)"
        ) from exc


_ARROW_TYPES = {"string": "string", "int": "int64", "float": "float64", "bool": "bool_"}


def arrow_schema(schema: RowSchema):  # type: ignore[no-untyped-def]
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, _ARROW_TYPES[kind])()) for name, kind in schema.columns()])


def _parquet_columns(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    try:
        return list(pq.read_schema(path).names)
    except Exception as exc:  # pyarrow raises ArrowInvalid and OSError subclasses
        raise OutputError(f"{path} is not a readable Parquet file ({exc}); move it away") from exc


def _read_parquet(path: Path, types: dict[str, ColumnType]) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=_PARQUET_BATCH):
        for row in batch.to_pylist():
            yield {k: row.get(k) for k in types}


def read_rows(path: Path, fmt: str | None = None) -> list[dict[str, Any]]:
    """Every row of a finished output, typed by its own columns (for tests and notebooks)."""
    fmt_ = format_for(path, fmt)
    if fmt_ == "parquet":
        _require_pyarrow()
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    if fmt_ == "csv":
        with open(path, encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh), [])
    else:
        header = _jsonl_columns(path) or []
    types = _types_for(header)
    reader = _read_csv if fmt_ == "csv" else _read_jsonl
    return list(reader(path, types))


def _types_for(header: list[str]) -> dict[str, ColumnType]:
    from fakescope.batch.rows import HEAD_COLUMNS, TAIL_COLUMNS

    known = dict(HEAD_COLUMNS + TAIL_COLUMNS)
    out: dict[str, ColumnType] = {}
    for name in header:
        if name in known:
            out[name] = known[name]
        elif name.startswith("score_"):
            out[name] = "float"
        else:
            raise OutputMismatchError(f"unknown column {name!r}")
    return out
