"""Service commands of the ``fakescope`` command line: ``serve``, ``worker``, ``audit`` and
the API-key commands added to the ``keys`` group (beside the C2PA ``keys init``).

Everything here needs the ``[service]`` extra; imports stay inside the commands so the rest
of the CLI works without it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from fakescope.cli.common import EXIT_USAGE, fail
from fakescope.errors import FakescopeError

if TYPE_CHECKING:
    from fakescope.service.settings import ServiceSettings


def _need_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import pydantic_settings  # noqa: F401
        import sqlalchemy  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        fail(f"the service needs the [service] extra ({exc.name} is missing): "
             "pip install 'fakescope[service]'", EXIT_USAGE)


def _store_options(f: Any) -> Any:
    f = click.option("--database-url", help="sqlite:///PATH or postgresql://USER:PASS@HOST/DB "
                     "(default: SQLite in the data folder; env FAKESCOPE_DATABASE_URL).")(f)
    f = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                     help="Folder of the embedded database and blobs (env FAKESCOPE_DATA_DIR).")(f)
    f = click.option("--config", "config_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                     help="Settings file, TOML or YAML (env FAKESCOPE_CONFIG).")(f)
    return f


def _settings(config_file: Path | None, **given: Any) -> Any:
    _need_extra()
    from fakescope.service.settings import load_settings

    try:
        return load_settings(config_file, **given)
    except FakescopeError as exc:
        fail(str(exc), EXIT_USAGE)


def _database(settings: Any) -> Any:
    from fakescope.store.database import Database

    db = Database(settings.db_url)
    try:
        db.migrate()
    except FakescopeError as exc:
        fail(str(exc))
    return db


@click.command()
@_store_options
@click.option("--host", help="Address to bind (default 127.0.0.1; API keys are required by default "
              "on any other address).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default 8000).")
@click.option("--blob-url", help="fsspec URL for uploads: file:///PATH, s3://BUCKET/PREFIX, gs://, az://.")
@click.option("--workers", type=click.IntRange(0, 64), help="In-process scan workers (default 1; 0: none, "
              "run `fakescope worker` instead).")
@click.option("--auth", type=click.Choice(["auto", "required", "off"]),
              help="API keys: auto (default) requires them unless bound to localhost.")
@click.option("--retention-days", type=click.FloatRange(min=0, min_open=True),
              help="Delete uploads and reports after this many days (default 30).")
@click.option("--max-upload-mb", type=click.FloatRange(min=0, min_open=True),
              help="Largest upload (default 200).")
@click.option("--rate-per-min", type=click.IntRange(min=1), help="Uploads a minute per key (default 60).")
@click.option("--cors-origin", "cors_origins", multiple=True, help="Allow this browser origin (CORS is off "
              "by default); repeatable.")
@click.option("--keep-face-crops/--no-keep-face-crops", default=None,
              help="Show aligned face crops in report.html (off by default, for privacy).")
@click.option("--openapi", is_flag=True, help="Print the OpenAPI document (JSON) and exit.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
def serve(config_file: Path | None, data_dir: Path | None, database_url: str | None, host: str | None,
          port: int | None, blob_url: str | None, workers: int | None, auth: str | None,
          retention_days: float | None, max_upload_mb: float | None, rate_per_min: int | None,
          cors_origins: tuple[str, ...], keep_face_crops: bool | None, openapi: bool, log_level: str) -> None:
    """Run the REST API, the web UI and the scan workers (see docs/service.md)."""
    settings = _settings(config_file, data_dir=data_dir, database_url=database_url, host=host, port=port,
                         blob_url=blob_url, workers=workers, auth=auth, retention_days=retention_days,
                         max_upload_mb=max_upload_mb, rate_per_min=rate_per_min,
                         cors_origins=list(cors_origins) or None, keep_face_crops=keep_face_crops)
    from fakescope.service.app import create_app

    if openapi:
        click.echo(json.dumps(create_app(settings, start_workers=False).openapi(), indent=2))
        return
    import logging

    import uvicorn

    from fakescope.service.keys import list_keys
    from fakescope.store.database import redact

    logging.getLogger("fakescope").setLevel(log_level.upper())
    db = _database(settings)
    if settings.auth_required and not any(k.revoked_at is None for k in list_keys(db)):
        click.echo("fakescope: API keys are required and none exists yet: create one with "
                   "`fakescope keys create`", err=True)
    db.dispose()
    try:
        app = create_app(settings)
    except FakescopeError as exc:
        fail(str(exc))
    click.echo(f"fakescope serving on http://{settings.host}:{settings.port}  (API keys "
               f"{'required' if settings.auth_required else 'off'}; database {redact(settings.db_url)}; "
               f"blobs {settings.blobs_url}; {settings.workers} worker(s); retention "
               f"{settings.retention_days:g} days)", err=True)
    uvicorn.run(app, **uvicorn_options(settings, log_level))


def uvicorn_options(settings: ServiceSettings, log_level: str = "info") -> dict[str, object]:
    """How uvicorn serves the app. Its default believes X-Forwarded-For from 127.0.0.1, so with
    keys off any local client could name another address and dodge the per-address rate
    limit: forwarded headers count only from the proxies the settings name."""
    return {"host": settings.host, "port": settings.port, "log_level": log_level,
            "timeout_graceful_shutdown": 15, "access_log": log_level == "debug",
            "proxy_headers": bool(settings.trusted_proxies),
            "forwarded_allow_ips": ",".join(settings.trusted_proxies) or None}


@click.command()
@_store_options
@click.option("--blob-url", help="The same blob store as the server's.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True)
def worker(config_file: Path | None, data_dir: Path | None, database_url: str | None, blob_url: str | None,
           workers: int) -> None:
    """Run scan workers only, against a server's database and blob store (to scale out)."""
    import signal
    import threading

    settings = _settings(config_file, data_dir=data_dir, database_url=database_url, blob_url=blob_url)
    from fakescope.jobs.queue import JobQueue
    from fakescope.jobs.worker import WorkerPool
    from fakescope.store.blobs import BlobStore

    db = _database(settings)
    pool = WorkerPool(JobQueue(db, lease_s=settings.lease_s, max_attempts=settings.max_attempts),
                      BlobStore(settings.blobs_url), workers=workers,
                      anonymize_previews=settings.anonymize_previews)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    pool.start()
    click.echo(f"fakescope worker: {workers} worker(s) on {settings.blobs_url}", err=True)
    stop.wait()
    click.echo("stopping: finishing running scans", err=True)
    pool.stop(timeout=30)
    db.dispose()


