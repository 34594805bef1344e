"""Reviews: a person records the truth about a scan, and a queue says what to look at.

Only keys with the ``reviewer`` role (``fakescope keys create --reviewer``), admin keys, or
anyone on a server without auth may record one, and only on scans they can see (the
tenant's own). The latest review of a scan counts; each is audited (who, which scan, the
label; never the note). A review lives and dies with its scan: deleting or purging the
scan deletes it. ``fakescope calibrate`` reads them (docs/feedback.md).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy import or_, select

from fakescope.service.api import Problem, Svc, Who, load_scan, problems
from fakescope.service.core import Service, iso
from fakescope.store.database import Database, utcnow
from fakescope.store.models import ROLES, KeyRole, Review, Scan

Label = Literal["fake", "real", "unsure"]
NOTE_MAX = 2000
QUEUE_MAX = 200
# Of the latest finished scans, how many the queue sorts (a deployment reviews recent media;
# each row's report is read to tell the disputed, so the window bounds the work per request).
QUEUE_WINDOW = 500


class ReviewIn(BaseModel):
    label: Label = Field(description="the reviewer's truth: fake, real, or unsure (look again)")
    note: str | None = Field(None, max_length=NOTE_MAX, description="why, in the reviewer's words")


class ReviewOut(BaseModel):
    scan_id: str
    label: Label
    note: str | None
    reviewer: str | None = Field(description="the reviewing API key's id (null: auth is off)")
    verdict: str | None = Field(description="the scan's verdict when it was reviewed")
    agrees: bool | None = Field(description="whether the label confirms that verdict (null: unsure, "
                                "or a verdict that is neither fake nor real)")
    created_at: str
    updated_at: str


class QueueItem(BaseModel):
    id: str
    filename: str
    media_type: str | None
    verdict: str | None
    score: float | None
    created_at: str
    why: Literal["inconclusive", "disputed", "unsure", "unreviewed"] = Field(
        description="inconclusive: no verdict either way; disputed: its kinds of evidence "
        "disagree; unsure: a reviewer asked for another look; unreviewed: the rest")
    review: Label | None = Field(description="the current review's label, if any")


class Queue(BaseModel):
    items: list[QueueItem]
    waiting: int = Field(description="scans in the queue among the latest finished ones")


# --- roles -------------------------------------------------------------------------------

def grant(db: Database, key_id: str, role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    with db.write() as s:
        if s.get(KeyRole, (key_id, role)) is None:
            s.add(KeyRole(key_id=key_id, role=role, granted_at=utcnow()))


def roles_of(db: Database, key_id: str) -> set[str]:
    with db.read() as s:
        return set(s.scalars(select(KeyRole.role).where(KeyRole.key_id == key_id)))


def may_review(svc: Service, who: Any) -> bool:
    return who.key_id is None or who.admin or "reviewer" in roles_of(svc.db, who.key_id)


# --- reviews -----------------------------------------------------------------------------

def agrees(label: str, verdict: str | None) -> bool | None:
    if label == "unsure" or verdict not in ("fake", "real"):
        return None
    return label == verdict


def review_resource(r: Review) -> dict[str, Any]:
    return {"scan_id": r.scan_id, "label": r.label, "note": r.note, "reviewer": r.reviewer_key_id,
            "verdict": r.verdict, "agrees": agrees(r.label, r.verdict),
            "created_at": iso(r.created_at), "updated_at": iso(r.updated_at)}


def record(svc: Service, scan: Scan, reviewer: str | None, label: str, note: str | None) -> Review:
    now = svc.clock()
    with svc.db.write() as s:
        row = s.get(Review, scan.id)
        if row is None:
            row = Review(scan_id=scan.id, owner_key_id=scan.key_id, created_at=now)
            s.add(row)
        row.reviewer_key_id, row.label, row.note = reviewer, label, note
        row.verdict, row.media_type, row.updated_at = scan.verdict, scan.media_type, now
        s.flush()
        s.expunge(row)
    svc.audit(reviewer, "review.record", scan.id, f"label={label}")
    svc.metrics.reviews.labels(scan.media_type or "unknown", scan.verdict or "none", label).inc()
    return row


def get(svc: Service, scan_id: str) -> Review | None:
    with svc.db.read() as s:
        row = s.get(Review, scan_id)
        if row is not None:
            s.expunge(row)
        return row


def _disputed(report: str | None) -> bool:
    """Its kinds of evidence disagree: one leans fake (0.5 or more), another real."""
    if not report:
        return False
    try:
        evidence = json.loads(report).get("evidence") or {}
    except ValueError:
        return False
    values = [v for v in evidence.values() if isinstance(v, int | float)]
    return bool(values) and max(values) >= 0.5 > min(values)


def queue(svc: Service, who: Any, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Finished scans to look at: the inconclusive, then the disputed, then those a
    reviewer was unsure of, then the rest unreviewed; newest first within each."""
    with svc.db.read() as s:
        q = (select(Scan, Review.label).outerjoin(Review, Review.scan_id == Scan.id)
             .where(Scan.status == "done", or_(Review.label.is_(None), Review.label == "unsure"))
             .order_by(Scan.created_at.desc()).limit(QUEUE_WINDOW))
        if not who.admin and who.key_id is not None:
            q = q.where(Scan.key_id == who.key_id)
        rows = list(s.execute(q))
    items = []
    for scan, label in rows:
        if label == "unsure":
            why, rank = "unsure", 2
        elif scan.verdict == "inconclusive":
            why, rank = "inconclusive", 0
        elif _disputed(scan.report):
            why, rank = "disputed", 1
        else:
            why, rank = "unreviewed", 3
        items.append((rank, -scan.created_at.timestamp(), {
            "id": scan.id, "filename": scan.filename, "media_type": scan.media_type,
            "verdict": scan.verdict, "score": scan.score, "created_at": iso(scan.created_at),
            "why": why, "review": label}))
    items.sort(key=lambda t: (t[0], t[1]))
    return [i for _, _, i in items[:limit]], len(items)


