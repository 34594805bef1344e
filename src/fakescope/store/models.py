"""Database tables. Times are naive UTC everywhere: SQLite has no time zones and mixing
aware and naive values between the two back ends is a classic source of off-by-hours bugs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Bump when a table changes; `Database.migrate` refuses a database written by a newer
# fakescope and upgrades an older one step by step.
SCHEMA_VERSION = 4  # 2: idempotency_keys; 3: reviews, key_roles; 4: people, person_templates
# (new tables: create_all makes them)

JOB_STATUSES = ("queued", "running", "done", "failed")
REVIEW_LABELS = ("fake", "real", "unsure")
ROLES = ("reviewer",)
FINAL_STATUSES = ("done", "failed")


class Base(DeclarativeBase):
    pass


class SchemaInfo(Base):
    __tablename__ = "fakescope_schema"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    migrated_at: Mapped[datetime] = mapped_column(DateTime)


class Scan(Base):
    """One accepted upload: the job (status, lease) and, once done, its report."""

    __tablename__ = "scans"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    status: Mapped[str] = mapped_column(String(16))
    key_id: Mapped[str | None] = mapped_column(String(40), index=True)

    filename: Mapped[str] = mapped_column(String(512))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str | None] = mapped_column(String(16))
    upload_key: Mapped[str | None] = mapped_column(String(512))
    heatmap_key: Mapped[str | None] = mapped_column(String(512))

    verdict: Mapped[str | None] = mapped_column(String(16))
    score: Mapped[float | None] = mapped_column(Float)
    report: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)

    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)

    callback_url: Mapped[str | None] = mapped_column(String(2048))
    callback_state: Mapped[str | None] = mapped_column(String(16))  # pending, sent, failed
    callback_attempts: Mapped[int] = mapped_column(Integer, default=0)
    callback_next_at: Mapped[datetime | None] = mapped_column(DateTime)
    callback_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_scans_status_created", "status", "created_at"),
        Index("ix_scans_created_id", "created_at", "id"),
        Index("ix_scans_callback", "callback_state", "callback_next_at"),
    )


class IdempotencyKey(Base):
    """An upload's ``Idempotency-Key``: the same key from the same caller within
    ``IDEMPOTENCY_TTL`` gets the scan it made the first time, not a second one."""

    __tablename__ = "idempotency_keys"

    owner: Mapped[str] = mapped_column(String(64), primary_key=True)  # API key id, or "anon"
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    scan_id: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class ApiKey(Base):
    """An API key: only the SHA-256 of the secret is kept; the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    rate_per_min: Mapped[int | None] = mapped_column(Integer)
    max_upload_bytes: Mapped[int | None] = mapped_column(BigInteger)
    admin: Mapped[bool] = mapped_column(Boolean, default=False)


class AuditEvent(Base):
    """Who did what to which scan, and when; never media, file names or report contents."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    key_id: Mapped[str | None] = mapped_column(String(40), index=True)
    action: Mapped[str] = mapped_column(String(32))
    scan_id: Mapped[str | None] = mapped_column(String(40), index=True)
    detail: Mapped[str | None] = mapped_column(String(200))


class KeyRole(Base):
    """A role an API key holds beyond scanning (``reviewer``: may record reviews)."""

    __tablename__ = "key_roles"

    key_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    granted_at: Mapped[datetime] = mapped_column(DateTime)


class Review(Base):
    """A reviewer's truth about one scan: the latest one counts (each is audited). It lives
    and dies with its scan: deleting or purging the scan deletes it."""

    __tablename__ = "reviews"

    scan_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner_key_id: Mapped[str | None] = mapped_column(String(40), index=True)  # the scan's tenant
    reviewer_key_id: Mapped[str | None] = mapped_column(String(40), index=True)
    label: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(2000))
    # what the scan said when it was reviewed: agreement is counted against it
    verdict: Mapped[str | None] = mapped_column(String(16))
    media_type: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class Person(Base):
    """A protected person (docs/people.md): a name, on what authority they were enrolled,
    and by whom. Their templates are ``PersonTemplate`` rows, encrypted."""

    __tablename__ = "people"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    note: Mapped[str] = mapped_column(String(2000))  # consent or authority: required
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    created_by: Mapped[str | None] = mapped_column(String(40))


class PersonTemplate(Base):
    """One face or voice vector of a protected person, AES-256-GCM encrypted with the
    operator's key (never stored in the clear); the associated data binds it to its person,
    id and modality. ``source`` is the enrolled file's name only."""

    __tablename__ = "person_templates"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32), ForeignKey("people.id"), index=True)
    modality: Mapped[str] = mapped_column(String(8))  # face, voice
    seq: Mapped[int] = mapped_column(Integer)  # order within the person's templates of this modality
    source: Mapped[str | None] = mapped_column(String(255))
    key_id: Mapped[str] = mapped_column(String(16))  # which key encrypted it (not the key)
    nonce: Mapped[bytes] = mapped_column(LargeBinary(16))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime)
