"""Every connection a watch started over the API makes stays within the operator's rules,
checked against real local servers: an HTTP source that redirects elsewhere, an HLS
playlist naming segments on another host, an RTSP server that redirects, a host name
whose answer changes between the check and the connection, and stopped watches that must
let go of their source before their slot is given to another. Each of these reached the
other server before the sources went through ``fakescope.live.egress``."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from fakescope.errors import SourceNotAllowedError
from fakescope.live.policy import SourcePolicy, check_live_source
from fakescope.service.keys import create_key

from .streams import HttpSource, MiniRtsp, TcpCounter, hls, mpegts, self_signed, wait_until


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with clip.ts (MPEG-TS, 4 s) and hls/index.m3u8 with its segments."""
    from fakescope.demo import talking_clip

    folder = tmp_path_factory.mktemp("egress")
    clip = talking_clip(folder / "clip.mp4", seconds=4.0, audio_shift_s=None, size=(320, 240),
                        keyframe_every_s=1.0)
    mpegts(clip, folder / "clip.ts")
    hls(clip, folder / "hls")
    return folder


def events(client: Any, wid: str) -> list[dict[str, Any]]:
    return [json.loads(data) for _, _, data in list(client.app.state.live.watches[wid].events)]


def wait_event(client: Any, wid: str, pred: Any, timeout: float = 20.0) -> dict[str, Any] | None:
    return wait_until(lambda: next((e for e in events(client, wid) if pred(e)), None), timeout)


def notes(client: Any, wid: str) -> str:
    return " | ".join(e["message"] for e in events(client, wid) if e["event"] == "note")


def watch(client: Any, source: str) -> str:
    r = client.post("/v1/watches", json={"source": source})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def stream_started(client: Any, wid: str) -> dict[str, Any] | None:
    return wait_event(client, wid, lambda e: e["event"] == "stream")


# -- HTTP and HLS ---------------------------------------------------------------------------


def test_an_http_redirect_is_followed_only_within_the_allowed_prefixes(make_client, media: Path) -> None:  # type: ignore[no-untyped-def]
    trap = HttpSource(media)
    src = HttpSource(media, routes={
        "/live/out": (302, {"Location": f"{trap.base}/live/clip.ts"}, b""),
        "/live/in": (302, {"Location": "/live/clip.ts"}, b""),
    })
    try:
        client = make_client(live_sources=[f"{src.base}/live/"], live_allow_private=True, live_max_watches=2)
        out = watch(client, f"{src.base}/live/out")
        assert wait_until(lambda: "refused" in notes(client, out), 20), events(client, out)
        assert f"{trap.base}/live/clip.ts is not among the sources" in notes(client, out)
        client.delete(f"/v1/watches/{out}")
        # A redirect inside the prefix is a hop like the first: checked, then followed.
        inside = watch(client, f"{src.base}/live/in")
        assert stream_started(client, inside), events(client, inside)
        client.delete(f"/v1/watches/{inside}")
        assert len(trap.hits) == 0, trap.hits.items
        assert "/live/clip.ts" in src.hits.items
    finally:
        trap.close()
        src.close()


def test_credentials_go_to_the_sources_own_origin_only(make_client, media: Path) -> None:  # type: ignore[no-untyped-def]
    other = HttpSource(media)
    src = HttpSource(media, routes={"/live/away": (302, {"Location": f"{other.base}/live/clip.ts"}, b"")})
    try:
        client = make_client(live_sources=[f"{src.base}/live/", f"{other.base}/live/"],
                             live_allow_private=True)
        wid = watch(client, f"http://user:pw@127.0.0.1:{src.port}/live/away")
        assert stream_started(client, wid), events(client, wid)
        client.delete(f"/v1/watches/{wid}")
        assert set(src.auth.items) == {"Basic dXNlcjpwdw=="}  # user:pw
        assert set(other.auth.items) == {"-"}
    finally:
        other.close()
        src.close()


