"""Live checks in the service: which sources may be watched (server-side request forgery),
starting and stopping a watch over the API, its events as Server-Sent Events, the page."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from fakescope.errors import SourceNotAllowedError
from fakescope.live.policy import check_live_source

FFMPEG = shutil.which("ffmpeg")


# -- the source policy ----------------------------------------------------------------------


def test_nothing_is_watched_until_the_operator_lists_sources() -> None:
    with pytest.raises(SourceNotAllowedError, match="FAKESCOPE_LIVE_SOURCES"):
        check_live_source("rtsp://cams.example.org/a", [], allow_private=False, resolve=False)


@pytest.mark.parametrize("url", [
    "rtsp://cams.example.org.evil.test/a",        # a longer host name
    "rtsp://cams.example.org@evil.test/a",        # the allowed name as user info
    "rtsp://evil.test/cams.example.org/a",        # ... or in the path
    "rtsp://cams.example.org:8554/a",             # another port than the prefix's (default 554)
    "rtsps://cams.example.org/a",                 # another scheme
    "https://live.example.org/hlsx/index.m3u8",   # a path that only starts with the prefix's text
    "https://live.example.org/index.m3u8",
])
def test_sources_outside_the_prefixes_are_refused(url: str) -> None:
    allowed = ["rtsp://cams.example.org/", "https://live.example.org/hls/"]
    with pytest.raises(SourceNotAllowedError, match="not among"):
        check_live_source(url, allowed, allow_private=True, resolve=False)


def test_sources_inside_the_prefixes() -> None:
    allowed = ["rtsp://cams.example.org/", "https://live.example.org/hls", "udp://239.1.1.1:5000"]
    spec = check_live_source("rtsp://user:pw@cams.example.org:554/door", allowed, allow_private=True,
                             resolve=False)
    # RTSP is read interleaved over its one TCP connection: no UDP to an address the server names.
    assert spec.options["protocol_whitelist"] == "rtsp,rtp,tcp"
    assert spec.display == "rtsp://user:***@cams.example.org:554/door"
    spec = check_live_source("https://live.example.org/hls/a/index.m3u8", allowed, allow_private=True,
                             resolve=False)
    assert "file" not in spec.options["protocol_whitelist"].split(",")
    # Multicast is how UDP streams are sent: not a private address to refuse.
    check_live_source("udp://239.1.1.1:5000", allowed, allow_private=False)


@pytest.mark.parametrize("url", ["/etc/passwd", "file:///etc/passwd", "/dev/video0", "gopher://x/"])
def test_files_and_devices_are_never_watched_through_the_service(url: str) -> None:
    with pytest.raises(SourceNotAllowedError):
        check_live_source(url, ["file:///", "/"], allow_private=True)


def test_private_addresses_need_the_operator() -> None:
    allowed = ["rtsp://localhost:8554/", "rtsp://127.0.0.1:8554/", "http://localhost:8080/"]
    with pytest.raises(SourceNotAllowedError, match="non-public address"):
        check_live_source("rtsp://127.0.0.1:8554/x", allowed, allow_private=False)
    with pytest.raises(SourceNotAllowedError, match="non-public address"):
        check_live_source("rtsp://localhost:8554/x", allowed, allow_private=False)
    # Allowed: the spec keeps the name; each connection resolves it once, through its guard
    # (tests/service/test_live_egress.py), and connects to the address it checked.
    spec = check_live_source("rtsp://u:p@localhost:8554/x", allowed, allow_private=True)
    assert spec.url == "rtsp://u:p@localhost:8554/x" and spec.egress is not None


# -- the API --------------------------------------------------------------------------------


def test_live_watching_is_off_by_default(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client()
    assert client.get("/v1/info").json()["live_watching"] is False
    r = client.post("/v1/watches", json={"source": "rtsp://cams.example.org/a"})
    assert r.status_code == 403 and "FAKESCOPE_LIVE_SOURCES" in r.json()["detail"]
    assert client.get("/v1/watches").json() == []
    assert client.get("/v1/watches/nope").status_code == 404
    page = client.get("/ui/live.html")
    assert page.status_code == 200 and "live.js" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_a_refused_source_is_a_403_with_the_reason(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(live_sources=["rtsp://127.0.0.1:8554/"])
    r = client.post("/v1/watches", json={"source": "rtsp://127.0.0.1:8554/x"})
    assert r.status_code == 403 and "FAKESCOPE_LIVE_ALLOW_PRIVATE" in r.json()["detail"]
    r = client.post("/v1/watches", json={"source": "rtsp://127.0.0.1:9999/x"})
    assert r.status_code == 403 and "not among" in r.json()["detail"]
    assert client.post("/v1/watches", json={"source": "x", "fps": 500}).status_code == 422


def test_a_body_that_is_not_json_is_a_documented_400(make_client) -> None:  # type: ignore[no-untyped-def]
    """schemathesis found it: FastAPI answers 400 before validation; the API says so."""
    client = make_client(live_sources=["rtsp://cams.example.org/"])
    r = client.post("/v1/watches", content=b"\xff", headers={"content-type": "application/json"})
    assert r.status_code == 400 and isinstance(r.json()["detail"], str)
    assert "400" in client.get("/openapi.json").json()["paths"]["/v1/watches"]["post"]["responses"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fakescope.demo import talking_clip

    return talking_clip(tmp_path_factory.mktemp("live") / "clip.mp4", seconds=8.0, audio_shift_s=None,
                        size=(640, 480), fake_span=(3.0, 9.0), keyframe_every_s=1.0)


def _udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed (apt-get install ffmpeg)")
def test_a_watch_over_the_api_streams_its_events(make_client, clip: Path) -> None:  # type: ignore[no-untyped-def]
    port = _udp_port()
    source = f"udp://127.0.0.1:{port}"
    client = make_client(live_sources=[source], live_allow_private=True, live_max_watches=1)
    r = client.post("/v1/watches", json={"source": source, "duration_s": 12})
    assert r.status_code == 201, r.text
    w = r.json()
    assert w["status"] == "running" and w["links"]["events"] == f"/v1/watches/{w['id']}/events"
    busy = client.post("/v1/watches", json={"source": source})
    assert busy.status_code == 429 and busy.headers["retry-after"]
    time.sleep(0.5)
    sender = subprocess.Popen([FFMPEG or "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
                               "-i", str(clip), "-c", "copy", "-f", "mpegts", source])
    try:
        events = []
        with client.stream("GET", w["links"]["events"]) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            kind = None
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    events.append(json.loads(line[6:]))
                    assert events[-1]["event"] == kind
        sender.wait(20)
    finally:
        if sender.poll() is None:
            sender.kill()
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end" and "stream" in kinds, kinds
    assert "verdict" in kinds and "alert" in kinds, kinds
    done = client.get(f"/v1/watches/{w['id']}").json()
    assert done["status"] == "ended" and done["alerts"] >= 1 and done["people"][0]["verdict"] == "fake"
    assert done["end"]["reason"].startswith("--duration")
    # Resuming after the last event gets nothing again; a late client replays them all.
    with client.stream("GET", w["links"]["events"], headers={"Last-Event-ID": str(done["events"])}) as s2:
        assert not [x for x in s2.iter_lines() if x.startswith("data: ")]
    # Stopping: a new watch (the first has ended), stopped at once.
    r = client.post("/v1/watches", json={"source": source})
    assert r.status_code == 201, r.text
    stopped = client.post(f"/v1/watches/{r.json()['id']}/stop").json()
    assert stopped["status"] == "ended" and stopped["end"]["reason"] == "stopped"
    assert [x["id"] for x in client.get("/v1/watches").json()] == [r.json()["id"], w["id"]]
    # Deleting forgets it (a running one is stopped first).
    assert client.delete(f"/v1/watches/{r.json()['id']}").status_code == 204
    assert client.get(f"/v1/watches/{r.json()['id']}").status_code == 404
    assert [x["id"] for x in client.get("/v1/watches").json()] == [w["id"]]
