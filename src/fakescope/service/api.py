"""The versioned REST API (``/v1``), health checks and metrics."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import and_, or_, select

from fakescope import __version__
from fakescope.jobs.callbacks import CallbackURLError, check_callback_url
from fakescope.report.schema import ScanReport, Verdict
from fakescope.service.auth import Principal, principal
from fakescope.service.core import IdempotencyConflict, Service, scan_resource
from fakescope.service.metrics import CONTENT_TYPE
from fakescope.service.ratelimit import retry_after_header
from fakescope.service.uploads import ClientGone, receive_upload
from fakescope.store.blobs import StoreUnavailable
from fakescope.store.models import Scan

log = logging.getLogger("fakescope.service")


class Links(BaseModel):
    self: str
    report_html: str


class ScanSummary(BaseModel):
    id: str
    status: str = Field(description="queued, running, done (a report exists) or failed (none could be made)")
    filename: str = Field(description="the uploaded file's name")
    size_bytes: int
    sha256: str
    media_type: str | None
    verdict: Verdict | None
    score: float | None
    error: str | None = Field(description="why a failed job failed (a scan error is in the report)")
    created_at: str
    started_at: str | None
    finished_at: str | None
    expires_at: str = Field(description="when the upload and report are purged (retention)")
    links: Links


class ScanOut(ScanSummary):
    report: ScanReport | None = Field(description="the scan report (schema in docs/report-schema.md)")


class ScanPage(BaseModel):
    items: list[ScanSummary]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at the end")


class Info(BaseModel):
    version: str
    auth_required: bool
    max_upload_bytes: int
    rate_per_min: int
    retention_days: float
    keep_face_crops: bool
    workers: int
    live_watching: bool = Field(description="whether POST /v1/watches can start watches (the operator "
                                "allows some live sources)")


class Problem(BaseModel):
    detail: str | list[dict[str, Any]] = Field(
        description="what was wrong, in one sentence; for a request the schema refuses (422), "
        "the list of {loc, msg, type} that FastAPI gives")


_PROBLEM_WORDS = {400: "bad request", 401: "no valid API key", 403: "this API key may not do that",
                  404: "no such scan (or not yours)",
                  408: "the upload stalled", 409: "no report yet", 413: "larger than the upload limit",
                  415: "not media fakescope reads", 422: "invalid input", 429: "rate limit exceeded",
                  503: "temporarily unavailable (storage, database or busy renderers): retry after "
                       "Retry-After seconds"}


def problems(*codes: int, not_json: bool = False) -> dict[int | str, dict[str, Any]]:
    """Error answers as JSON ``Problem`` bodies. On a route whose success is HTML or an
    image (``not_json``) they are declared with an explicit media type: FastAPI would
    otherwise declare them in the success's media type."""
    if not_json:
        return {code: {"description": _PROBLEM_WORDS[code], "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}} for code in codes}
    return {code: {"description": _PROBLEM_WORDS[code], "model": Problem} for code in codes}


def get_service(request: Request) -> Service:
    return request.app.state.service


Svc = Annotated[Service, Depends(get_service)]
Who = Annotated[Principal, Depends(principal)]

router = APIRouter(prefix="/v1", tags=["scans"])
ops = APIRouter(tags=["operations"])

_CALLBACK_URL = {"type": "string", "pattern": "^(https?://[^/@\\s]+.*)?$", "maxLength": 2048,
                 "description": "http(s) URL that receives the finished scan as JSON (POST); "
                                "empty: none"}
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary", "minLength": 1,
                             "description": "the media file"},
                    "callback_url": _CALLBACK_URL,
                }}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary", "minLength": 1},
                                         "description": "the raw media; name it with ?filename="},
        },
    },
    "parameters": [
        {"name": "filename", "in": "query", "required": False, "schema": {"type": "string"},
         "description": "file name, for a raw (non-multipart) body"},
        {"name": "callback_url", "in": "query", "required": False, "schema": _CALLBACK_URL,
         "description": "as the form field, for a raw body"},
    ],
}


def load_scan(svc: Service, who: Principal, scan_id: str) -> Scan:
    with svc.db.read() as s:
        scan = s.get(Scan, scan_id)
    # Someone else's scan answers exactly like a missing one: ids must not be probeable.
    if scan is None or not who.can_see(scan.key_id):
        raise HTTPException(404, "no such scan")
    return scan


@router.post("/scans", status_code=202, response_model=ScanSummary, openapi_extra=_UPLOAD_BODY,
             responses=problems(400, 401, 408, 413, 415, 422, 429, 503),
             summary="Upload media to scan")
