"""fakescope: deepfake detection and media provenance with explained verdicts.

>>> from fakescope import scan
>>> report = scan("photo.jpg")            # doctest: +SKIP
>>> report.verdict, report.score          # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from fakescope.pipeline import Scanner, scan
    from fakescope.report.schema import ScanReport

__all__ = ["ScanReport", "Scanner", "__version__", "scan"]


def __getattr__(name: str) -> Any:
    # Lazy: `import fakescope` stays cheap (the CLI's --help does not load onnxruntime).
    if name in ("scan", "Scanner"):
        from fakescope import pipeline

        return getattr(pipeline, name)
    if name == "ScanReport":
        from fakescope.report.schema import ScanReport

        return ScanReport
    raise AttributeError(name)
