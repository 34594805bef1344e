"""Every connection a service watch makes goes out through here, checked.

FFmpeg follows whatever a source tells it: HTTP and RTSP redirects, HLS variant playlists,
segments and keys on any host, and it resolves host names again on its own (DNS
rebinding). So in the service FFmpeg never connects to a source: it talks to a loopback
listener of fakescope's that makes each upstream connection itself, after checking that
destination with ``policy.SourcePolicy`` and connecting to the very address it checked.

- HTTP(S), HLS: ``HttpGateway``, a small HTTP server FFmpeg reads the source from (and
  uses as its ``http_proxy`` besides). Each request is one hop: checked, then fetched from
  the checked address (TLS with the host's name when https). A redirect is passed back
  with its ``Location`` turned into a gateway URL, so FFmpeg's next request is checked
  like the first; every URI of an HLS playlist (variants, segments, keys, maps) is
  rewritten the same way. Credentials in the source URL go to the source's own origin only.
- RTSP, RTMP, TCP: ``StreamRelay``, a TCP listener that connects each incoming connection
  to the checked address (with TLS for rtsps/rtmps) and copies bytes both ways. RTSP is
  read as it passes: a redirect (a 3xx answer, a REDIRECT request) ends the connection
  instead of reaching FFmpeg, which would otherwise connect wherever it points.
- UDP: ``UdpReceiver`` binds the source's address itself (joining its group when it is a
  multicast one) and hands the datagrams to FFmpeg as a file: FFmpeg opens no socket, and
  a stopped watch lets go of the port at once.

Closing a guard closes its listener and every connection through it at once, so a stopped
watch lets go of its source before its slot is given to another.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import ipaddress
import logging
import re
import secrets
import socket
import socketserver
import ssl
import threading
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from fakescope.errors import SourceNotAllowedError
from fakescope.live.policy import DEFAULT_PORTS, Hop, SourcePolicy
from fakescope.live.source import SourceSpec, redact

log = logging.getLogger("fakescope.live")

Note = Callable[[str], None]
# A playlist is read whole to be rewritten: bigger than this, it is not one a camera or an
# encoder writes.
MAX_PLAYLIST_BYTES = 4 * 1024 * 1024
COPY_BYTES = 64 * 1024
# An RTSP message head (status line and headers) longer than this is not RTSP.
MAX_RTSP_HEAD = 64 * 1024
HLS_TYPES = ("application/vnd.apple.mpegurl", "application/x-mpegurl", "audio/mpegurl",
             "audio/x-mpegurl")
# Hop-by-hop and connection-specific headers are the gateway's own on each side.
_REQUEST_DROP = frozenset({"host", "connection", "keep-alive", "proxy-authorization", "proxy-connection",
                           "te", "trailer", "transfer-encoding", "upgrade", "authorization", "cookie"})
_RESPONSE_DROP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-connection",
                            "te", "trailer", "transfer-encoding", "upgrade", "location", "content-length",
                            "set-cookie"})


class Guard:
    """What FFmpeg opens instead of the source: ``url`` (a loopback URL, or a file object
    PyAV reads) and extra ``options``."""

    url: Any
    options: dict[str, str]

    def close(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def input_options(self, options: dict[str, str]) -> dict[str, str]:
        """The options FFmpeg opens ``url`` with, from the source's own."""
        return {**options, **self.options}

    def public(self, text: str) -> str:
        """``text`` (an FFmpeg error) with the loopback URL put back as the source's."""
        return text


def open_guard(spec: SourceSpec, timeout_s: float, note: Note) -> Guard:
    """The guard for a service watch's source (``spec.egress`` is its policy)."""
    policy: SourcePolicy = spec.egress
    scheme = urlsplit(spec.url).scheme.lower()
    if scheme in ("http", "https"):
        return HttpGateway(policy, spec.url, timeout_s, _once(note))
    if scheme in ("rtsp", "rtsps", "rtmp", "rtmps", "tcp"):
        return StreamRelay(policy, spec.url, timeout_s, _once(note))
    if scheme == "udp":
        return UdpReceiver(policy, spec.url, timeout_s)
    raise SourceNotAllowedError(f"{scheme}:// sources are not watched through the service")