async def create_scan(request: Request, svc: Svc, who: Who,
                      idempotency_key: Annotated[str | None, Header(
                          alias="Idempotency-Key", min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$",
                          description="any unique string per upload (a UUID): a retry with the same "
                          "key and the same file within 24 h gets the first scan (header "
                          "`Idempotent-Replayed: true`), not a second one")] = None) -> JSONResponse:
    """Stores the upload, queues the scan and answers 202 with its id; poll
    `GET /v1/scans/{id}` (or pass `callback_url`) for the report. Refuses oversize uploads
    (413), files that are not media (415) and keys over their rate (429, with Retry-After)."""
    # A retry of an upload that was recorded does not spend the caller's rate, but is not
    # read either while the rate is spent: each one costs a body read and a hash.
    retry = idempotency_key is not None and await run_in_threadpool(
        svc.replayed, who.key_id, idempotency_key) is not None
    wait = (svc.limiter.peek if retry else svc.limiter.take)(who.bucket, who.rate_per_min)
    if wait > 0:
        raise _rate_limited(svc, who, wait)
    try:
        try:
            upload = await receive_upload(request, svc.blobs.staging_dir, who.max_upload_bytes,
                                          svc.settings.upload_idle_s)
        except OSError as exc:  # the staging folder (beside the store) cannot be written
            down = StoreUnavailable(f"the blob store is unavailable: cannot take uploads ({exc.strerror})")
            raise _store_down(down) from None
    except HTTPException as exc:
        reason = "client_gone" if isinstance(exc, ClientGone) else {
            413: "too_large", 415: "not_media", 408: "stalled", 503: "storage_unavailable"}.get(
            exc.status_code, "bad_request")
        svc.metrics.uploads_rejected.labels(reason).inc()
        raise
    try:
        callback = upload.fields.get("callback_url") or None
        if callback is not None:
            try:
                callback = await run_in_threadpool(
                    check_callback_url, callback, allow_private=svc.settings.callback_allow_private)
            except CallbackURLError as exc:
                raise HTTPException(422, str(exc)) from exc
        try:
            scan, replayed = await run_in_threadpool(svc.accept, upload, who.key_id, callback,
                                                     idempotency_key)
        except IdempotencyConflict as exc:
            # Not a retry after all: it pays for itself like any other upload.
            wait = svc.limiter.take(who.bucket, who.rate_per_min) if retry else 0.0
            if wait > 0:
                raise _rate_limited(svc, who, wait) from None
            raise HTTPException(422, str(exc)) from exc
        except StoreUnavailable as exc:
            svc.metrics.uploads_rejected.labels("storage_unavailable").inc()
            raise _store_down(exc) from None
        if retry and not replayed:
            svc.limiter.take(who.bucket, who.rate_per_min)  # the earlier scan was deleted since
    finally:
        upload.discard()  # a no-op once the store moved it
    headers = {"Location": f"/v1/scans/{scan.id}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(scan_resource(scan, with_report=False), status_code=202, headers=headers)


STORE_RETRY_AFTER_S = 30


def _rate_limited(svc: Service, who: Principal, wait: float) -> HTTPException:
    svc.metrics.uploads_rejected.labels("rate_limited").inc()
    return HTTPException(429, f"rate limit of {who.rate_per_min} uploads a minute exceeded",
                         headers={"Retry-After": retry_after_header(wait)})


def _store_down(exc: StoreUnavailable) -> HTTPException:
    """A storage outage is temporary: 503 with Retry-After, the reason without any path."""
    log.warning("upload refused: %s", exc)
    return HTTPException(503, f"{exc}: nothing was stored, retry later",
                         headers={"Retry-After": str(STORE_RETRY_AFTER_S)})


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, scan_id = raw.split("|", 1)
        return datetime.fromisoformat(when), scan_id
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise HTTPException(400, "invalid cursor") from exc


def _encode_cursor(scan: Scan) -> str:
    raw = f"{scan.created_at.isoformat()}|{scan.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _parse_time(value: str) -> datetime:
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if t.tzinfo is not None:
            from datetime import timezone

            # 9999-12-31T23:59:59-23:59 is past the last datetime once in UTC.
            t = t.astimezone(timezone.utc).replace(tzinfo=None)
    except (ValueError, OverflowError) as exc:
        raise HTTPException(400, f"invalid time {value[:64]!r}: use ISO 8601 within years 1-9999, "
                                 "e.g. 2025-01-31T12:00:00Z") from exc
    return t


@router.get("/scans", response_model=ScanPage, responses=problems(400, 401, 503),
            summary="List scans, newest first")
def list_scans(
    svc: Svc, who: Who,
    verdict: Annotated[str | None, Query(description="comma-separated, e.g. fake,inconclusive")] = None,
    status: Annotated[str | None, Query(description="comma-separated statuses")] = None,
    media_type: Annotated[str | None, Query(description="image, video or audio")] = None,
    since: Annotated[str | None, Query(description="created at or after (ISO 8601)",
                                       json_schema_extra={"format": "date-time"})] = None,
    until: Annotated[str | None, Query(description="created before (ISO 8601)",
                                       json_schema_extra={"format": "date-time"})] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    q = select(Scan)
    if not who.admin:
        q = q.where(Scan.key_id == who.key_id)
    if verdict:
        q = q.where(Scan.verdict.in_([v.strip() for v in verdict.split(",") if v.strip()]))
    if status:
        q = q.where(Scan.status.in_([v.strip() for v in status.split(",") if v.strip()]))
    if media_type:
        q = q.where(Scan.media_type == media_type)
    if since is not None:
        q = q.where(Scan.created_at >= _parse_time(since))
    if until is not None:
        q = q.where(Scan.created_at < _parse_time(until))
    if cursor:
        at, cid = _decode_cursor(cursor)
        q = q.where(or_(Scan.created_at < at, and_(Scan.created_at == at, Scan.id < cid)))
    q = q.order_by(Scan.created_at.desc(), Scan.id.desc()).limit(limit + 1)
    with svc.db.read() as s:
        rows = list(s.scalars(q))
    more = len(rows) > limit
    rows = rows[:limit]
    svc.audit(who.key_id, "scan.list", None, _filters(verdict, status, media_type, since, until),
              dedup=True)
    return {"items": [scan_resource(r, with_report=False) for r in rows],
            "next_cursor": _encode_cursor(rows[-1]) if more and rows else None}


def _filters(*values: str | None) -> str | None:
    text = ",".join(v for v in values if v)
    return text[:200] or None


@router.get("/scans/{scan_id}", response_model=ScanOut, responses=problems(401, 404, 503),
            summary="Status and, once done, the report")
def get_scan(scan_id: str, svc: Svc, who: Who) -> JSONResponse:
    scan = load_scan(svc, who, scan_id)
    if scan.report is not None:
        svc.audit(who.key_id, "scan.view", scan.id, dedup=True)
    return JSONResponse(scan_resource(scan))


@contextmanager
def _rendering() -> Iterator[None]:
    """A render slot, or 503 with Retry-After when every slot stays busy."""
    from fakescope.service.render import RenderBusy, render_slot

    try:
        with render_slot():
            yield
    except RenderBusy:
        raise HTTPException(503, "busy rendering other pages: retry shortly",
                            headers={"Retry-After": "5"}) from None


@router.get("/scans/{scan_id}/report.html", response_class=HTMLResponse,
            responses=problems(401, 404, 409, 503, not_json=True),
            summary="The self-contained HTML report")
def get_report_html(scan_id: str, svc: Svc, who: Who) -> HTMLResponse:
    from fakescope.jobs.worker import load_heatmaps, load_image_heatmaps
    from fakescope.service.render import decoded_rgb, faces_covered, fit_for_report, report_html

    scan = load_scan(svc, who, scan_id)
    if scan.report is None:
        raise HTTPException(409, f"the scan is {scan.status}: no report yet")
    report = ScanReport.model_validate_json(scan.report)
    anonymize = svc.settings.anonymize_previews
    # The whole render holds the decoded picture and its overlays: one slot for all of it.
    with _rendering():
        rgb = decoded_rgb(svc.blobs, scan)
        heatmaps, image_heatmaps = [], []
        stored = (svc.blobs.get_bytes(scan.heatmap_key) if rgb is not None and scan.heatmap_key
                  and svc.blobs.exists(scan.heatmap_key) else None)
        if stored is not None:
            heatmaps = load_heatmaps(stored)
        shown = report
        if rgb is not None:
            rgb, heatmaps, shown = fit_for_report(rgb, heatmaps, report)
            if anonymize:
                rgb = faces_covered(rgb, [f.box for f in shown.faces])
            if stored is not None:
                image_heatmaps = load_image_heatmaps(stored, *rgb.shape[:2])
        # Aligned crops would show the faces the picture covers: never with anonymize_previews.
        page = report_html(shown, rgb, heatmaps, face_crops=svc.settings.keep_face_crops and not anonymize,
                           title=f"fakescope report: {scan.filename}", image_heatmaps=image_heatmaps)
        del rgb
    svc.audit(who.key_id, "scan.view_html", scan.id, dedup=True)
    return HTMLResponse(page, headers={
        "Content-Security-Policy": "default-src 'none'; img-src data:; style-src 'unsafe-inline'",
        "Cache-Control": "private, no-store"})


@router.get("/scans/{scan_id}/image", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}, **problems(401, 404, 409, 503, not_json=True)},
            summary="The scanned picture (orientation applied, at most 1280 px), for drawing boxes; "
                    "once the scan is done")
