"""What a batch scans: a local folder, a text file listing paths/URLs, or an fsspec URL prefix.

Each file becomes a :class:`Candidate`: the path as the user will see it in the output's
``path`` column, and where a worker reads it from (an absolute local path, so workers
whose working directory differs read the same file, or an fsspec URL).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from fakescope.errors import DependencyMissingError, FakescopeError
from fakescope.inputs import InputFile, expand
from fakescope.media.sniff import media_type_from_name, sniff_file

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://|::")


class SourceError(FakescopeError):
    """SOURCE does not exist, is a media file, or cannot be listed."""

    code = "source_error"


@dataclass(frozen=True, slots=True)
class Candidate:
    path: str       # the output's `path` column: as given, joined, or the URL
    location: str   # what a worker opens: an absolute local path or an fsspec URL
    remote: bool    # read through fsspec (bytes) rather than from the local disk


@dataclass
class Listing:
    candidates: list[Candidate] = field(default_factory=list)
    not_media: int = 0
    not_media_examples: list[str] = field(default_factory=list)
    duplicates: int = 0

    def _skip(self, display: str) -> None:
        self.not_media += 1
        if len(self.not_media_examples) < 3:
            self.not_media_examples.append(display)


def is_url(text: str) -> bool:
    return bool(_URL.search(text))


def expand_source(source: str, limit: int | None = None) -> Listing:
    """Every file SOURCE names, in a stable order, each path once; at most ``limit``."""
    listing = Listing()
    seen: set[str] = set()
    for entry in _entries(source, listing):
        if entry.path in seen:
            listing.duplicates += 1
            continue
        seen.add(entry.path)
        listing.candidates.append(entry)
        if limit is not None and len(listing.candidates) >= limit:
            break
    return listing


def _entries(source: str, listing: Listing) -> Iterator[Candidate]:
    if is_url(source):
        yield from _remote_tree(source, listing)
        return
    path = Path(source)
    if path.is_dir():
        yield from _local(source, listing)
    elif path.is_file():
        try:
            if sniff_file(path) is not None:
                raise SourceError(f"{source} is a media file; batch takes a folder, a file listing "
                                  "paths or URLs, or a URL prefix (use `fakescope scan` for one file)")
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise SourceError(f"{source} is not a text file listing paths or URLs") from exc
        except OSError as exc:
            raise SourceError(f"cannot read {source}: {exc.strerror or exc}") from exc
        yield from _listed(text, listing)
    else:
        raise SourceError(f"{source} does not exist")


def _local(given: str, listing: Listing) -> Iterator[Candidate]:
    for entry in expand([given]):
        if isinstance(entry, InputFile):
            yield Candidate(entry.display, os.path.abspath(entry.path), remote=False)
        else:
            listing._skip(entry.display)


def _listed(text: str, listing: Listing) -> Iterator[Candidate]:
    """One path or URL per line; blank lines and lines starting with # are ignored.
    Relative paths are relative to the current directory, like the shell that wrote them."""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if is_url(line):
            # A listed URL names one object: a per-line "is it a folder?" round trip would
            # cost more than the listing over millions of lines.
            yield Candidate(line, line, remote=True)
        elif Path(line).is_dir():
            yield from _local(line, listing)
        else:
            # Named explicitly: always scanned, so a missing or non-media file gets an error row.
            yield Candidate(line, os.path.abspath(line), remote=False)


def _remote_tree(url: str, listing: Listing) -> Iterator[Candidate]:
    try:
        import fsspec
    except ImportError as exc:
        raise DependencyMissingError(
            "URL sources need fsspec: pip install 'fakescope[batch]' (and s3fs, gcsfs or adlfs "
            "for object stores)") from exc
    try:
        fs, root = fsspec.core.url_to_fs(url)
        root = root.rstrip("/")
        if fs.isfile(root):
            yield Candidate(url, url, remote=True)
            return
        found = sorted(fs.find(root))
    except ImportError as exc:
        raise DependencyMissingError(f"cannot open {url}: {exc}") from exc
    except (OSError, ValueError) as exc:
        raise SourceError(f"cannot list {url}: {exc}") from exc
    if not found:
        raise SourceError(f"{url} holds no files")
    base = url.rstrip("/")
    for p in found:
        rel = p[len(root):].lstrip("/") if p.startswith(root) else p
        parts = PurePosixPath(rel).parts
        # The display keeps the URL the user typed (protocol, chained options) so that it
        # reopens with fsspec as is.
        display = f"{base}/{rel}"
        if any(part.startswith(".") for part in parts):
            continue
        # Listing tells only names: sniffing every object's first bytes would be one more
        # request per object. A listing file names extension-less media explicitly.
        if media_type_from_name(PurePosixPath(rel)) is None:
            listing._skip(display)
            continue
        yield Candidate(display, display, remote=True)