@click.command()
@_store_options
@click.option("--scan", "scan_id", help="Only this scan.")
@click.option("--key", "key_id", help="Only this API key id.")
@click.option("--since", help="From this time (ISO 8601, UTC).")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "jsonl"]), default="text", show_default=True)
def audit(config_file: Path | None, data_dir: Path | None, database_url: str | None, scan_id: str | None,
          key_id: str | None, since: str | None, limit: int, fmt: str) -> None:
    """Print the service's audit log: who created, viewed and deleted which scan."""
    from datetime import datetime

    from sqlalchemy import select

    from fakescope.store.models import AuditEvent

    settings = _settings(config_file, data_dir=data_dir, database_url=database_url)
    db = _database(settings)
    q = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    if scan_id:
        q = q.where(AuditEvent.scan_id == scan_id)
    if key_id:
        q = q.where(AuditEvent.key_id == key_id)
    if since:
        try:
            t = datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            fail(f"--since {since!r} is not an ISO 8601 time", EXIT_USAGE)
        q = q.where(AuditEvent.at >= t.replace(tzinfo=None))
    with db.read() as s:
        events = list(s.scalars(q))
    for e in reversed(events):
        row = {"at": e.at.isoformat(timespec="seconds") + "Z", "key_id": e.key_id, "action": e.action,
               "scan_id": e.scan_id, "detail": e.detail}
        if fmt == "jsonl":
            click.echo(json.dumps(row))
        else:
            click.echo(f"{row['at']}  {e.key_id or '-':<12}  {e.action:<15}  {e.scan_id or '-'}"
                       + (f"  ({e.detail})" if e.detail else ""))