def test_hls_segments_on_another_host_are_refused_and_those_in_the_prefix_play(  # type: ignore[no-untyped-def]
        make_client, media: Path) -> None:
    trap = HttpSource(media)
    playlist = (media / "hls" / "index.m3u8").read_text()
    elsewhere = "\n".join(f"{trap.base}/live/hls/{line}" if line.endswith(".ts") else line
                          for line in playlist.splitlines()).encode()
    src = HttpSource(media, routes={"/live/elsewhere.m3u8": (
        200, {"Content-Type": "application/vnd.apple.mpegurl"}, elsewhere)})
    try:
        client = make_client(live_sources=[f"{src.base}/live/"], live_allow_private=True, live_max_watches=2)
        bad = watch(client, f"{src.base}/live/elsewhere.m3u8")
        assert wait_until(lambda: "refused" in notes(client, bad), 20), events(client, bad)
        client.delete(f"/v1/watches/{bad}")
        good = watch(client, f"{src.base}/live/hls/index.m3u8")
        started = stream_started(client, good)
        assert started and started["format"] == "hls", events(client, good)
        client.delete(f"/v1/watches/{good}")
        assert len(trap.hits) == 0, trap.hits.items
        assert any(h.endswith(".ts") for h in src.hits.items)  # segments came through the gateway
    finally:
        trap.close()
        src.close()


@pytest.mark.parametrize("verify", [True, False])
def test_https_is_the_gateways_tls_to_the_checked_address(make_client, media: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                           verify: bool) -> None:
    """FFmpeg speaks plain HTTP to the gateway; the gateway speaks TLS with the host's name
    to the address it checked, and checks the certificate unless the operator said not to."""
    pytest.importorskip("cryptography")
    src = HttpSource(media, tls=self_signed(tmp_path))
    try:
        url = f"https://localhost:{src.port}/live/clip.ts"
        client = make_client(live_sources=[f"https://localhost:{src.port}/live/"], live_allow_private=True,
                             live_tls_verify=verify)
        client.app.state.live.resolver = lambda host, port: ["127.0.0.1"]
        wid = watch(client, url)
        if verify:  # self-signed: refused, and said why
            said = wait_until(lambda: "CERTIFICATE_VERIFY_FAILED" in notes(client, wid), 20)
            assert said, events(client, wid)
        else:
            started = stream_started(client, wid)
            assert started and started["format"] == "mpegts", events(client, wid)
        client.delete(f"/v1/watches/{wid}")
    finally:
        src.close()


# -- RTSP -----------------------------------------------------------------------------------