def _once(note: Note) -> Note:
    """Each distinct note once per watch: a source that keeps redirecting is said once."""
    said: set[str] = set()
    lock = threading.Lock()

    def say(message: str) -> None:
        with lock:
            if message in said or len(said) > 100:
                return
            said.add(message)
        note(message)

    return say


def connect(hop: Hop, policy: SourcePolicy, timeout_s: float) -> socket.socket:
    """A connection to the checked address (never the name again), with TLS for the host's
    name where the scheme asks for it."""
    sock = socket.create_connection((str(hop.address), hop.port), timeout=timeout_s)
    if not hop.tls:
        return sock
    ctx = ssl.create_default_context()
    if not policy.tls_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    try:
        ipaddress.ip_address(hop.host)
        name = None  # no SNI for an address
    except ValueError:
        name = hop.host
    try:
        return ctx.wrap_socket(sock, server_hostname=name)
    except (OSError, ssl.SSLError):
        sock.close()
        raise


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


class _Connections:
    """Sockets open through a guard, so that closing it closes them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self.closed = False

    def add(self, sock: socket.socket) -> bool:
        with self._lock:
            if self.closed:
                return False
            self._open.add(sock)
            return True

    def discard(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.discard(sock)
        _close(sock)

    def close_all(self) -> None:
        with self._lock:
            self.closed = True
            socks, self._open = list(self._open), set()
        for s in socks:
            _close(s)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


# -- HTTP(S) and HLS ---------------------------------------------------------------------------


class _GatewayServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    # Closing must not wait for a handler still connecting upstream (up to the timeout):
    # its sockets are closed, and it ends by itself.
    block_on_close = False
    allow_reuse_address = True
    gateway: HttpGateway


class HttpGateway(Guard):
    """A loopback HTTP server that FFmpeg reads an http(s) source through: its URLs are
    ``/TOKEN/SCHEME/HOST:PORT/PATH``, each request one checked hop (see the module)."""

    def __init__(self, policy: SourcePolicy, source: str, timeout_s: float, note: Note) -> None:
        self.policy = policy
        self.timeout_s = timeout_s
        self.note = note
        self.token = secrets.token_urlsafe(16)
        src = urlsplit(source)
        scheme = src.scheme.lower()
        self._origin = (scheme, src.hostname, src.port or DEFAULT_PORTS.get(scheme))
        self._auth = None
        if src.username is not None:
            pair = f"{unquote(src.username)}:{unquote(src.password or '')}".encode()
            self._auth = "Basic " + base64.b64encode(pair).decode()
        self._refused: set[str] = set()
        self.conns = _Connections()
        self._server = _GatewayServer(("127.0.0.1", 0), _GatewayHandler, bind_and_activate=True)
        self._server.gateway = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="fakescope-live-gateway", daemon=True)
        self._thread.start()
        self.url = self.local_url(source)
        # Anything FFmpeg would fetch over plain HTTP without a rewritten URL comes here too.
        self.options = {"http_proxy": f"http://fakescope:{self.token}@127.0.0.1:{self.port}/"}
        self._base = f"http://127.0.0.1:{self.port}/{self.token}/"

    def local_url(self, upstream: str) -> str:
        """The gateway URL FFmpeg requests ``upstream`` by (credentials left out)."""
        p = urlsplit(upstream)
        scheme = p.scheme.lower()
        if scheme not in ("http", "https") or not p.hostname:
            return f"http://127.0.0.1:{self.port}/{self.token}/refused/{base64.urlsafe_b64encode(upstream.encode()).decode()}"
        host = f"[{p.hostname}]" if ":" in p.hostname else p.hostname
        try:
            port = p.port
        except ValueError:
            port = None
        authority = f"{host}:{port}" if port else host
        tail = (p.path or "/") + (f"?{p.query}" if p.query else "")
        if not tail.startswith("/"):
            tail = "/" + tail
        return f"http://127.0.0.1:{self.port}/{self.token}/{scheme}/{authority}{tail}"

    def upstream_of(self, target: str, proxy_auth: str | None) -> str | None:
        """The upstream URL a request target names, or None when it is not one of ours.
        ``refused/...`` targets come back as ``refused:`` + the URL."""
        if target.lower().startswith("http://"):
            p = urlsplit(target)
            if p.netloc != f"127.0.0.1:{self.port}":
                # A plain-HTTP URL FFmpeg sent through its proxy setting: only with our key.
                expected = "Basic " + base64.b64encode(f"fakescope:{self.token}".encode()).decode()
                if proxy_auth is None or not secrets.compare_digest(proxy_auth, expected):
                    return None
                return target
            target = (p.path or "/") + (f"?{p.query}" if p.query else "")
        prefix = f"/{self.token}/"
        if not target.startswith(prefix):
            return None
        rest = target[len(prefix):]
        scheme, _, rest = rest.partition("/")
        if scheme == "refused":
            try:
                return "refused:" + base64.urlsafe_b64decode(rest.encode()).decode()
            except (ValueError, UnicodeDecodeError):
                return None
        if scheme not in ("http", "https"):
            return None
        authority, _, tail = rest.partition("/")
        return f"{scheme}://{authority}/{tail}"

    def public(self, text: str) -> str:
        def back(m: re.Match[str]) -> str:
            return f"{m.group(1)}://{m.group(2)}"

        return re.sub(re.escape(self._base) + r"(https?)/([^/\s']+)", back, text)

    def authorization(self, hop: Hop) -> str | None:
        """The source URL's credentials, for the source's own scheme, host and port only."""
        return self._auth if (hop.scheme, hop.host, hop.port) == self._origin else None

    def refused(self, url: str, why: str) -> None:
        """Said once per host a source leads to (a playlist names many segments)."""
        try:
            p = urlsplit(url)
            where = f"{p.scheme}://{p.netloc.rsplit('@', 1)[-1]}"
        except ValueError:
            where = url[:200]
        log.warning("live source: refused %s: %s", redact(url)[:200], why)
        if where not in self._refused:
            self._refused.add(where)
            self.note(f"refused a connection the source led to: {why}")

    def rewrite_playlist(self, text: str, base: str) -> str:
        """Every URI of an HLS playlist as a gateway URL (resolved against ``base``)."""
        def uri(value: str) -> str:
            return self.local_url(urljoin(base, value.strip()))

        out = []
        for line in text.splitlines():
            s = line.strip()
            if not s:
                out.append(line)
            elif s.startswith("#"):
                out.append(re.sub(r'URI="([^"]*)"', lambda m: f'URI="{uri(m.group(1))}"', line))
            else:
                out.append(uri(s))
        return "\n".join(out) + "\n"

    def close(self) -> None:
        if self.conns.closed:
            return
        self.conns.close_all()
        self._server.shutdown()
        self._server.server_close()


class _GatewayHandler(BaseHTTPRequestHandler):
    server: _GatewayServer
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("gateway: " + format, *args)

    def do_GET(self) -> None:
        self._relay(body=True)

    def do_HEAD(self) -> None:
        self._relay(body=False)

    def _answer(self, status: int, text: str) -> None:
        data = (text + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _relay(self, *, body: bool) -> None:
        gw = self.server.gateway
        if not gw.conns.add(self.connection):
            return
        upstream_sock: socket.socket | None = None
        try:
            target = gw.upstream_of(self.path, self.headers.get("Proxy-Authorization"))
            if target is None:
                self._answer(404, "not a URL of this gateway")
                return
            if target.startswith("refused:"):
                url = target[len("refused:"):]
                gw.refused(url, f"{redact(url)[:200]} is not an http(s) URL")
                self._answer(403, "refused: not an http(s) URL")
                return
            try:
                hop = gw.policy.check(target)
            except SourceNotAllowedError as exc:
                gw.refused(target, str(exc))
                self._answer(403, f"refused by the live source policy: {exc}")
                return
            try:
                upstream_sock = connect(hop, gw.policy, gw.timeout_s)
            except (OSError, ssl.SSLError) as exc:
                why = f"cannot connect to {hop.host_header}: {_one_line(exc)}"
                gw.note(why)
                self._answer(502, why)
                return
            if not gw.conns.add(upstream_sock):
                return
            self._fetch(gw, hop, upstream_sock, body=body)
        except (OSError, http.client.HTTPException) as exc:
            log.debug("gateway: %s", _one_line(exc))
        finally:
            if upstream_sock is not None:
                gw.conns.discard(upstream_sock)
            gw.conns.discard(self.connection)

    def _fetch(self, gw: HttpGateway, hop: Hop, sock: socket.socket, *, body: bool) -> None:
        p = urlsplit(hop.url)
        conn = http.client.HTTPConnection(hop.host, hop.port, timeout=gw.timeout_s)
        conn.sock = sock  # already connected to the checked address: never resolved again
        path = (p.path or "/") + (f"?{p.query}" if p.query else "")
        conn.putrequest(self.command, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", hop.host_header)
        for name, value in self.headers.items():
            if name.lower() not in _REQUEST_DROP:
                conn.putheader(name, value)
        if (auth := gw.authorization(hop)) is not None:
            conn.putheader("Authorization", auth)
        conn.putheader("Connection", "close")
        conn.endheaders()
        resp = conn.getresponse()
        location = resp.getheader("Location")
        if 300 <= resp.status < 400 and location:
            # Passed back, not followed: FFmpeg asks for it next, and that hop is checked.
            self.send_response(resp.status)
            self.send_header("Location", gw.local_url(urljoin(hop.url, location.strip())))
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
            return
        first = resp.read1(COPY_BYTES) if body and resp.status < 300 else b""
        ctype = (resp.getheader("Content-Type") or "").split(";")[0].strip().lower()
        if ctype in HLS_TYPES or first.lstrip(b"\xef\xbb\xbf").startswith(b"#EXTM3U"):
            data = first + resp.read(MAX_PLAYLIST_BYTES + 1 - len(first)) if body else b""
            if len(data) > MAX_PLAYLIST_BYTES:
                self._answer(502, "the playlist is larger than 4 MB")
                return
            out = gw.rewrite_playlist(data.decode("utf-8", "replace"), hop.url).encode() if body else b""
            self._head(resp, len(out) if body else None)
            self.wfile.write(out)
            return
        length = None
        if not resp.chunked and resp.length is not None:
            length = resp.length + len(first)
        self._head(resp, length)
        if not body:
            return
        if first:
            self.wfile.write(first)
        while True:
            chunk = resp.read1(COPY_BYTES)
            if not chunk:
                return
            self.wfile.write(chunk)

    def _head(self, resp: http.client.HTTPResponse, length: int | None) -> None:
        self.send_response(resp.status, resp.reason)
        for name, value in resp.getheaders():
            if name.lower() not in _RESPONSE_DROP:
                self.send_header(name, value)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.send_header("Connection", "close")
        self.end_headers()

    def send_response(self, code: int, message: str | None = None) -> None:
        # No Server and Date headers of the gateway's own: only what the source said.
        self.log_request(code)
        self.send_response_only(code, message)


# -- RTSP, RTMP, TCP ---------------------------------------------------------------------------


# FFmpeg talks plain RTSP/RTMP to the relay; the relay adds TLS upstream.
_LOCAL_SCHEME = {"rtsps": "rtsp", "rtmps": "rtmp"}


class StreamRelay(Guard):
    """A loopback listener for one source: each connection FFmpeg opens is connected on to
    the source's checked address (resolved again per connection, and checked again)."""

    def __init__(self, policy: SourcePolicy, source: str, timeout_s: float, note: Note) -> None:
        self.policy = policy
        self.source = source
        self.timeout_s = timeout_s
        self.note = note
        self.scheme = urlsplit(source).scheme.lower()
        self.conns = _Connections()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.listen(8)
        self.port = self._listener.getsockname()[1]
        p = urlsplit(source)
        userinfo = p.netloc.rsplit("@", 1)[0] + "@" if "@" in p.netloc else ""
        local = p._replace(scheme=_LOCAL_SCHEME.get(self.scheme, self.scheme),
                           netloc=f"{userinfo}127.0.0.1:{self.port}")
        self.url = urlunsplit(local)
        self.options: dict[str, str] = {}
        self._shown = redact(source)
        threading.Thread(target=self._accept, name="fakescope-live-relay", daemon=True).start()

    def public(self, text: str) -> str:
        return re.sub(r"[a-z]+://(?:[^@\s/']*@)?127\.0\.0\.1:" + str(self.port), self._origin_shown(), text)

    def _origin_shown(self) -> str:
        p = urlsplit(self._shown)
        return f"{p.scheme}://{p.netloc}"

    def close(self) -> None:
        if self.conns.closed:
            return
        self.conns.close_all()
        _close(self._listener)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            if not self.conns.add(client):
                _close(client)
                return
            threading.Thread(target=self._serve, args=(client,), name="fakescope-live-relay-conn",
                             daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            hop = self.policy.check(self.source)
        except SourceNotAllowedError as exc:
            log.warning("live source: refused %s: %s", self._shown[:200], exc)
            self.note(f"refused a connection to the source: {exc}")
            self.conns.discard(client)
            return
        try:
            upstream = connect(hop, self.policy, self.timeout_s)
        except (OSError, ssl.SSLError) as exc:
            self.note(f"cannot connect to {hop.host_header}: {_one_line(exc)}")
            self.conns.discard(client)
            return
        upstream.settimeout(None)  # FFmpeg's own timeout ends a stalled connection (and this one)
        if not self.conns.add(upstream):
            _close(upstream)
            return
        done = threading.Event()

        def finish() -> None:
            if not done.is_set():
                done.set()
                self.conns.discard(client)
                self.conns.discard(upstream)

        down = _RtspFilter(self.note) if self.scheme.startswith("rtsp") else None
        threading.Thread(target=_pump, args=(client, upstream, None, finish), daemon=True,
                         name="fakescope-live-relay-up").start()
        _pump(upstream, client, down, finish)


def _pump(src: socket.socket, dst: socket.socket, filt: Any, finish: Callable[[], None]) -> None:
    """Copy ``src`` to ``dst`` (through ``filt`` when given) until either side ends."""
    try:
        while True:
            data = src.recv(COPY_BYTES)
            if not data:
                return
            out = filt.feed(data) if filt is not None else data
            if out is None:  # the filter refused what came: end the connection
                return
            if out:
                dst.sendall(out)
    except (OSError, ssl.SSLError):
        return
    finally:
        finish()


class _RtspFilter:
    """Reads the server's side of an RTSP connection message by message (interleaved
    ``$`` frames, answers and requests with their bodies) and passes each on whole; a
    redirect ends the connection. ``feed`` returns the bytes to pass on, or None to end."""

    def __init__(self, note: Note) -> None:
        self.note = note
        self.buf = bytearray()

    def feed(self, data: bytes) -> bytes | None:
        self.buf += data
        out = bytearray()
        while self.buf:
            if self.buf[0] in b"\r\n":  # blank lines between messages
                out.append(self.buf.pop(0))
                continue
            if self.buf[0] == 0x24:  # '$': channel, 16-bit length, payload
                if len(self.buf) < 4:
                    break
                n = 4 + int.from_bytes(self.buf[2:4], "big")
                if len(self.buf) < n:
                    break
                out += self.buf[:n]
                del self.buf[:n]
                continue
            end = self.buf.find(b"\r\n\r\n")
            sep = 4
            if end < 0:
                end, sep = self.buf.find(b"\n\n"), 2
            if end < 0:
                if len(self.buf) > MAX_RTSP_HEAD:
                    self.note("the RTSP server sent a message head over 64 KB: connection ended")
                    return None
                break
            head = bytes(self.buf[:end]).decode("latin-1")
            lines = head.replace("\r\n", "\n").split("\n")
            length = 0
            location = ""
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    value = value.strip()
                    if not value.isdigit() or len(value) > 9:
                        self.note("the RTSP server sent an invalid Content-Length: connection ended")
                        return None
                    length = int(value)
                elif name.strip().lower() == "location":
                    location = value.strip()
            first = lines[0].split()
            redirect = (len(first) >= 2 and first[0].upper().startswith("RTSP/") and first[1].startswith("3")
                        ) or (first and first[0].upper() == "REDIRECT")
            if redirect:
                where = f" to {redact(location)[:200]}" if location else ""
                self.note(f"the RTSP server redirected{where}: the service does not follow redirects of "
                          "watched sources (list the target in FAKESCOPE_LIVE_SOURCES and watch it directly)")
                return None
            n = end + sep + length
            if len(self.buf) < n:
                break
            out += self.buf[:n]
            del self.buf[:n]
        return bytes(out)


# -- UDP ---------------------------------------------------------------------------------------


class UdpReceiver(Guard):
    """The source's datagrams, received by fakescope and read by FFmpeg as a file (``url``).

    A read waits up to ``timeout_s`` for data, then reads as the end of the stream (the
    watch reconnects, as after any stall); closing ends a waiting read at once. When FFmpeg
    falls behind, the oldest datagrams are dropped (as ``overrun_nonfatal`` does)."""

    MAX_QUEUED = 8 * 1024 * 1024

    def __init__(self, policy: SourcePolicy, source: str, timeout_s: float) -> None:
        hop = policy.check(source)
        self.timeout_s = timeout_s
        family = socket.AF_INET6 if hop.address.version == 6 else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        if hop.address.is_multicast:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._sock.bind(("" if family == socket.AF_INET else "::", hop.port))
            if family == socket.AF_INET:
                mreq = hop.address.packed + socket.inet_aton("0.0.0.0")
                self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
            else:
                mreq = hop.address.packed + (0).to_bytes(4, "little")
                self._sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
        else:
            # The address the operator allowed, and only it (FFmpeg's own udp:// binds them all).
            self._sock.bind((str(hop.address), hop.port))
        self._sock.settimeout(0.5)
        self._cond = threading.Condition()
        self._chunks: deque[bytes] = deque()
        self._queued = 0
        self._closed = False
        self.url = _UdpFile(self)
        self.options = {}
        threading.Thread(target=self._receive, name="fakescope-live-udp", daemon=True).start()

    def _receive(self) -> None:
        while not self._closed:
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._cond:
                self._chunks.append(data)
                self._queued += len(data)
                while self._queued > self.MAX_QUEUED:
                    self._queued -= len(self._chunks.popleft())
                self._cond.notify_all()

    def read(self, n: int) -> bytes:
        with self._cond:
            if not self._cond.wait_for(lambda: self._chunks or self._closed, self.timeout_s):
                return b""
            if self._closed:
                return b""
            out = bytearray()
            while self._chunks and len(out) < n:
                chunk, room = self._chunks[0], n - len(out)
                if len(chunk) <= room:
                    self._chunks.popleft()
                else:
                    self._chunks[0], chunk = chunk[room:], chunk[:room]
                self._queued -= len(chunk)
                out += chunk
            return bytes(out)

    def input_options(self, options: dict[str, str]) -> dict[str, str]:
        # Read as a file: the udp protocol's own options mean nothing there.
        return {k: v for k, v in options.items() if k not in ("overrun_nonfatal", "protocol_whitelist")}

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        _close(self._sock)


class _UdpFile:
    """The file object PyAV reads (``read`` only: a stream has no seeking)."""

    def __init__(self, receiver: UdpReceiver) -> None:
        self._receiver = receiver

    def read(self, n: int = -1) -> bytes:
        return self._receiver.read(n if n > 0 else COPY_BYTES)
