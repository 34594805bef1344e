"""The flat batch row: one per scanned file, the same columns in Parquet, CSV and JSON Lines.

The full scan report is nested and large (faces, timelines, provenance); an archive of
millions of files wants one flat, typed row per file that a dataframe or SQL engine reads
directly. ``docs/batch.md`` documents every column.

Per-analyzer scores are real columns (``score_face_forgery``, ``score_voice`` ...), one
per analyzer *of the run*, not a JSON blob: the analyzers are known before the first file
is scanned (the registry's names, or ``--analyzers``), so the column set is fixed for an
output file, and filtering on one analyzer's score needs no JSON parsing. An output
written with one set of analyzers is never appended to with another (see
:func:`check_columns`).
"""

from __future__ import annotations

import re
import time
from typing import Any, Literal

from pydantic import BaseModel

from fakescope import __version__
from fakescope.errors import FakescopeError
from fakescope.report.schema import ScanReport

ColumnType = Literal["string", "int", "float", "bool"]

# Columns before the per-analyzer scores, in output order.
HEAD_COLUMNS: tuple[tuple[str, ColumnType], ...] = (
    ("path", "string"),
    ("sha256", "string"),
    ("size_bytes", "int"),
    ("media_type", "string"),
    ("verdict", "string"),
    ("score", "float"),
    ("reason", "string"),
    ("decided_by", "string"),
    ("error_code", "string"),
    ("error_message", "string"),
    ("faces", "int"),
    ("duration_s", "float"),
    ("c2pa_state", "string"),
    ("c2pa_ai_generated", "bool"),
    ("watermark_detected", "bool"),
)
# Columns after the per-analyzer scores: how and when the row was made.
TAIL_COLUMNS: tuple[tuple[str, ColumnType], ...] = (
    ("time_ms", "float"),
    ("fakescope_version", "string"),
    ("scanned_at", "string"),
)
# Differ between two scans of the same bytes; everything else is a function of the bytes,
# the path and the settings.
VOLATILE_COLUMNS = frozenset({"time_ms", "scanned_at"})


class OutputMismatchError(FakescopeError):
    """An existing output was written with other columns (another analyzer set)."""

    code = "output_mismatch"


def score_column(analyzer: str) -> str:
    return "score_" + re.sub(r"[^0-9A-Za-z]+", "_", analyzer).strip("_").lower()


class RowSchema(BaseModel):
    """The columns of one output: fixed ones plus ``score_<analyzer>`` for the run's analyzers."""

    analyzers: list[str]

    def score_columns(self) -> dict[str, str]:
        cols = {a: score_column(a) for a in self.analyzers}
        if len(set(cols.values())) != len(cols):
            raise OutputMismatchError(
                f"analyzer names {', '.join(self.analyzers)} map to the same score column")
        return cols

    def columns(self) -> list[tuple[str, ColumnType]]:
        scores: list[tuple[str, ColumnType]] = [(c, "float") for c in self.score_columns().values()]
        return [*HEAD_COLUMNS, *scores, *TAIL_COLUMNS]

    def names(self) -> list[str]:
        return [name for name, _ in self.columns()]


def check_columns(existing: list[str], schema: RowSchema, where: str) -> None:
    """Refuse to append rows whose columns differ from those already in ``where``."""
    wanted = schema.names()
    if existing == wanted:
        return
    have = sorted(c for c in existing if c.startswith("score_"))
    want = sorted(c for c in wanted if c.startswith("score_"))
    if have != want:
        raise OutputMismatchError(
            f"{where} has the analyzer columns {', '.join(have) or 'none'} but this run writes "
            f"{', '.join(want) or 'none'}: use another --out file or the same --analyzers")
    raise OutputMismatchError(f"{where} has other columns than this version of fakescope writes "
                              f"(batch row schema changed): use another --out file")


def now_utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def row_from_report(report: ScanReport, schema: RowSchema, size_bytes: int | None) -> dict[str, Any]:
    """Flatten a scan report into the output row (a dict in column order)."""
    by_name = {a.name: a for a in report.analyzers}
    prov = report.provenance
    faces: int | None = None
    duration: float | None = None
    if report.verdict != "error":
        if report.media_type == "video":
            faces = len(report.tracks)
        elif report.media_type == "image":
            faces = len(report.faces)
    if report.video is not None:
        duration = report.video.duration_s
    elif report.audio is not None:
        duration = report.audio.duration_s
    row: dict[str, Any] = {
        "path": report.file,
        "sha256": report.sha256,
        "size_bytes": size_bytes,
        "media_type": report.media_type,
        "verdict": report.verdict,
        "score": report.score,
        "reason": report.reason,
        "decided_by": report.decided_by,
        "error_code": report.error.code if report.error else None,
        "error_message": report.error.message if report.error else None,
        "faces": faces,
        "duration_s": duration,
        "c2pa_state": prov.c2pa.state if prov else None,
        "c2pa_ai_generated": prov.c2pa.ai_generated if prov else None,
        "watermark_detected": (prov.watermark.detected if prov and prov.watermark and prov.watermark.checked
                               else None),
    }
    for name, col in schema.score_columns().items():
        result = by_name.get(name)
        row[col] = result.score if result is not None else None
    row["time_ms"] = report.timing_ms.total
    row["fakescope_version"] = report.fakescope_version
    row["scanned_at"] = now_utc()
    return row


def error_row(path: str, code: str, message: str, schema: RowSchema, sha256: str | None = None,
              size_bytes: int | None = None) -> dict[str, Any]:
    """A row for a file the batch could not hand to the scanner (unreadable URL, crashed worker)."""
    report = ScanReport(fakescope_version=__version__, file=path, sha256=sha256, verdict="error",
                        reason=message, error={"code": code, "message": message})  # type: ignore[arg-type]
    return row_from_report(report, schema, size_bytes)


def coerce(value: Any, kind: ColumnType) -> Any:
    """A value read from CSV text (or JSON) back to its column type; '' and None are null."""
    if value is None or value == "":
        return None
    if kind == "string":
        return str(value)
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if isinstance(value, bool):
        return value
    return str(value).lower() == "true"