def add_api_key_commands(keys: click.Group) -> None:
    """``keys create|list|revoke`` beside the C2PA ``keys init`` in the same group."""
    keys.help = ("API keys of the service (create, list, revoke) and a test PKI for C2PA signing "
                 "(init).")

    @keys.command("create")
    @_store_options
    @click.option("--name", default="default", show_default=True, help="Who or what uses the key.")
    @click.option("--rate", "rate", type=click.IntRange(min=1),
                  help="Uploads a minute (N or N/min; default: the server's --rate-per-min).")
    @click.option("--max-upload-mb", type=click.FloatRange(min=0, min_open=True),
                  help="Largest upload for this key (default: the server's).")
    @click.option("--admin", is_flag=True, help="May see and delete every scan, not only its own.")
    @click.option("--reviewer", is_flag=True,
                  help="May record reviews of the scans it sees (docs/feedback.md).")
    def keys_create(config_file: Path | None, data_dir: Path | None, database_url: str | None, name: str,
                    rate: int | None, max_upload_mb: float | None, admin: bool, reviewer: bool) -> None:
        """Create an API key; it is printed once and only its hash is stored."""
        from fakescope.service.keys import create_key
        from fakescope.service.reviews import grant

        db = _database(_settings(config_file, data_dir=data_dir, database_url=database_url))
        key = create_key(db, name, rate_per_min=rate, admin=admin,
                         max_upload_bytes=int(max_upload_mb * 1024 * 1024) if max_upload_mb else None)
        if reviewer:
            grant(db, key.id, "reviewer")
        click.echo(key.token)
        click.echo(f"key id {key.id} ({name}): store the key now, it cannot be shown again; use it as "
                   "`Authorization: Bearer <key>`", err=True)

    @keys.command("list")
    @_store_options
    def keys_list(config_file: Path | None, data_dir: Path | None, database_url: str | None) -> None:
        """List API keys (ids and names; the keys themselves are not stored)."""
        from fakescope.service.keys import list_keys
        from fakescope.service.reviews import roles_of

        db = _database(_settings(config_file, data_dir=data_dir, database_url=database_url))
        for k in list_keys(db):
            state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
            used = f"last used {k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "never used"
            rate = f"{k.rate_per_min}/min" if k.rate_per_min else "default rate"
            roles = "".join(f"{r}  " for r in sorted(roles_of(db, k.id) | ({"admin"} if k.admin else set())))
            click.echo(f"{k.id}  {k.name:<20} {state:<18} {rate:<13} {roles}{used}")

    @keys.command("grant")
    @_store_options
    @click.argument("key_id")
    @click.argument("role", type=click.Choice(["reviewer"]))
    def keys_grant(config_file: Path | None, data_dir: Path | None, database_url: str | None,
                   key_id: str, role: str) -> None:
        """Give an API key a role (reviewer: may record reviews)."""
        from fakescope.service.keys import list_keys, parse_token
        from fakescope.service.reviews import grant

        db = _database(_settings(config_file, data_dir=data_dir, database_url=database_url))
        key_id = parse_token(key_id) or key_id
        if key_id not in {k.id for k in list_keys(db)}:
            raise click.ClickException(f"no API key {key_id} (fakescope keys list)")
        grant(db, key_id, role)
        click.echo(f"key {key_id} is now a {role}")

    @keys.command("revoke")
    @_store_options
    @click.argument("key_id")
    def keys_revoke(config_file: Path | None, data_dir: Path | None, database_url: str | None,
                    key_id: str) -> None:
        """Revoke an API key by its id (takes effect at once)."""
        from fakescope.service.keys import parse_token, revoke_key

        db = _database(_settings(config_file, data_dir=data_dir, database_url=database_url))
        key_id = parse_token(key_id) or key_id  # a whole key works too
        if not revoke_key(db, key_id):
            fail(f"no active key with id {key_id}", EXIT_USAGE)
        click.echo(f"revoked {key_id}")
