"""Scanning: the one pipeline (``scanner.py``) and its per-media flows (``image.py``,
``video.py``, ``audio.py``).

``fakescope.scan`` is also the public one-call function (``from fakescope import scan``):
the package ``fakescope/__init__.py`` binds that name to :func:`scan` below. So import
from this package's modules with ``from fakescope.scan.image import ...``, never with
``import fakescope.scan.image as ...`` (that form looks the name up as an attribute).
This module stays light: the models load on the first scan, not on import.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakescope.config import ScanSettings
    from fakescope.report.schema import ScanReport
    from fakescope.scan.scanner import Scanner

__all__ = ["Scanner", "scan"]


def scan(path: str | Path, settings: ScanSettings | None = None) -> ScanReport:
    """Scan one file with a process-wide scanner (models load on the first call)."""
    from fakescope.scan.scanner import scan as scan_with_shared_scanner

    return scan_with_shared_scanner(path, settings)


def __getattr__(name: str) -> Any:
    if name == "Scanner":
        from fakescope.scan.scanner import Scanner

        return Scanner
    raise AttributeError(name)
