"""``fakescope batch``: scan an archive (folder, listing or URL prefix) into one table.

Imports stay inside the command so ``fakescope --help`` does not load the pipeline, Ray
or pyarrow.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from fakescope.cli.common import EXIT_FAILED, EXIT_USAGE, fail
from fakescope.errors import FakescopeError

# Raised for things the user must change (the command, the output file, the environment),
# as opposed to files that fail to scan (exit 1, each with its error row).
_USAGE_CODES = frozenset({"unknown_analyzer", "source_error", "output_error", "output_mismatch",
                          "dependency_missing", "executor_error"})


@click.command()
@click.argument("source")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Results table: .parquet, .csv or .jsonl (one row per file). An existing one is "
                   "resumed: files already in it (same path and content hash) are skipped.")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv", "jsonl"]),
              help="Output format (default: from the --out extension).")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: a process pool on this machine; ray: Ray Data actors (a cluster).")
@click.option("--workers", type=click.IntRange(min=0),
              help="Processes (local; default: the cores; 0: in this process) or actors (ray; "
                   "default: the cluster's CPUs). Each loads the models once.")
@click.option("--address", help="Ray cluster: auto (joins `ray start --head`) or ray://HOST:10001. "
                                "Default: a private local Ray instance for this run.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N files of SOURCE.")
@click.option("--analyzers", help="Comma-separated analyzer names (default: all).")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal).")
def batch(source: str, out: Path, fmt: str | None, executor: str, workers: int | None,
          address: str | None, limit: int | None, analyzers: str | None, progress: bool | None) -> None:
    """Scan every file of SOURCE into one table; re-run to resume.

    SOURCE is a folder (recursive), a text file listing paths or URLs (one per line, #
    comments), or an fsspec URL prefix (s3://bucket/prefix, gs://..., file:///...).
    Exit status: 0 when every file was scanned, 1 when some failed (error rows), 2 for
    usage errors, 130 when interrupted (re-run the same command to resume).
    """
    from rich.console import Console

    from fakescope.batch.run import BatchConfig, run_batch
    from fakescope.config import ScanSettings

    if address and executor != "ray":
        fail("--address needs --executor ray", EXIT_USAGE)
    settings = ScanSettings(
        analyzers=[a.strip() for a in analyzers.split(",") if a.strip()] if analyzers else None)
    config = BatchConfig(source=source, out=out, format=fmt, executor=executor, workers=workers,  # type: ignore[arg-type]
                         address=address, limit=limit, settings=settings, progress=progress)
    err = Console(stderr=True)
    try:
        summary = run_batch(config, err)
    except FakescopeError as exc:
        fail(str(exc), EXIT_USAGE if exc.code in _USAGE_CODES else EXIT_FAILED)
    for line in summary.lines():
        err.print(line, highlight=False, markup=False, soft_wrap=True)
    if summary.interrupted:
        err.print(f"interrupted: every completed result is in {out}; run the same command again to "
                  "resume", highlight=False, markup=False, soft_wrap=True)
    sys.exit(summary.exit_status)
