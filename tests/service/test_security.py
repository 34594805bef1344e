"""Findings of an outside test of the service (issue 32), each reproduced as it was found:
faces shown despite ``anonymize_previews``, an Idempotency-Key race, refusals that did
not count against the rate, 500s on odd input, a disconnect counted as a server error,
and the Host header reflected in redirects."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from fakescope.service.keys import create_key

from .conftest import raw_upload_scope, upload, wait_final

# -- anonymize_previews -----------------------------------------------------------------------


class GatedScanner:
    """The real scanner, held at the gate until the test opens it (the scan stays queued
    or running meanwhile)."""

    def __init__(self, scanner: Any) -> None:
        self._scanner = scanner
        self.gate = threading.Event()

    def scan(self, *a: Any, **kw: Any) -> Any:
        self.gate.wait(60)
        return self._scanner.scan(*a, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._scanner, name)


def faces_in(jpeg_or_png: bytes) -> int:
    from fakescope.faces.detector import get_detector

    rgb = np.asarray(Image.open(io.BytesIO(jpeg_or_png)).convert("RGB"))
    return len(get_detector().detect(rgb))


def faces_in_page(html: str) -> list[int]:
    """Faces the detector finds in each picture embedded in a report page."""
    return [faces_in(base64.b64decode(m)) for m in
            re.findall(r"data:image/(?:jpeg|png);base64,([A-Za-z0-9+/=]+)", html)]


@pytest.mark.parametrize("anonymize", [True, False])
def test_with_anonymize_previews_no_route_shows_a_found_face(make_client, explaining_scanner,  # type: ignore[no-untyped-def]
                                                              jpeg_bytes: bytes, anonymize: bool) -> None:
    from fakescope.service.render import preview_key

    scanner = GatedScanner(explaining_scanner)
    c = make_client(scanner=scanner, anonymize_previews=anonymize, keep_face_crops=True)
    sid = upload(c, jpeg_bytes).json()["id"]
    # Queued or running: nothing is decoded, shown or stored before the worker's preview.
    r = c.get(f"/v1/scans/{sid}/image")
    assert r.status_code == 409 and "with its report" in r.json()["detail"]
    assert not c.app.state.service.blobs.exists(preview_key(sid))
    scanner.gate.set()
    assert wait_final(c, sid)["report"]["faces"]
    expected = 0 if anonymize else 1
    assert faces_in(c.get(f"/v1/scans/{sid}/image").content) == expected
    page = c.get(f"/v1/scans/{sid}/report.html").text
    shown = faces_in_page(page)
    assert shown and (max(shown) == 0 if anonymize else max(shown) >= 1), shown
    # A scan stored before previews were: made on request, covered the same way.
    c.app.state.service.blobs.delete(preview_key(sid))
    assert faces_in(c.get(f"/v1/scans/{sid}/image").content) == expected


# -- Idempotency-Key and the rate ------------------------------------------------------------


def test_identical_uploads_at_once_with_one_idempotency_key_make_one_scan(  # type: ignore[no-untyped-def]
        make_client, jpeg_bytes: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four at once used to make three scans: each one's transaction deleted the key row the
    one before had just written. The blob store is slowed so that all four pass the first
    look-up before any is recorded."""
    import time

    from .conftest import FastScanner

    c = make_client(scanner=FastScanner())
    blobs = c.app.state.service.blobs
    real_put = blobs.put_file
    monkeypatch.setattr(blobs, "put_file", lambda *a, **kw: (time.sleep(0.5), real_put(*a, **kw))[1])
    answers: list[Any] = []

    def send() -> None:
        answers.append(upload(c, jpeg_bytes, headers={"Idempotency-Key": "same-job"}))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [r.status_code for r in answers] == [202] * 4, [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    assert sorted(r.headers.get("idempotent-replayed", "-") for r in answers) == ["-", "true", "true", "true"]
    assert len(c.get("/v1/scans").json()["items"]) == 1
    assert blobs.list_prefixes("scans") == [answers[0].json()["id"]]  # the others' files are gone


def test_refused_uploads_under_one_idempotency_key_count_against_the_rate(  # type: ignore[no-untyped-def]
        make_client, jpeg_bytes: bytes) -> None:
    """75 different files under one key were 75 answers of 422, each body read and hashed,
    never a 429: a retry is free only when it is one."""
    from .conftest import FastScanner

    c = make_client(auth="required", scanner=FastScanner())
    key = create_key(c.app.state.service.db, "k", rate_per_min=5)
    h = {"Authorization": f"Bearer {key.token}", "Idempotency-Key": "job-1"}
    assert upload(c, jpeg_bytes, headers=h).status_code == 202
    codes = [upload(c, jpeg_bytes[:-2] + bytes([i, 0xD9]), headers=h).status_code for i in range(10)]
    assert codes[:4] == [422] * 4 and set(codes[4:]) == {429}, codes
    assert upload(c, jpeg_bytes, headers=h).status_code == 429  # a true retry waits too, unread


# -- odd input -------------------------------------------------------------------------------


def test_odd_input_is_a_4xx_not_a_500(make_client) -> None:  # type: ignore[no-untyped-def]
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        source = f"udp://127.0.0.1:{s.getsockname()[1]}"
    c = make_client(live_sources=[source], live_allow_private=True)
    for body in (b'{"source": "%s", "window_s": NaN}', b'{"source": "%s", "every_s": Infinity}'):
        r = c.post("/v1/watches", content=body.replace(b"%s", source.encode()),
                   headers={"content-type": "application/json"})
        assert r.status_code == 422 and "finite" in r.text, r.text
    for since in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00"):
        r = c.get("/v1/scans", params={"since": since})
        assert r.status_code == 400 and "invalid time" in r.json()["detail"], r.text
    wid = c.post("/v1/watches", json={"source": source}).json()["id"]
    try:
        for bad in ("\u00b2".encode("latin-1"), b"9" * 5000, b"-1", b"1e3", b"null"):
            with c.stream("GET", f"/v1/watches/{wid}/events", headers={"Last-Event-ID": bad}) as r:
                assert r.status_code == 422, bad
        with c.stream("GET", f"/v1/watches/{wid}/events", params={"after": "9" * 5000}) as r:
            assert r.status_code == 422
    finally:
        c.delete(f"/v1/watches/{wid}")


def test_a_client_that_disconnects_mid_upload_is_not_a_server_error(  # type: ignore[no-untyped-def]
        make_client, jpeg_bytes: bytes, caplog: pytest.LogCaptureFixture) -> None:
    from .conftest import FastScanner

    c = make_client(scanner=FastScanner())
    svc = c.app.state.service
    staging = svc.blobs.staging_dir
    before = set(staging.iterdir())
    sent: list[dict[str, Any]] = []

    async def gone_midway() -> None:
        chunks = [{"type": "http.disconnect"}, {"type": "http.request", "body": jpeg_bytes[:2048],
                                                "more_body": True}]

        async def receive() -> dict[str, Any]:
            return chunks.pop()

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await asyncio.wait_for(c.app(raw_upload_scope(len(jpeg_bytes)), receive, send), 10)

    with caplog.at_level(logging.WARNING):
        asyncio.run(gone_midway())
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert set(staging.iterdir()) == before
    metrics = svc.metrics.render().decode()
    assert 'fakescope_uploads_rejected_total{reason="client_gone"} 1.0' in metrics
    assert 'status="500"' not in metrics


def test_redirects_never_carry_the_host_header(make_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    check = tmp_path / "check"
    check.mkdir()
    (check / "index.html").write_text("<!doctype html><title>check</title>")
    c = make_client(auth="required", check_dir=check)
    h = {"Authorization": f"Bearer {create_key(c.app.state.service.db, 'k').token}", "host": "evil.example"}
    for path, to in (("/check", "/check/"), ("/v1/scans/", "/v1/scans")):
        r = c.get(path, headers=h, follow_redirects=False)
        assert r.status_code in (301, 302, 307, 308), (path, r.status_code)
        assert r.headers["location"] == to, r.headers["location"]


def test_the_openapi_document_declares_the_new_refusals(make_client) -> None:  # type: ignore[no-untyped-def]
    paths = make_client().get("/openapi.json").json()["paths"]
    assert "409" in paths["/v1/scans/{scan_id}/image"]["get"]["responses"]
    assert "422" in paths["/v1/watches/{watch_id}/events"]["get"]["responses"]
    assert "/v1/watches/{watch_id}/stop" in paths
