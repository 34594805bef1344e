"""Expand what a user names (files and folders) into the files to scan."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from fakescope.media.sniff import looks_like_media


@dataclass(frozen=True)
class InputFile:
    path: Path
    display: str  # the path as the user would recognise it (given, or joined under a folder)


@dataclass(frozen=True)
class Skipped:
    display: str
    reason: str


def expand(inputs: Iterable[str | os.PathLike[str]]) -> Iterator[InputFile | Skipped]:
    """Files given explicitly are always yielded (so a bad one is reported, not dropped);
    folders are walked recursively in sorted order, keeping only media files."""
    for raw in inputs:
        given = os.fspath(raw)
        path = Path(given)
        if path.is_dir():
            yield from _walk(path, given)
        else:
            yield InputFile(path, given)


def _walk(root: Path, given: str) -> Iterator[InputFile | Skipped]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            p = Path(dirpath) / name
            display = os.path.join(given, os.path.relpath(p, root))
            if looks_like_media(p):
                yield InputFile(p, display)
            else:
                yield Skipped(display, "not a media file")
