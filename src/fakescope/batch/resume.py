"""What an existing output already holds, so that a re-run scans only what is missing.

A file is done when the output has a row with the same ``path`` *and* the same content
hash (``sha256``). The worker that receives a file whose path has rows hashes the file's
current bytes before scanning it (reading is cheap next to scanning) and skips it on a
match; a path without rows is scanned straight away (the scan hashes it anyway). So:

- an interrupted run continues where it stopped, and a finished one re-run scans nothing;
- a file whose bytes changed since it was scanned is scanned again (a new row beside the
  old one: the newest ``scanned_at`` is current);
- identical bytes under two paths are two files, each with its row;
- a file that could not be read (or is empty) has a row with a null hash, and is skipped
  while it still cannot be read.

Memory: one entry per path (a 32-byte digest), a few hundred MB for ten million rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Digest = bytes | None  # raw SHA-256 (32 bytes) or None: unreadable


def _digest(sha256: str | None) -> Digest:
    return bytes.fromhex(sha256) if sha256 else None


class DoneIndex:
    """(path, content hash) pairs already in the output, and which of them are errors."""

    def __init__(self) -> None:
        # Almost every path has one digest; a tuple only for files that changed between runs.
        self._by_path: dict[str, Digest | tuple[Digest, ...]] = {}
        self._failed: set[tuple[str, Digest]] = set()
        self.rows = 0

    @classmethod
    def from_rows(cls, rows: Iterable[dict[str, Any]]) -> DoneIndex:
        index = cls()
        for row in rows:
            index.add(row["path"], row["sha256"], failed=row["verdict"] == "error")
        return index

    def add(self, path: str, sha256: str | None, failed: bool = False) -> None:
        d = _digest(sha256)
        old = self._by_path.get(path, ...)
        if old is ...:
            self._by_path[path] = d
        elif isinstance(old, tuple):
            if d not in old:
                self._by_path[path] = (*old, d)
        elif old != d:
            self._by_path[path] = (old, d)
        if failed:
            self._failed.add((path, d))
        self.rows += 1

    def known(self, path: str) -> tuple[str | None, ...] | None:
        """Hashes (hex) with a row for this path; None when the path has no row."""
        found = self._by_path.get(path, ...)
        if found is ...:
            return None
        digests = found if isinstance(found, tuple) else (found,)
        return tuple(d.hex() if d is not None else None for d in digests)

    def contains(self, path: str, sha256: str | None) -> bool:
        found = self._by_path.get(path, ...)
        if found is ...:
            return False
        d = _digest(sha256)
        return d in found if isinstance(found, tuple) else d == found

    def failed(self, path: str, sha256: str | None) -> bool:
        return (path, _digest(sha256)) in self._failed

    def __len__(self) -> int:
        return len(self._by_path)