# --- routes ------------------------------------------------------------------------------

router = APIRouter(prefix="/v1", tags=["reviews"])
_NOT_REVIEWER = {403: {"description": "this API key may not review (it needs the reviewer role)",
                       "model": Problem}}


def _reviewer(svc: Svc, who: Who) -> Any:
    if not may_review(svc, who):
        raise HTTPException(403, "this API key may not review: an admin grants the reviewer role "
                                 "(fakescope keys create --reviewer, or fakescope keys grant KEY reviewer)")
    return who


Reviewer = Annotated[Any, Depends(_reviewer)]


@router.post("/scans/{scan_id}/review", response_model=ReviewOut,
             # 400: a body that is not JSON at all (FastAPI answers before validation)
             responses={**problems(400, 401, 404, 422, 503), **_NOT_REVIEWER,
                        409: {"description": "the scan has no report yet", "model": Problem}},
             summary="Record the truth about a scan")
async def post_review(scan_id: str, body: ReviewIn, svc: Svc, who: Reviewer) -> dict[str, Any]:
    """A reviewer's label for a finished scan (`fake`, `real` or `unsure`) with an optional
    note; a later review replaces it (both are audited). `fakescope calibrate` and
    `fakescope train … --feedback` learn from them."""
    scan = await run_in_threadpool(load_scan, svc, who, scan_id)
    if scan.status != "done":
        raise HTTPException(409, "the scan has no report yet: review it once it is done")
    row = await run_in_threadpool(record, svc, scan, who.key_id, body.label, body.note)
    return review_resource(row)


@router.get("/scans/{scan_id}/review", response_model=ReviewOut,
            responses=problems(401, 404, 503), summary="The scan's current review")
def get_review(scan_id: str, svc: Svc, who: Who) -> dict[str, Any]:
    load_scan(svc, who, scan_id)
    row = get(svc, scan_id)
    if row is None:
        raise HTTPException(404, "this scan has not been reviewed")
    return review_resource(row)


@router.get("/reviews/queue", response_model=Queue, responses={**problems(401, 422, 503), **_NOT_REVIEWER},
            summary="Scans to review, the inconclusive and the disputed first")
def get_queue(svc: Svc, who: Reviewer,
              limit: Annotated[int, Query(ge=1, le=QUEUE_MAX)] = 50) -> dict[str, Any]:
    items, waiting = queue(svc, who, limit)
    return {"items": items, "waiting": waiting}
