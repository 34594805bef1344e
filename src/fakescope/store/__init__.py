"""Durable state of the service: the database (scans, API keys, audit log) and the blob store
(uploads and heatmaps). SQLite and PostgreSQL share the same models; blobs live in any
fsspec file system (a local folder by default)."""

from fakescope.store.blobs import BlobStore
from fakescope.store.database import Database, utcnow
from fakescope.store.models import ApiKey, AuditEvent, Scan

__all__ = ["ApiKey", "AuditEvent", "BlobStore", "Database", "Scan", "utcnow"]
