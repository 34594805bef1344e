"""The REST API end to end, on SQLite and PostgreSQL: upload, poll, report, list, delete,
limits, auth, callbacks, audit and metrics."""

from __future__ import annotations

import http.server
import io
import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from fakescope.report.schema import ScanReport
from fakescope.service.keys import create_key, revoke_key
from fakescope.store.models import ApiKey, AuditEvent, Scan

from .conftest import FakeClock, FastScanner, raw_upload_scope, upload, wait_final


def _blob_dir(tmp_path: Path, scan_id: str) -> Path:
    return tmp_path / "data" / "blobs" / "scans" / scan_id


def test_round_trip(make_client, jpeg_bytes: bytes, tmp_path: Path) -> None:
    c = make_client()
    r = upload(c, jpeg_bytes, "my photo.jpg")
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] in ("queued", "running")
    assert r.headers["location"] == f"/v1/scans/{body['id']}"
    import hashlib

    assert body["sha256"] == hashlib.sha256(jpeg_bytes).hexdigest()

    done = wait_final(c, body["id"])
    assert done["status"] == "done"
    report = ScanReport.model_validate(done["report"])  # the pipeline's own schema
    assert report.file == "my photo.jpg"
    assert report.sha256 == body["sha256"]
    assert report.verdict in ("fake", "real", "inconclusive")
    assert done["verdict"] == report.verdict and done["score"] == report.score
    assert len(report.faces) == 1
    x0, y0, x1, y1 = report.faces[0].box
    assert 150 < x0 < x1 < 300 and 60 < y0 < y1 < 200  # the astronaut's face

    html = c.get(f"/v1/scans/{body['id']}/report.html")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "my photo.jpg" in html.text and report.verdict.upper() in html.text
    assert "default-src 'none'" in html.headers["content-security-policy"]

    img = c.get(f"/v1/scans/{body['id']}/image")
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(img.content)).size == (512, 512)
    heat = c.get(f"/v1/scans/{body['id']}/heatmap.png")
    assert heat.status_code == 200
    alpha = np.asarray(Image.open(io.BytesIO(heat.content)))[..., 3]
    assert alpha.shape == (512, 512)
    # Painted over the face, transparent elsewhere.
    assert alpha[int(y0) + 10:int(y1) - 10, int(x0) + 10:int(x1) - 10].mean() > 50
    assert alpha[400:, :100].max() == 0


def test_raw_body_upload_and_unknown_scan(make_client, jpeg_bytes: bytes) -> None:
    c = make_client(scanner=FastScanner())
    r = c.post("/v1/scans?filename=raw.jpg", content=jpeg_bytes, headers={"content-type": "image/jpeg"})
    assert r.status_code == 202, r.text
    assert wait_final(c, r.json()["id"])["report"]["file"] == "raw.jpg"
    assert c.get("/v1/scans/0123456789abcdef").status_code == 404
    assert c.get("/v1/scans/0123456789abcdef/report.html").status_code == 404


def _insert(svc: Any, clock: FakeClock, n: int, verdicts: list[str]) -> list[str]:
    from fakescope.service.core import new_scan_id

    ids = []
    with svc.db.write() as s:
        for i in range(n):
            now = clock()
            sid = new_scan_id(now)
            s.add(Scan(id=sid, created_at=now, expires_at=now + timedelta(days=30), status="done",
                       filename=f"f{i}.jpg", size_bytes=1, sha256="0" * 64, media_type="image",
                       verdict=verdicts[i % len(verdicts)], score=0.5, attempts=1, callback_attempts=0))
            ids.append(sid)
    return ids


def test_list_paging_and_filters(make_client) -> None:
    clock = FakeClock()
    c = make_client(start_workers=False, clock=clock)
    svc = c.app.state.service
    ids = _insert(svc, clock, 7, ["fake", "real", "inconclusive"])

    seen, cursor = [], None
    for _ in range(10):
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = c.get("/v1/scans", params=params).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))  # newest first, each exactly once

    fakes = c.get("/v1/scans", params={"verdict": "fake"}).json()["items"]
    assert [i["id"] for i in fakes] == [ids[6], ids[3], ids[0]]
    both = c.get("/v1/scans", params={"verdict": "fake,real"}).json()["items"]
    assert len(both) == 5
    since = svc.db.read
    with since() as s:
        t3 = s.get(Scan, ids[3]).created_at
    recent = c.get("/v1/scans", params={"since": t3.isoformat() + "Z"}).json()["items"]
    assert {i["id"] for i in recent} == set(ids[3:])
    assert c.get("/v1/scans", params={"status": "queued"}).json()["items"] == []
    assert c.get("/v1/scans", params={"cursor": "not-a-cursor!"}).status_code == 400
    assert c.get("/v1/scans", params={"since": "yesterday"}).status_code == 400


