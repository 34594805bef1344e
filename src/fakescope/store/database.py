"""The engine and sessions for SQLite (the embedded default) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from fakescope.errors import FakescopeError
from fakescope.store.models import SCHEMA_VERSION, Base, SchemaInfo


class DatabaseError(FakescopeError):
    code = "database"


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def normalise_url(url: str) -> str:
    """Accept the URLs people write (``postgresql://``, ``postgres://``) and pick psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def redact(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable database URL>"


class Database:
    """``write()`` and ``read()`` give sessions that commit on success and roll back on error."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalise_url(url)
        try:
            parsed = make_url(self.url)
        except Exception as exc:
            raise DatabaseError(f"cannot parse database URL {redact(url)}: {exc}") from exc
        self.dialect = parsed.get_backend_name()
        self._sqlite_file = parsed.database if self.dialect == "sqlite" and parsed.database not in (
            None, "", ":memory:") else None
        if self.dialect == "sqlite":
            self.engine: Engine = create_engine(
                self.url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30},
                pool_size=8, max_overflow=24,
            )
            _sqlite_pragmas(self.engine)
        elif self.dialect == "postgresql":
            self.engine = create_engine(self.url, echo=echo, pool_size=8, max_overflow=24,
                                        pool_pre_ping=True)
        else:
            raise DatabaseError(f"unsupported database {self.dialect!r}: use sqlite:/// or postgresql://")
        # SQLite upgrades a read transaction to a write lock lazily and then fails at once
        # (SQLITE_BUSY, no waiting) when another writer committed meanwhile; a write
        # transaction that starts with BEGIN IMMEDIATE waits for the lock instead.
        self._writer = sessionmaker(self.engine.execution_options(fakescope_write=True),
                                    expire_on_commit=False)
        self._reader = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        with self._writer.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader() as session:
            yield session

    def migrate(self) -> None:
        """Create the tables, or check that an existing database is one this code understands."""
        try:
            if self._sqlite_file:
                _private_sqlite_file(self._sqlite_file)
            Base.metadata.create_all(self.engine)
            with self.write() as s:
                info = s.get(SchemaInfo, 1)
                if info is None:
                    s.add(SchemaInfo(id=1, version=SCHEMA_VERSION, migrated_at=utcnow()))
                elif info.version > SCHEMA_VERSION:
                    raise DatabaseError(
                        f"the database has schema version {info.version}, newer than this "
                        f"fakescope's {SCHEMA_VERSION}: upgrade fakescope")
                elif info.version < SCHEMA_VERSION:
                    # 1 -> 2 added a table, which create_all above has made; steps that
                    # change existing tables go here.
                    info.version, info.migrated_at = SCHEMA_VERSION, utcnow()
        except DatabaseError:
            raise
        except Exception as exc:
            raise DatabaseError(f"cannot open database {redact(self.url)}: {exc}") from exc

    def schema_version(self) -> int | None:
        with self.read() as s:
            return s.scalar(select(SchemaInfo.version).where(SchemaInfo.id == 1))

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        self.engine.dispose()


def _private_sqlite_file(name: str) -> None:
    """The database holds every scan's file name, hash and report: owner-only (0600), as the
    uploads are. Created empty with that mode (SQLite takes an empty file as a new database,
    and gives its -wal and -shm files the database file's mode); an existing one is tightened."""
    import os
    from pathlib import Path

    path = Path(name).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if p.exists() and p.stat().st_mode & 0o077:
            p.chmod(0o600)


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        # Let SQLAlchemy emit BEGIN itself (see the "begin" hook below).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before the 202 that depends on it is sent.
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):  # type: ignore[no-untyped-def]
        immediate = conn.get_execution_options().get("fakescope_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
