"""fakescope: deepfake detection and media provenance with explained verdicts.

>>> from fakescope import scan
>>> report = scan("photo.jpg")            # doctest: +SKIP
>>> report.verdict, report.score          # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Bound eagerly (the function is light: models load on the first scan) so that the name
# is always the function, never the `fakescope.scan` package it lives in.
from fakescope.scan import scan

if TYPE_CHECKING:
    from fakescope.report.schema import ScanReport
    from fakescope.scan.scanner import Scanner

__all__ = ["ScanReport", "Scanner", "__version__", "scan"]


def __getattr__(name: str) -> Any:
    # Lazy: `import fakescope` stays cheap (the CLI's --help does not load onnxruntime).
    if name == "Scanner":
        from fakescope.scan.scanner import Scanner

        return Scanner
    if name == "ScanReport":
        from fakescope.report.schema import ScanReport

        return ScanReport
    raise AttributeError(name)
