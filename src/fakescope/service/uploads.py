"""Receive an upload by streaming it to disk with a cap: an oversize body is refused (413)
as soon as it passes the limit (or at once, from its Content-Length), never held in memory.

Two forms: ``multipart/form-data`` with a ``file`` part (and an optional ``callback_url``
field), or the raw media as the body with ``?filename=``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from fastapi import HTTPException, Request
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from fakescope.media.sniff import HEADER_BYTES, describe_unknown, sniff_bytes

MAX_FIELD_BYTES = 4096
# A multipart upload has one file and a few small fields: beyond these, it is not one.
MAX_PARTS = 16
# Multipart framing around the file (boundaries, part headers, small fields).
FRAMING_ALLOWANCE = 64 * 1024
_FORM_TYPES = frozenset({b"text/plain", b"application/x-www-form-urlencoded"})


class UploadStalled(HTTPException):
    def __init__(self, idle_s: float) -> None:
        super().__init__(408, f"the upload stalled: no data for {idle_s:g} s")


async def _chunks(request: Request, idle_s: float) -> AsyncIterator[bytes]:
    """The request body, refusing a client that stops sending mid-upload: a stalled upload
    would otherwise hold a connection, a temporary file and its descriptor for as long as
    the client cares to wait."""
    stream = request.stream().__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(stream.__anext__(), idle_s)
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
            raise UploadStalled(idle_s) from None
        except ClientDisconnect:
            raise ClientGone from None
        yield chunk


class ClientGone(HTTPException):
    """The client went away mid-upload: nobody reads the answer, and it is not a server error."""

    def __init__(self) -> None:
        super().__init__(400, "the client disconnected before the upload ended")


class UploadTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"upload larger than the limit of {limit} bytes")


@dataclass
class Upload:
    path: Path
    filename: str
    size: int
    sha256: str
    media_type: str
    format: str
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def safe_filename(name: str | None, fallback: str) -> str:
    """The client's file name, without any folder part or control characters."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[:255] or fallback


def blob_suffix(filename: str, fmt: str) -> str:
    """Keep the client's extension (the scan notes a name that contradicts the content)."""
    ext = Path(filename).suffix.lower()
    return ext if re.fullmatch(r"\.[a-z0-9]{1,8}", ext) else f".{fmt}"


class _Sink:
    """The file part: written to a temporary file, hashed, counted, capped."""

    def __init__(self, staging: Path, limit: int) -> None:
        fd, name = tempfile.mkstemp(dir=staging, prefix="upload-")
        self.path = Path(name)
        self.fh: BinaryIO = os.fdopen(fd, "wb")
        self.limit = limit
        self.size = 0
        self.head = b""
        self.hash = hashlib.sha256()
        self.too_large = False

    def write(self, data: bytes) -> None:
        if self.too_large:
            return
        self.size += len(data)
        if self.size > self.limit:
            self.too_large = True
            return
        if len(self.head) < HEADER_BYTES:
            self.head += data[:HEADER_BYTES - len(self.head)]
        self.hash.update(data)
        self.fh.write(data)

    def close(self) -> None:
        if not self.fh.closed:
            self.fh.flush()
            self.fh.close()

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