def test_delete_removes_report_and_every_blob(make_client, jpeg_bytes: bytes, tmp_path: Path) -> None:
    c = make_client()
    sid = upload(c, jpeg_bytes).json()["id"]
    assert wait_final(c, sid)["status"] == "done"
    folder = _blob_dir(tmp_path, sid)
    assert sorted(p.name for p in folder.iterdir()) == ["heatmaps.npz", "preview.jpg", "upload.jpg"]
    assert c.delete(f"/v1/scans/{sid}").status_code == 204
    assert not folder.exists()
    assert c.get(f"/v1/scans/{sid}").status_code == 404
    assert c.delete(f"/v1/scans/{sid}").status_code == 404
    with c.app.state.service.db.read() as s:
        assert s.get(Scan, sid) is None


def test_upload_limits(make_client, jpeg_bytes: bytes, tmp_path: Path) -> None:
    c = make_client(max_upload_mb=0.01, scanner=FastScanner())  # 10 KiB, the photo is ~40 KiB
    assert len(jpeg_bytes) > 20_000
    r = upload(c, jpeg_bytes)
    assert r.status_code == 413 and "limit" in r.json()["detail"]

    # Without a Content-Length (chunked): refused while streaming, at the cap.
    def chunks():  # type: ignore[no-untyped-def]
        for i in range(0, len(jpeg_bytes), 4096):
            yield jpeg_bytes[i:i + 4096]

    r = c.post("/v1/scans?filename=x.jpg", content=chunks(), headers={"content-type": "image/jpeg"})
    assert r.status_code == 413

    r = c.post("/v1/scans", files={"file": ("notes.jpg", b"just some text, not a photo", "image/jpeg")})
    assert r.status_code == 415 and "text" in r.json()["detail"]
    r = c.post("/v1/scans", files={"file": ("empty.jpg", b"", "image/jpeg")})
    assert r.status_code == 400
    r = c.post("/v1/scans", files={"other": ("a.jpg", jpeg_bytes[:5000], "image/jpeg")})
    assert r.status_code == 400
    staging = tmp_path / "data" / "blobs" / ".staging"
    assert list(staging.iterdir()) == []  # refused uploads leave nothing behind
    assert c.get("/v1/scans").json()["items"] == []
    metrics = c.get("/metrics").text
    assert 'fakescope_uploads_rejected_total{reason="too_large"} 2.0' in metrics
    assert 'fakescope_uploads_rejected_total{reason="not_media"} 1.0' in metrics


def test_auth_keys_and_rate_limit(make_client, jpeg_bytes: bytes) -> None:
    c = make_client(auth="required", scanner=FastScanner())
    svc = c.app.state.service
    a = create_key(svc.db, "a", rate_per_min=2)
    b = create_key(svc.db, "b")
    admin = create_key(svc.db, "ops", admin=True)
    ha, hb = {"Authorization": f"Bearer {a.token}"}, {"X-API-Key": b.token}

    assert c.get("/healthz").status_code == 200
    assert c.get("/v1/info").json()["auth_required"] is True
    r = c.get("/v1/scans")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert c.get("/v1/scans", headers={"Authorization": "Bearer fsk_nope_nope"}).status_code == 401
    assert c.get("/v1/scans", headers={"Authorization": f"Bearer {a.token}x"}).status_code == 401
    assert upload(c, jpeg_bytes).status_code == 401

    sid = upload(c, jpeg_bytes, headers=ha).json()["id"]
    assert wait_final(c, sid, ha)["status"] == "done"
    # Another key's scan is invisible (404, like a missing one); an admin key sees it.
    assert c.get(f"/v1/scans/{sid}", headers=hb).status_code == 404
    assert c.delete(f"/v1/scans/{sid}", headers=hb).status_code == 404
    assert c.get("/v1/scans", headers=hb).json()["items"] == []
    assert c.get(f"/v1/scans/{sid}", headers={"X-API-Key": admin.token}).status_code == 200

    # Key a may upload 2 a minute: the second passes, the third is refused with Retry-After.
    assert upload(c, jpeg_bytes, headers=ha).status_code == 202
    r = upload(c, jpeg_bytes, headers=ha)
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 30
    assert upload(c, jpeg_bytes, headers=hb).status_code == 202  # buckets are per key

    with svc.db.read() as s:
        stored = {k.id: k.secret_sha256 for k in s.scalars(select(ApiKey))}
    assert a.token not in json.dumps(stored) and len(stored[a.id]) == 64

    assert revoke_key(svc.db, b.id)
    assert c.get("/v1/scans", headers=hb).status_code == 401


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    event = threading.Event()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        type(self).event.set()
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_callback_posts_the_finished_scan(make_client, jpeg_bytes: bytes) -> None:
    _Receiver.received, _Receiver.event = [], threading.Event()
    server = http.server.HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        c = make_client(scanner=FastScanner(), callback_allow_private=True, callback_secret="s3cret")
        url = f"http://127.0.0.1:{server.server_port}/hook"
        sid = upload(c, jpeg_bytes, callback_url=url).json()["id"]
        assert _Receiver.event.wait(30), "no callback arrived"
        headers, body = _Receiver.received[0]
        payload = json.loads(body)
        assert payload["id"] == sid and payload["status"] == "done" and payload["report"]["verdict"] == "real"
        import hashlib
        import hmac

        sig = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        assert headers["x-fakescope-signature"] == f"sha256={sig}"
        svc = c.app.state.service
        for _ in range(50):
            with svc.db.read() as s:
                if s.get(Scan, sid).callback_state == "sent":
                    break
            import time

            time.sleep(0.1)
        with svc.db.read() as s:
            assert s.get(Scan, sid).callback_state == "sent"
    finally:
        server.shutdown()


