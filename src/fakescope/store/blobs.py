"""Blob store over fsspec: uploads and heatmaps under ``scans/<id>/``.

``file://`` (the default) writes through a staging folder on the same disk and renames, so
a blob either exists whole or not at all, and fsyncs it before the upload is acknowledged.
Object stores (``s3://``, ``gs://``, ``az://``) need their fsspec driver installed
(s3fs, gcsfs, adlfs); their PUT is atomic already.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem

from fakescope.errors import FakescopeError


class BlobStoreError(FakescopeError):
    code = "blob_store"


class StoreUnavailable(BlobStoreError):
    """The store cannot be read or written right now (permissions, disk, network): a
    temporary failure, retried; its message names no path."""

    code = "storage_unavailable"


@contextlib.contextmanager
def _outage(what: str) -> Iterator[None]:
    """OS and transport errors (but a missing blob) -> StoreUnavailable, without the path."""
    try:
        yield
    except BlobStoreError:
        raise
    except FileNotFoundError:
        raise
    except (OSError, ConnectionError, TimeoutError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise StoreUnavailable(f"the blob store is unavailable: cannot {what} ({reason})") from exc


class BlobStore:
    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.fs, root = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as exc:
            raise BlobStoreError(
                f"cannot open blob store {url}: {exc} (object stores need their fsspec driver: "
                "s3fs, gcsfs or adlfs)") from exc
        self.root = root.rstrip("/") or "/"
        self.local = isinstance(self.fs, LocalFileSystem)
        if self.local:
            self._staging = Path(self.root) / ".staging"
        else:
            self._staging = Path(tempfile.gettempdir())

    def _path(self, key: str) -> str:
        if key.startswith("/") or ".." in key.split("/"):
            raise BlobStoreError(f"invalid blob key {key!r}")
        return f"{self.root}/{key}"

    @property
    def staging_dir(self) -> Path:
        """Where uploads are spooled before ``put_file``: same disk as the store when local."""
        self._staging.mkdir(parents=True, exist_ok=True)
        return self._staging

    def put_file(self, key: str, local: Path) -> None:
        """Move a finished local file into the store (the file is gone afterwards)."""
        with _outage("store a file"):
            self._put_file(key, local)

    def _put_file(self, key: str, local: Path) -> None:
        dest = self._path(key)
        if self.local:
            Path(dest).parent.mkdir(parents=True, exist_ok=True)
            _fsync_file(local)
            try:
                os.replace(local, dest)
            except OSError:  # another device: copy, then remove
                shutil.copyfile(local, dest)
                _fsync_file(Path(dest))
                local.unlink(missing_ok=True)
            _fsync_dir(Path(dest).parent)
        else:
            self.fs.put_file(str(local), dest)
            local.unlink(missing_ok=True)

    def put_bytes(self, key: str, data: bytes) -> None:
        with _outage("store a file"):
            if self.local:
                fd, tmp = tempfile.mkstemp(dir=self.staging_dir)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                self._put_file(key, Path(tmp))
            else:
                self.fs.pipe_file(self._path(key), data)

    def get_bytes(self, key: str) -> bytes:
        try:
            with _outage("read a file"):
                return self.fs.cat_file(self._path(key))
        except FileNotFoundError as exc:
            raise BlobStoreError(f"blob {key} is missing") from exc

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))

    @contextlib.contextmanager
    def local_file(self, key: str, suffix: str = "") -> Iterator[Path]:
        """A path the scanner can open: the blob itself when local, else a temporary copy."""
        path = self._path(key)
        if self.local:
            with _outage("read a file"):
                exists = Path(path).exists()
                if exists:
                    with open(path, "rb"):  # readable now, or the store is unavailable
                        pass
            if not exists:
                raise BlobStoreError(f"blob {key} is missing")
            yield Path(path)
            return
        fd, tmp = tempfile.mkstemp(suffix=suffix)
        os.close(fd)
        try:
            try:
                with _outage("read a file"):
                    self.fs.get_file(path, tmp)
            except FileNotFoundError as exc:
                raise BlobStoreError(f"blob {key} is missing") from exc
            yield Path(tmp)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def delete(self, key: str) -> None:
        """Remove one blob (nothing happens when it is not there)."""
        path = self._path(key)
        if self.local:
            Path(path).unlink(missing_ok=True)
            return
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(path)

    def delete_prefix(self, prefix: str) -> None:
        path = self._path(prefix.rstrip("/"))
        if self.local:
            shutil.rmtree(path, ignore_errors=True)
            return
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(path, recursive=True)

    def list_prefixes(self, prefix: str) -> list[str]:
        """Names directly under ``prefix`` (e.g. the scan ids under ``scans``)."""
        path = self._path(prefix.rstrip("/"))
        try:
            entries = self.fs.ls(path, detail=False)
        except FileNotFoundError:
            return []
        return [str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries]

    def writable(self) -> bool:
        if self.local:
            try:
                Path(self.root).mkdir(parents=True, exist_ok=True)
            except OSError:
                return False
            return os.access(self.root, os.W_OK)
        try:
            self.fs.ls(self.root, detail=False)
            return True
        except FileNotFoundError:
            return True  # an empty bucket prefix
        except Exception:
            return False


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be fsynced
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
