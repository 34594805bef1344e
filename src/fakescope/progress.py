"""Progress bars on stderr (stdout stays clean for reports), only where a person watches."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")


def stderr_console() -> Console:
    return Console(stderr=True)


def make_progress(console: Console | None = None) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console or stderr_console(),
        transient=False,
        # Never capture stdout: with `--format jsonl > file` the reports must reach the file.
        redirect_stdout=False,
        redirect_stderr=False,
    )


def progress_iter(items: Iterable[T], description: str, total: int | None = None,
                  enabled: bool | None = None) -> Iterator[T]:
    """Iterate with a progress bar when stderr is a terminal (or ``enabled`` says so)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield from items
        return
    with make_progress() as prog:
        task = prog.add_task(description, total=total, rate="")
        for n, item in enumerate(items, start=1):
            yield item
            elapsed = prog.tasks[0].elapsed or 0.0
            prog.update(task, advance=1, rate=f"{n / elapsed:.1f}/s" if elapsed > 0 else "")