def test_callback_url_is_checked(make_client, jpeg_bytes: bytes) -> None:
    c = make_client(scanner=FastScanner())
    # The last one (found by schemathesis) is no valid host name: it used to be a 500.
    for bad in ("file:///etc/passwd", "ftp://example.org/x", "http://127.0.0.1:9/x",
                "http://user:pw@example.org/", "http://\x9b\U00082e97u/hook", "http://[::1/hook",
                "http://example.org:99999/hook"):
        r = upload(c, jpeg_bytes, callback_url=bad)
        assert r.status_code == 422, bad
        raw = c.post("/v1/scans", params={"filename": "a.jpg", "callback_url": bad}, content=jpeg_bytes,
                     headers={"content-type": "image/jpeg"})
        assert raw.status_code == 422, bad
    # In the query string beside a multipart body it is checked too (it was ignored).
    r = c.post("/v1/scans", params={"callback_url": "ftp://example.org/x"},
               files={"file": ("a.jpg", jpeg_bytes, "image/jpeg")})
    assert r.status_code == 422
    assert c.get("/v1/scans").json()["items"] == []


def test_audit_log_records_who_did_what_without_media(make_client, jpeg_bytes: bytes) -> None:
    c = make_client(auth="required", scanner=FastScanner())
    svc = c.app.state.service
    k = create_key(svc.db, "newsroom")
    h = {"Authorization": f"Bearer {k.token}"}
    sid = upload(c, jpeg_bytes, "secret-source.jpg", headers=h).json()["id"]
    wait_final(c, sid, h)
    c.get(f"/v1/scans/{sid}", headers=h)  # deduplicated: a poll loop is one view
    c.get(f"/v1/scans/{sid}/report.html", headers=h)
    c.delete(f"/v1/scans/{sid}", headers=h)
    with svc.db.read() as s:
        events = list(s.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    actions = [(e.key_id, e.action, e.scan_id) for e in events if e.scan_id == sid]
    assert actions == [(k.id, "scan.create", sid), (k.id, "scan.view", sid),
                       (k.id, "scan.view_html", sid), (k.id, "scan.delete", sid)]
    text = " ".join(f"{e.action} {e.detail}" for e in events)
    assert "secret-source" not in text


def test_retention_purges_with_a_fake_clock(make_client, jpeg_bytes: bytes, tmp_path: Path) -> None:
    clock = FakeClock()
    c = make_client(scanner=FastScanner(), clock=clock, retention_days=30)
    svc = c.app.state.service
    old = upload(c, jpeg_bytes).json()["id"]
    wait_final(c, old)
    clock.advance(days=29)
    young = upload(c, jpeg_bytes).json()["id"]
    wait_final(c, young)
    orphan = _blob_dir(tmp_path, "0" * 12 + "deadbeefdeadbeef")
    orphan.mkdir(parents=True)
    (orphan / "upload.jpg").write_bytes(b"left by a crash")

    clock.advance(days=1, hours=1)
    assert svc.purge() == 1
    assert c.get(f"/v1/scans/{old}").status_code == 404
    assert not _blob_dir(tmp_path, old).exists() and not orphan.exists()
    assert c.get(f"/v1/scans/{young}").status_code == 200 and _blob_dir(tmp_path, young).exists()
    with svc.db.read() as s:
        purge = s.scalars(select(AuditEvent).where(AuditEvent.action == "scan.purge")).all()
    assert [(e.scan_id, e.key_id) for e in purge] == [(old, None)]
    assert "fakescope_scans_purged_total 1.0" in c.get("/metrics").text


def test_metrics_endpoint(make_client, jpeg_bytes: bytes) -> None:
    c = make_client()
    sid = upload(c, jpeg_bytes).json()["id"]
    report = wait_final(c, sid)["report"]
    text = c.get("/metrics").text
    assert ('fakescope_http_request_duration_seconds_count{method="POST",route="/v1/scans",status="202"} 1.0'
            in text)
    assert 'route="/v1/scans/{scan_id}",status="200"' in text
    assert 'fakescope_queue_depth{status="queued"} 0.0' in text
    assert f'fakescope_scans_total{{media_type="image",verdict="{report["verdict"]}"}} 1.0' in text
    assert 'fakescope_analyzer_duration_seconds_count{analyzer="face-forgery"} 1.0' in text
    assert "fakescope_scan_duration_seconds_count 1.0" in text


def test_with_keys_on_metrics_need_a_key_and_readyz_hides_error_text(make_client) -> None:
    """Issue 18: bound to 0.0.0.0 with keys on, /metrics and /readyz's worker errors were public."""
    c = make_client(auth="required", scanner=FastScanner())
    svc = c.app.state.service
    key = create_key(svc.db, "ops")
    assert c.get("/metrics").status_code == 401
    assert c.get("/metrics", headers={"Authorization": f"Bearer {key.token}"}).status_code == 200
    svc.pool._errors.append("worker 0: OSError: [Errno 13] Permission denied: '/srv/secret/blobs'")
    body = c.get("/readyz").json()
    assert "/srv/secret" not in str(body) and body["errors"] == ["1 worker error(s); see the server log"]
    local = make_client(scanner=FastScanner())  # keys off: the local user sees the text
    local.app.state.service.pool._errors.append("worker 0: OSError: disk full")
    assert local.get("/readyz").json()["errors"] == ["worker 0: OSError: disk full"]


def test_made_up_methods_do_not_grow_metrics(make_client) -> None:
    """Issue 18: each invented HTTP method used to become a label value (13k series from 1k requests)."""
    c = make_client(scanner=FastScanner())
    for k in range(50):
        assert c.request(f"X{k}FOO", "/v1/scans").status_code in (400, 405)
    text = c.get("/metrics").text
    assert "X7FOO" not in text
    assert 'method="other",route="/v1/scans",status="405"} 50.0' in text


def test_health_openapi_and_ui(make_client) -> None:
    c = make_client(scanner=FastScanner())
    assert c.get("/healthz").json() == {"status": "ok"}
    ready = c.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {
        "database": True, "blob_store": True, "workers": True}
    spec = c.get("/openapi.json").json()
    assert {"/v1/scans", "/v1/scans/{scan_id}", "/v1/scans/{scan_id}/report.html", "/healthz",
            "/readyz", "/metrics"} <= set(spec["paths"])
    assert "multipart/form-data" in spec["paths"]["/v1/scans"]["post"]["requestBody"]["content"]
    # Authorisation is declared, so tools can check it; errors are JSON wherever they come from.
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["apiKey"]["in"] == "header" and schemes["apiKey"]["name"] == "X-API-Key"
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            keyed = path.startswith(("/v1/scans", "/v1/watches", "/v1/reviews", "/v1/people")) or \
                path == "/metrics"
            assert (op.get("security") == [{"bearer": []}, {"apiKey": []}]) == keyed, (method, path)
            if keyed:
                assert "401" in op["responses"], (method, path)
            for code, answer in op["responses"].items():
                if code.startswith(("4", "5")) and answer.get("content"):
                    assert list(answer["content"]) == ["application/json"], (method, path, code)
    assert "400" in spec["paths"]["/v1/scans"]["get"]["responses"]  # a bad cursor or since
    # A path served by several routes lists every method it takes (Starlette named one).
    assert c.options("/v1/scans/abc").headers["allow"] == "DELETE, GET"
    assert c.put("/v1/scans").headers["allow"] == "GET, POST"
    assert c.get("/v1/scans", params={"until": ""}).status_code == 400  # empty is not a time
    assert c.get("/docs").status_code == 404  # Swagger UI would load scripts from a CDN
    page = c.get("/")
    assert page.status_code == 200 and "/ui/app.js" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert c.get("/ui/app.js").status_code == 200
    assert "access-control-allow-origin" not in c.get(
        "/v1/info", headers={"Origin": "https://elsewhere.example"}).headers  # CORS off


def test_cors_when_configured(make_client) -> None:
    c = make_client(scanner=FastScanner(), cors_origins=["https://newsroom.example"])
    r = c.get("/v1/info", headers={"Origin": "https://newsroom.example"})
    assert r.headers["access-control-allow-origin"] == "https://newsroom.example"
    r = c.get("/v1/info", headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize("keep", [False, True])
def test_face_crops_only_when_the_operator_turns_them_on(make_client, jpeg_bytes: bytes,
                                                         tmp_path: Path, keep: bool) -> None:
    c = make_client(keep_face_crops=keep)
    sid = upload(c, jpeg_bytes).json()["id"]
    wait_final(c, sid)
    html = c.get(f"/v1/scans/{sid}/report.html").text
    assert ("alt='aligned face'" in html) is keep
    # What is stored: the upload and the evidence maps; no face pixels.
    z = np.load(_blob_dir(tmp_path, sid) / "heatmaps.npz")
    # Per face its small map and alignment; per whole-picture analyzer a coarse map (the
    # generated-image evidence, the local-edit localization).
    assert sorted(z.files) == ["heat0", "image_heat0", "image_heat1", "image_source0", "image_source1",
                               "matrix0", "meta0"]
    assert max(z["heat0"].shape) <= 32 and z["matrix0"].shape == (2, 3)
    assert max(z["image_heat0"].shape) <= 256 and max(z["image_heat1"].shape) <= 256
    assert {str(z["image_source0"]), str(z["image_source1"])} == {"generated", "local-edit"}
    assert "where a region looks edited" in html


def test_without_keys_other_host_names_are_refused(make_client) -> None:  # type: ignore[no-untyped-def]
    """DNS rebinding: a page on attacker.example that re-points its name at 127.0.0.1 reads
    and deletes scans "same-origin" — unless its Host header gives it away."""
    c = make_client(scanner=FastScanner())
    for host in ("localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000"):
        assert c.get("/v1/scans", headers={"host": host}).status_code == 200, host
    r = c.get("/v1/scans", headers={"host": "attacker.example:8000"})
    assert r.status_code == 400 and "attacker.example" in r.json()["detail"]
    assert c.delete("/v1/scans/x", headers={"host": "attacker.example"}).status_code == 400
    named = make_client(scanner=FastScanner(), allowed_hosts="fakescope.lan")
    assert named.get("/v1/scans", headers={"host": "fakescope.lan:8000"}).status_code == 200


def test_without_keys_cross_site_writes_are_refused(make_client, jpeg_bytes: bytes) -> None:  # type: ignore[no-untyped-def]
    """An HTML form or a text/plain fetch on any site can POST without a preflight."""
    c = make_client(scanner=FastScanner(), cors_origins="https://app.example")
    files = {"file": ("a.jpg", jpeg_bytes, "image/jpeg")}
    for headers in ({"origin": "https://evil.example"}, {"origin": "null"}, {"sec-fetch-site": "cross-site"}):
        r = c.post("/v1/scans", files=files, headers=headers)
        assert r.status_code == 403 and "cross-site" in r.json()["detail"], headers
        assert c.delete("/v1/scans/x", headers=headers).status_code == 403
    assert c.get("/v1/scans", headers={"origin": "https://evil.example"}).status_code == 200  # reads: CORS
    for headers in ({"origin": "http://localhost"}, {"origin": "https://app.example"},
                    {"sec-fetch-site": "same-origin"}, {}):
        assert c.post("/v1/scans", files=files, headers=headers).status_code == 202, headers
    # Media is never sent as text or as a URL-encoded form: those bodies are refused outright.
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "text/plain; charset=utf-8"):
        r = c.post("/v1/scans?filename=a.jpg", content=jpeg_bytes, headers={"content-type": ctype})
        assert r.status_code == 415 and "not an upload" in r.json()["detail"], ctype
    assert len(c.get("/v1/scans").json()["items"]) == 4


def test_with_keys_the_browser_guard_stands_aside(make_client) -> None:  # type: ignore[no-untyped-def]
    c = make_client(auth="required", scanner=FastScanner())
    key = create_key(c.app.state.service.db, "a")
    h = {"Authorization": f"Bearer {key.token}", "host": "scans.example.org", "origin": "https://ui.example"}
    assert c.get("/v1/scans", headers=h).status_code == 200
    assert c.delete("/v1/scans/nope", headers=h).status_code == 404


def test_pictures_are_not_decoded_again_for_every_request(make_client, jpeg_bytes: bytes,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A small file that decodes to a huge picture must not cost its decode per GET: the
    worker stores the preview once, and full decodes (report pages) wait for a slot."""
    from fakescope.service import render

    c = make_client()
    sid = c.post("/v1/scans", files={"file": ("a.jpg", jpeg_bytes, "image/jpeg")}).json()["id"]
    assert wait_final(c, sid)["status"] == "done"
    assert c.app.state.service.blobs.exists(render.preview_key(sid))
    decodes = []
    real_decode = render.decoded_rgb
    monkeypatch.setattr(render, "decoded_rgb", lambda *a: decodes.append(1) or real_decode(*a))
    for _ in range(3):
        img = c.get(f"/v1/scans/{sid}/image")
        assert img.status_code == 200 and Image.open(io.BytesIO(img.content)).size == (512, 512)
    assert decodes == []
    # A scan stored before previews were: decoded once, then served from the stored preview.
    c.app.state.service.blobs.delete(render.preview_key(sid))
    assert c.get(f"/v1/scans/{sid}/image").status_code == 200
    assert c.get(f"/v1/scans/{sid}/image").status_code == 200 and decodes == [1]
    # Every render slot taken (other report pages rendering): a clear 503, not a pile-up.
    monkeypatch.setattr(render, "RENDER_WAIT_S", 0.05)
    for _ in range(render.RENDER_SLOTS):
        render._render_slots.acquire()
    try:
        r = c.get(f"/v1/scans/{sid}/report.html")
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
    finally:
        for _ in range(render.RENDER_SLOTS):
            render._render_slots.release()
    assert c.get(f"/v1/scans/{sid}/report.html").status_code == 200


def _multipart(boundary: str, parts: list[tuple[str, bytes, dict[str, str]]]) -> bytes:
    out = b""
    for name, data, extra in parts:
        disp = f'form-data; name="{name}"' + ('; filename="a.jpg"' if name == "file" else "")
        head = f"Content-Disposition: {disp}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in extra.items())
        out += f"--{boundary}\r\n{head}\r\n".encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def test_the_whole_multipart_body_counts_against_the_limit(make_client, jpeg_bytes: bytes) -> None:
    """Fields and part headers are bounded too, not only the file part."""
    c = make_client(scanner=FastScanner(), max_upload_mb=(len(jpeg_bytes) + 1000) / 2**20)
    ctype = {"content-type": "multipart/form-data; boundary=XyZ"}
    file = ("file", jpeg_bytes, {"Content-Type": "image/jpeg"})
    # Thousands of tiny fields (the finding: 358,000 of them on a 2 MB limit).
    many = [file] + [(f"f{i}", b"x", {}) for i in range(100)]
    r = c.post("/v1/scans", content=_multipart("XyZ", many), headers=ctype)
    assert r.status_code == 400 and "form parts" in r.json()["detail"]
    # A few parts whose headers carry the bulk: the body's size gives them away.
    fat = [file] + [(f"f{i}", b"x", {"X-Pad": "p" * 7000}) for i in range(14)]
    r = c.post("/v1/scans", content=_multipart("XyZ", fat), headers=ctype)
    assert r.status_code == 413
    one_huge = [file, ("note", b"x", {"X-Pad": "p" * 9000})]
    r = c.post("/v1/scans", content=_multipart("XyZ", one_huge), headers=ctype)
    assert r.status_code == 400 and "header size" in r.json()["detail"]
    # The same file with a couple of ordinary fields is fine.
    ok = [file, ("callback_url", b"", {})]
    assert c.post("/v1/scans", content=_multipart("XyZ", ok), headers=ctype).status_code == 202


def test_a_stalled_upload_is_dropped_with_its_temporary_file(make_client, jpeg_bytes: bytes) -> None:
    """200 uploads that declared 100 MB and stopped after 1 KB used to hold their sockets,
    descriptors and temporary files for as long as the clients waited."""
    import asyncio
    import time

    c = make_client(scanner=FastScanner(), upload_idle_s=0.3)
    staging = c.app.state.service.blobs.staging_dir
    before = set(staging.iterdir())
    sent: list[dict[str, Any]] = []

    async def stalled_upload() -> None:
        chunks = [jpeg_bytes[:1024]]

        async def receive() -> dict[str, Any]:
            if chunks:
                return {"type": "http.request", "body": chunks.pop(), "more_body": True}
            await asyncio.sleep(3600)  # the client never sends the rest
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await asyncio.wait_for(c.app(raw_upload_scope(104857600), receive, send), 10)

    t0 = time.monotonic()
    asyncio.run(stalled_upload())
    assert time.monotonic() - t0 < 5
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))
    assert start["status"] == 408 and "stalled" in body["detail"]
    assert set(staging.iterdir()) == before  # its temporary file is gone


def test_a_callback_goes_to_the_address_that_was_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the name resolves to a public address when checked and to an internal
    one a moment later. The callback must go where the check looked."""
    import socket
    from types import SimpleNamespace

    from fakescope.jobs import callbacks

    answers = iter(["93.184.216.34"] + ["127.0.0.1"] * 10)

    def getaddrinfo(host: str, port: int, *a: Any, **k: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(callbacks.socket, "getaddrinfo", getaddrinfo)
    posted: list[tuple[str, dict[str, str], dict[str, Any]]] = []

    class Client:
        def post(self, url: str, *, content: bytes, headers: dict[str, str],
                 extensions: dict[str, Any]) -> Any:
            posted.append((url, headers, extensions))
            return SimpleNamespace(status_code=204)

    d = callbacks.CallbackDispatcher(None, lambda scan: {"id": scan.id})  # type: ignore[arg-type]
    scan = SimpleNamespace(id="s1", callback_url="https://hooks.example.org/fakescope?x=1")
    assert d._post(Client(), scan) is None  # type: ignore[arg-type]
    url, headers, ext = posted[0]
    assert url == "https://93.184.216.34/fakescope?x=1"
    assert headers["host"] == "hooks.example.org" and ext == {"sni_hostname": "hooks.example.org"}
    # Resolved once: the second (internal) answer was never used, nor let through.
    assert next(answers) == "127.0.0.1"
    monkeypatch.setattr(callbacks.socket, "getaddrinfo", lambda *a, **k: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", 443))])
    assert "non-public" in str(d._post(Client(), scan))  # type: ignore[arg-type]


def test_a_callback_by_name_reaches_the_receiver(make_client, jpeg_bytes: bytes) -> None:
    _Receiver.received, _Receiver.event = [], threading.Event()
    server = http.server.HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        c = make_client(scanner=FastScanner(), callback_allow_private=True)
        url = f"http://localhost:{server.server_port}/hook"
        upload(c, jpeg_bytes, callback_url=url)
        assert _Receiver.event.wait(30), "no callback arrived"
        headers, _ = _Receiver.received[0]
        assert headers["host"] == f"localhost:{server.server_port}"
    finally:
        server.shutdown()


def test_a_retried_upload_with_the_same_idempotency_key_makes_one_scan(make_client,
                                                                       jpeg_bytes: bytes) -> None:
    """A client that lost the connection after its upload was recorded retries safely."""
    clock = FakeClock()
    c = make_client(auth="required", scanner=FastScanner(), clock=clock)
    svc = c.app.state.service
    # Rate 2: the upload and the conflicting one below pay, the retry does not.
    a, b = create_key(svc.db, "a", rate_per_min=2), create_key(svc.db, "b")
    ha = {"Authorization": f"Bearer {a.token}", "Idempotency-Key": "job-42"}
    first = upload(c, jpeg_bytes, headers=ha)
    assert first.status_code == 202 and "idempotent-replayed" not in first.headers
    # The retry: same key, same file -> the same scan, and it does not spend the key's rate.
    again = upload(c, jpeg_bytes, headers=ha)
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert len(c.get("/v1/scans", headers=ha).json()["items"]) == 1
    # The same key for different content is a client bug, said so.
    other = jpeg_bytes[:-2] + b"\x00\xd9"
    r = upload(c, other, headers={**ha})
    assert r.status_code == 422 and "different upload" in r.json()["detail"]
    # Keys are per caller: b's "job-42" is b's own.
    hb = {"Authorization": f"Bearer {b.token}", "Idempotency-Key": "job-42"}
    b_first = upload(c, jpeg_bytes, headers=hb).json()["id"]
    assert b_first != first.json()["id"]
    # After 24 hours the key is forgotten: a new upload makes a new scan.
    clock.advance(hours=25)
    late = upload(c, jpeg_bytes, headers=hb)
    assert late.status_code == 202 and late.json()["id"] != b_first
    assert "idempotent-replayed" not in late.headers
    for bad in ("with space", "tab\there", "x" * 256):
        assert upload(c, jpeg_bytes, headers={**hb, "Idempotency-Key": bad}).status_code in (400, 422), bad


def test_a_storage_outage_is_a_temporary_failure(make_client, jpeg_bytes: bytes,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """With the blob store down, queued scans used to fail for good (showing a server path)
    and uploads got a plain-text 500; nothing retried once the store came back."""
    import time

    from fakescope.jobs import worker
    from fakescope.store.blobs import BlobStore, _outage

    monkeypatch.setattr(worker, "STORE_RETRY_BASE_S", 0.2)
    down = {"read": False, "write": False}
    secret = "/srv/fakescope/secret-path"
    real_local, real_put = BlobStore.local_file, BlobStore._put_file

    def local_file(self: BlobStore, key: str, suffix: str = "") -> Any:
        if down["read"]:
            with _outage("read a file"):
                raise PermissionError(13, "Permission denied", secret)
        return real_local(self, key, suffix)

    def put_file(self: BlobStore, key: str, local: Path) -> None:
        if down["write"]:
            raise PermissionError(13, "Permission denied", secret)
        real_put(self, key, local)

    monkeypatch.setattr(BlobStore, "local_file", local_file)
    monkeypatch.setattr(BlobStore, "_put_file", put_file)
    c = make_client()
    # Uploads while the store cannot be written: JSON 503 with Retry-After, no path.
    down["write"] = True
    r = upload(c, jpeg_bytes)
    assert r.status_code == 503 and r.headers["retry-after"] == "30"
    assert "blob store" in r.json()["detail"] and secret not in r.text
    assert c.get("/v1/scans").json()["items"] == []
    monkeypatch.setattr(BlobStore, "writable", lambda self: not down["write"])
    ready = c.get("/readyz")
    assert ready.status_code == 503 and any("blob store" in x for x in ready.json()["reasons"])
    down["write"] = False
    assert c.get("/readyz").status_code == 200
    # Scans queued while the store cannot be read wait and retry; they do not fail.
    down["read"] = True
    sid = upload(c, jpeg_bytes).json()["id"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        body = c.get(f"/v1/scans/{sid}").json()
        if body.get("error"):
            break
        time.sleep(0.05)
    with c.app.state.service.db.read() as s:
        row = s.get(Scan, sid)
        assert row.status in ("queued", "running") and "unavailable" in (row.error or "")
        assert secret not in (row.error or "") and row.attempts <= 1
    time.sleep(1.0)  # several retries while it is down
    assert c.get(f"/v1/scans/{sid}").json()["status"] in ("queued", "running")
    down["read"] = False
    done = wait_final(c, sid, timeout=30)
    assert done["status"] == "done" and done["report"]["verdict"] in ("real", "fake", "inconclusive")


def test_previews_can_be_stored_with_the_faces_hidden(make_client, jpeg_bytes: bytes) -> None:
    from fakescope.faces.detector import get_detector

    for hide, faces in ((False, 1), (True, 0)):
        c = make_client(anonymize_previews=hide)
        sid = c.post("/v1/scans", files={"file": ("a.jpg", jpeg_bytes, "image/jpeg")}).json()["id"]
        assert wait_final(c, sid)["report"]["faces"], "the scan found the face"
        preview = np.asarray(Image.open(io.BytesIO(c.get(f"/v1/scans/{sid}/image").content)).convert("RGB"))
        assert len(get_detector().detect(preview)) == faces, hide


def test_a_database_outage_is_a_json_503(make_client, jpeg_bytes: bytes,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Every answer while the database is down is a JSON 503 with Retry-After (it was a
    plain-text 500), naming neither host nor SQL; nothing is left half-stored."""
    from contextlib import contextmanager

    from sqlalchemy.exc import OperationalError

    from fakescope.store.database import Database

    c = make_client(scanner=FastScanner())
    sid = upload(c, jpeg_bytes).json()["id"]
    wait_final(c, sid)

    @contextmanager
    def down(self: Database) -> Any:
        raise OperationalError("SELECT secret FROM scans", {}, Exception("db.internal:5432 refused"))
        yield  # pragma: no cover

    monkeypatch.setattr(Database, "read", down)
    monkeypatch.setattr(Database, "write", down)
    for r in (upload(c, jpeg_bytes), c.get("/v1/scans"), c.get(f"/v1/scans/{sid}"),
              c.delete(f"/v1/scans/{sid}")):
        assert r.status_code == 503 and r.headers["retry-after"] == "30", r.text
        assert "database is unavailable" in r.json()["detail"]
        assert "secret" not in r.text and "5432" not in r.text
    blobs = c.app.state.service.blobs
    assert blobs.list_prefixes("scans") == [sid]  # the refused upload left no blob behind
    monkeypatch.undo()
    assert c.get(f"/v1/scans/{sid}").json()["status"] == "done"
