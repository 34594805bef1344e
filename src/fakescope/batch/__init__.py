"""Batch scans of large archives (``fakescope batch``): on one machine or a Ray cluster.

``docs/batch.md`` is the user guide: sources, the row schema, resume semantics, executors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakescope.batch.run import BatchConfig, BatchSummary, run_batch

__all__ = ["BatchConfig", "BatchSummary", "run_batch"]


def __getattr__(name: str) -> Any:
    # Lazy, like the package root: importing fakescope.batch does not load the pipeline.
    if name in __all__:
        from fakescope.batch import run

        return getattr(run, name)
    raise AttributeError(name)