def test_an_rtsp_redirect_is_not_followed_and_rtsp_plays_through_the_relay(make_client, media: Path) -> None:  # type: ignore[no-untyped-def]
    trap = TcpCounter()
    redirecting = MiniRtsp(redirect_to=f"rtsp://127.0.0.1:{trap.port}/other")
    playing = MiniRtsp((media / "clip.ts").read_bytes(), seconds=4.0)
    try:
        client = make_client(live_sources=[f"rtsp://127.0.0.1:{redirecting.port}/",
                                           f"rtsp://127.0.0.1:{playing.port}/"],
                             live_allow_private=True, live_max_watches=2)
        bad = watch(client, f"rtsp://127.0.0.1:{redirecting.port}/live")
        assert wait_until(lambda: "redirected" in notes(client, bad), 20), events(client, bad)
        client.delete(f"/v1/watches/{bad}")
        assert len(trap.hits) == 0, trap.hits.items
        good = watch(client, f"rtsp://127.0.0.1:{playing.port}/live")
        started = stream_started(client, good)
        assert started and started["format"] == "rtsp" and started["codec"] == "h264", events(client, good)
        client.delete(f"/v1/watches/{good}")
    finally:
        trap.close()
        redirecting.close()
        playing.close()


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (apt-get install ffmpeg)")
@pytest.mark.parametrize("scheme", ["rtmp", "tcp"])
def test_rtmp_and_tcp_play_through_the_relay(make_client, media: Path, scheme: str) -> None:  # type: ignore[no-untyped-def]
    """Debian's ffmpeg serves the clip (as an RTMP server one player may connect to, or
    MPEG-TS to one TCP client); the watch reads it through its relay."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    if scheme == "rtmp":
        url, out = f"rtmp://127.0.0.1:{port}/live/stream", ["-f", "flv", "-listen", "1"]
    else:
        url, out = f"tcp://127.0.0.1:{port}", ["-f", "mpegts"]
    served = url + ("?listen=1" if scheme == "tcp" else "")
    server = subprocess.Popen([shutil.which("ffmpeg") or "ffmpeg", "-hide_banner", "-loglevel", "error",
                               "-nostdin", "-re", "-stream_loop", "-1", "-i", str(media / "clip.ts"),
                               "-c", "copy", *out, served], stderr=subprocess.DEVNULL)
    try:
        client = make_client(live_sources=[url], live_allow_private=True)
        time.sleep(0.5)  # listening
        wid = watch(client, url)
        started = stream_started(client, wid)
        assert started and started["codec"] == "h264", events(client, wid)
        client.delete(f"/v1/watches/{wid}")
    finally:
        server.kill()
        server.wait(5)


# -- host names -----------------------------------------------------------------------------


def _same_port_on(primary: str, other: str, make: Any) -> tuple[Any, Any]:
    """Two servers on one port, one per loopback address (retried if the port is taken)."""
    for _ in range(20):
        first = make(primary, 0)
        try:
            return first, make(other, first.port)
        except OSError:
            first.close()
    pytest.skip("no port free on both loopback addresses")


def test_a_name_is_connected_to_at_the_address_that_was_checked(make_client, media: Path) -> None:  # type: ignore[no-untyped-def]
    """"localhost" resolves to 127.0.0.2 for the service's resolver, where the stream is; the
    system's resolver (which FFmpeg used) says 127.0.0.1, where a trap listens on the same
    port. The stream must come from the address that was checked."""
    src, trap = _same_port_on("127.0.0.2", "127.0.0.1", lambda h, p: HttpSource(media, host=h, port=p))
    try:
        client = make_client(live_sources=[f"http://localhost:{src.port}/live/"], live_allow_private=True)
        client.app.state.live.resolver = lambda host, port: ["127.0.0.2"]
        wid = watch(client, f"http://localhost:{src.port}/live/clip.ts")
        assert stream_started(client, wid), events(client, wid)
        client.delete(f"/v1/watches/{wid}")
        assert len(trap.hits) == 0, trap.hits.items
        assert src.hits.items
    finally:
        src.close()
        trap.close()


@pytest.mark.parametrize("scheme", ["http", "rtsp"])
def test_a_name_that_turns_private_after_the_check_is_refused_when_connected(  # type: ignore[no-untyped-def]
        make_client, media: Path, scheme: str) -> None:
    """DNS rebinding: the name answers a public address when the watch is started, then
    127.0.0.1 (the system's answer too, where a trap listens). Each connection is checked
    again with the answer it is made to."""
    if scheme == "http":
        trap: Any = HttpSource(media)
        path = "/live/clip.ts"
    else:
        trap = MiniRtsp((media / "clip.ts").read_bytes())
        path = "/live"
    answers = iter([["93.184.216.34"]])
    try:
        client = make_client(live_sources=[f"{scheme}://localhost:{trap.port}/"])
        client.app.state.live.resolver = lambda host, port: next(answers, ["127.0.0.1"])
        wid = watch(client, f"{scheme}://localhost:{trap.port}{path}")
        assert wait_until(lambda: "non-public address (127.0.0.1)" in notes(client, wid), 20), \
            events(client, wid)
        client.delete(f"/v1/watches/{wid}")
        assert len(trap.hits) == 0, trap.hits.items
    finally:
        trap.close()


# -- the URL itself -------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "why"), [
    ("http://127.0.0.1:8080/live/../../outside/secret", "'..' segments"),
    ("http://127.0.0.1:8080/live/%2e%2e/%2E%2E/secret", "'..' segments"),
    ("http://127.0.0.1:8080/live/./a.ts", "'..' segments"),
    ("tcp://127.0.0.1:9000?listen=1", "no query options"),
    ("udp://127.0.0.1:9000?localport=9001&localaddr=0.0.0.0", "no query options"),
    ("tcp://127.0.0.1:90\t00", "control"),
    ("tcp://127.0.0.1:9000\n", None),  # stripped like any surrounding whitespace: allowed
    ("http://127.0.0.1:8080/live/a b.ts", "spaces"),
    ("http://127.0.0.1:8080/live/caf\u00e9.ts", "non-ASCII"),
    ("rtsp://127.0.0.1:8554/live?udp", "transport options"),
    ("rtsp://127.0.0.1:8554/live?tcp&multicast", "transport options"),
    ("rtsp://127.0.0.1:8554/live?channel=1", None),
    ("http://127.0.0.1:99999/live/a.ts", "port"),
    ("http://127.0.0.1:8080/live/a.ts#x", "fragment"),
])
def test_urls_that_would_mean_something_else_to_ffmpeg_are_refused(url: str, why: str | None) -> None:
    allowed = ["http://127.0.0.1:8080/live/", "tcp://127.0.0.1:9000", "udp://127.0.0.1:9000",
               "rtsp://127.0.0.1:8554/", "http://127.0.0.1:99999/"]
    if why is None:
        check_live_source(url, allowed, allow_private=True)
        return
    with pytest.raises(SourceNotAllowedError, match=why):
        check_live_source(url, allowed, allow_private=True)


def test_local_paths_get_one_answer_whether_or_not_they_exist(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(live_sources=["rtsp://127.0.0.1:8554/"], live_allow_private=True)
    answers = {client.post("/v1/watches", json={"source": s}).text
               for s in ("/etc/shadow", "/etc/passwd", "/nonexistent/x", "file:///etc/passwd", "./x")}
    assert len(answers) == 1, answers


def test_every_hop_resolves_once_and_is_checked() -> None:
    calls: list[str] = []
    policy = SourcePolicy(["https://cdn.example.org/live/"], allow_private=False,
                          resolver=lambda host, port: calls.append(host) or ["10.0.0.7"])
    with pytest.raises(SourceNotAllowedError, match=r"non-public address \(10.0.0.7\)"):
        policy.check("https://cdn.example.org/live/a.ts")
    assert calls == ["cdn.example.org"]
    hop = SourcePolicy(["https://cdn.example.org/live/"], allow_private=False,
                       resolver=lambda host, port: ["2606:2800:220:1::1", "93.184.216.34"]
                       ).check("https://cdn.example.org/live/a.ts")
    assert str(hop.address) == "93.184.216.34" and hop.tls and hop.port == 443


# -- watch slots ----------------------------------------------------------------------------


def test_a_stopped_watch_lets_go_of_its_connection_before_its_slot_frees(make_client) -> None:  # type: ignore[no-untyped-def]
    server = TcpCounter()  # accepts and sends nothing: FFmpeg waits on it while probing
    try:
        source = f"tcp://127.0.0.1:{server.port}"
        client = make_client(live_sources=[source], live_allow_private=True, live_max_watches=1)
        for cycle in range(8):
            wid = watch(client, source)
            assert wait_until(lambda: server.open == 1, 10), f"cycle {cycle}: no connection reached it"
            stopped = client.post(f"/v1/watches/{wid}/stop").json()
            assert stopped["status"] == "ended"
            # Closed by the time the answer came (a little grace for the server's own read).
            assert wait_until(lambda: server.open == 0, 0.5), f"cycle {cycle}: {server.open} still open"
            assert [w["status"] for w in client.get("/v1/watches").json()].count("running") == 0
        assert len(server.hits) == 8
    finally:
        server.close()


def test_one_key_cannot_hold_every_slot(make_client) -> None:  # type: ignore[no-untyped-def]
    server = TcpCounter()
    try:
        source = f"tcp://127.0.0.1:{server.port}"
        client = make_client(auth="required", live_sources=[source], live_allow_private=True,
                             live_max_watches=2)
        db = client.app.state.service.db
        a = {"Authorization": f"Bearer {create_key(db, 'a').token}"}
        b = {"Authorization": f"Bearer {create_key(db, 'b').token}"}
        first = client.post("/v1/watches", json={"source": source}, headers=a)
        assert first.status_code == 201, first.text
        again = client.post("/v1/watches", json={"source": source}, headers=a)
        assert again.status_code == 429 and "share" in again.json()["detail"], again.text
        other = client.post("/v1/watches", json={"source": source}, headers=b)
        assert other.status_code == 201, other.text
        for r, h in ((first, a), (other, b)):
            assert client.delete(f"/v1/watches/{r.json()['id']}", headers=h).status_code == 204
    finally:
        server.close()


def test_a_udp_watch_lets_go_of_its_port_at_once(make_client) -> None:  # type: ignore[no-untyped-def]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    source = f"udp://127.0.0.1:{port}"
    client = make_client(live_sources=[source], live_allow_private=True, live_max_watches=1)
    wid = watch(client, source)
    time.sleep(0.5)  # receiving (nothing comes)
    t0 = time.monotonic()
    assert client.post(f"/v1/watches/{wid}/stop").json()["status"] == "ended"
    assert time.monotonic() - t0 < 3.0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", port))  # free again
    wid = watch(client, source)  # and the slot with it
    client.delete(f"/v1/watches/{wid}")