def get_image(scan_id: str, svc: Svc, who: Who) -> Response:
    from fakescope.service.render import decoded_rgb, make_preview, preview_key

    scan = load_scan(svc, who, scan_id)
    key = preview_key(scan.id)
    if scan.media_type == "image" and svc.blobs.exists(key):
        jpeg = svc.blobs.get_bytes(key)
    else:
        if scan.media_type == "image" and scan.status != "done":
            # The worker stores the preview with the report (covered, when the operator asks);
            # one made here first could show a face it would cover, or replace its copy.
            raise HTTPException(409, f"the scan is {scan.status}: its picture is shown with its report")
        report = ScanReport.model_validate_json(scan.report) if scan.report else None
        with _rendering():
            rgb = decoded_rgb(svc.blobs, scan)
            if rgb is None:
                raise HTTPException(404, "no picture for this scan (not an image, or not decodable)")
            # A scan stored before previews were: made once, as the worker makes it.
            jpeg = make_preview(rgb, [f.box for f in report.faces] if report else [],
                                anonymize=svc.settings.anonymize_previews)
            del rgb
        svc.blobs.put_bytes(key, jpeg)
    svc.audit(who.key_id, "scan.view_media", scan.id, dedup=True)
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=300"})


@router.get("/scans/{scan_id}/heatmap.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}, **problems(401, 404, 503, not_json=True)},
            summary="The face heatmaps as a transparent overlay of /image")