async def receive_upload(request: Request, staging: Path, limit: int, idle_s: float = 30.0) -> Upload:
    """Stream the request body into ``staging``; HTTPException 400/408/413/415 when refused
    (408: no data for ``idle_s``)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit + FRAMING_ALLOWANCE:
        raise UploadTooLarge(limit)
    ctype, options = parse_options_header(request.headers.get("content-type", ""))
    if ctype in _FORM_TYPES:
        # What an HTML form or a no-preflight fetch from any web page sends: media never
        # comes as text or a URL-encoded form, so refusing these closes that door.
        raise HTTPException(415, f"a {ctype.decode()} body is not an upload: send multipart/form-data "
                                 "with a 'file' part, or the media as the body with its own media type "
                                 "(or application/octet-stream)")
    sink = _Sink(staging, limit)
    try:
        if ctype == b"multipart/form-data":
            boundary = options.get(b"boundary")
            if not boundary:
                raise HTTPException(400, "multipart body without a boundary")
            filename, fields = await _multipart(request, boundary, sink, limit, idle_s)
            if not fields.get("callback_url") and request.query_params.get("callback_url"):
                # Given in the query string only: it counts (and is checked) as for a raw body.
                fields["callback_url"] = request.query_params["callback_url"]
        else:
            async for chunk in _chunks(request, idle_s):
                sink.write(chunk)
                if sink.too_large:
                    raise UploadTooLarge(limit)
            filename, fields = request.query_params.get("filename"), {}
            if "callback_url" in request.query_params:
                fields["callback_url"] = request.query_params["callback_url"]
        sink.close()
        if sink.size == 0:
            raise HTTPException(400, "the upload is empty: send the media as a multipart 'file' "
                                     "part or as the request body")
        sniffed = sniff_bytes(sink.head)
        if sniffed is None:
            raise HTTPException(415, f"not a media file fakescope reads ({describe_unknown(sink.head)})")
        return Upload(path=sink.path, filename=safe_filename(filename, f"upload.{sniffed.format}"),
                      size=sink.size, sha256=sink.hash.hexdigest(), media_type=sniffed.media_type,
                      format=sniffed.format, fields=fields)
    except BaseException:
        sink.discard()
        raise


async def _multipart(request: Request, boundary: bytes, sink: _Sink,
                     limit: int, idle_s: float) -> tuple[str | None, dict[str, str]]:
    fields: dict[str, str] = {}
    state: dict[str, object] = {"headers": {}, "field": b"", "value": b"", "name": None,
                                "filename": None, "is_file": False, "files": 0, "buf": bytearray()}
    errors: list[HTTPException] = []
    filename: list[str | None] = [None]

    def on_part_begin() -> None:
        state.update(headers={}, name=None, is_file=False, buf=bytearray(),
                     parts=int(state.get("parts", 0)) + 1)  # type: ignore[call-overload]
        if int(state["parts"]) > MAX_PARTS:  # type: ignore[call-overload]
            errors.append(HTTPException(400, f"more than {MAX_PARTS} form parts: send one 'file' "
                                             "part and at most a few fields"))

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] = bytes(state["field"]) + data[start:end]  # type: ignore[operator]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        # python-multipart refuses a single header over its own maximum (8 KB).
        state["value"] = bytes(state["value"]) + data[start:end]  # type: ignore[operator]

    def on_header_end() -> None:
        headers = state["headers"]
        headers[bytes(state["field"]).lower()] = bytes(state["value"])  # type: ignore[index]
        state.update(field=b"", value=b"")

    def on_headers_finished() -> None:
        disp = state["headers"].get(b"content-disposition", b"")  # type: ignore[attr-defined]
        _, opts = parse_options_header(disp)
        name = opts.get(b"name", b"").decode("utf-8", "replace")
        state["name"] = name
        if b"filename" in opts or name == "file":
            state["files"] = int(state["files"]) + 1  # type: ignore[call-overload]
            if state["files"] > 1 or name != "file":
                errors.append(HTTPException(400, "send exactly one file, in a part named 'file'"))
            state["is_file"] = True
            filename[0] = opts.get(b"filename", b"").decode("utf-8", "replace") or None

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if errors:
            return
        if state["is_file"]:
            sink.write(data[start:end])
            return
        buf = state["buf"]
        buf += data[start:end]  # type: ignore[operator]
        if len(buf) > MAX_FIELD_BYTES:  # type: ignore[arg-type]
            errors.append(HTTPException(400, f"form field {state['name']!r} is too long"))

    def on_part_end() -> None:
        if not state["is_file"] and state["name"]:
            fields[str(state["name"])] = bytes(state["buf"]).decode("utf-8", "replace")  # type: ignore[call-overload]

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
        "on_part_end": on_part_end,
    })
    received = 0
    async for chunk in _chunks(request, idle_s):
        # The whole body counts, not only the file part: fields and framing are bounded too.
        received += len(chunk)
        if received > limit + FRAMING_ALLOWANCE:
            raise UploadTooLarge(limit)
        try:
            parser.write(chunk)
        except Exception as exc:
            raise HTTPException(400, f"malformed multipart body: {exc}") from exc
        if sink.too_large:
            raise UploadTooLarge(limit)
        if errors:
            raise errors[0]
    parser.finalize()
    if errors:
        raise errors[0]
    if state["files"] == 0:
        raise HTTPException(400, "no file: send the media in a multipart part named 'file'")
    return filename[0], fields