def get_heatmap(scan_id: str, svc: Svc, who: Who) -> Response:
    from fakescope.jobs.worker import load_heatmaps
    from fakescope.service.render import heatmap_png

    scan = load_scan(svc, who, scan_id)
    if not scan.heatmap_key or not scan.report or not svc.blobs.exists(scan.heatmap_key):
        raise HTTPException(404, "no heatmaps for this scan")
    report = ScanReport.model_validate_json(scan.report)
    if report.media is None:
        raise HTTPException(404, "no heatmaps for this scan")
    png = heatmap_png(report.media.width, report.media.height,
                      load_heatmaps(svc.blobs.get_bytes(scan.heatmap_key)))
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})


@router.delete("/scans/{scan_id}", status_code=204, responses=problems(401, 404, 503),
               summary="Delete the report, the upload and every stored file of a scan")
def delete_scan(scan_id: str, svc: Svc, who: Who) -> Response:
    scan = load_scan(svc, who, scan_id)
    svc.delete_scan(scan, who.key_id)
    return Response(status_code=204)


@router.get("/info", response_model=Info, tags=["operations"], summary="What this server accepts")
def info(svc: Svc) -> dict[str, Any]:
    s = svc.settings
    return {"version": __version__, "auth_required": s.auth_required,
            "max_upload_bytes": s.max_upload_bytes, "rate_per_min": s.rate_per_min,
            "retention_days": s.retention_days, "keep_face_crops": s.keep_face_crops,
            "workers": s.workers, "live_watching": bool(s.live_sources) and s.live_max_watches > 0}


@ops.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@ops.get("/readyz", summary="Database, blob store and workers are usable",
         responses={503: {"description": "not ready"}})
def readyz(svc: Svc) -> JSONResponse:
    checks = {"database": svc.db.ping(), "blob_store": svc.blobs.writable(),
              "workers": svc.pool.n == 0 or svc.pool.ready}
    body: dict[str, Any] = {"status": "ready" if all(checks.values()) else "not ready", "checks": checks}
    why = {"database": "the database does not answer: uploads fail, queued scans wait",
           "blob_store": "the blob store cannot be written: uploads get 503, queued scans wait and retry",
           "workers": "not every worker has loaded its models"}
    if not all(checks.values()):
        body["reasons"] = [why[k] for k, ok in checks.items() if not ok]
    # Load balancers call this without a key: worker error text (exception messages, paths)
    # is shown only where keys are off, i.e. to the local user; otherwise the count.
    if svc.pool.errors:
        body["errors"] = (svc.pool.errors if not svc.settings.auth_required
                          else [f"{len(svc.pool.errors)} worker error(s); see the server log"])
    return JSONResponse(body, status_code=200 if all(checks.values()) else 503)


@ops.get("/metrics", summary="Prometheus metrics", response_class=Response,
         responses={200: {"content": {CONTENT_TYPE: {}}}, **problems(401, not_json=True)})
def metrics(svc: Svc, who: Who) -> Response:
    # With keys on, scrapes need one too (Prometheus: `authorization` in the scrape config):
    # the counters describe everyone's traffic.
    return Response(svc.metrics.render(), media_type=CONTENT_TYPE)

