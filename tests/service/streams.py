"""Real local servers for the live-source tests: a stream over HTTP (with redirects and HLS
playlists), a small RTSP server (MPEG-TS in RTP, interleaved over its TCP connection) and
a TCP listener that counts what reaches it."""

from __future__ import annotations

import http.server
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _remux(clip: Path, out: Path, fmt: str, options: dict[str, str] | None = None) -> Path:
    """``clip``'s video into ``out`` as ``fmt`` (PyAV's FFmpeg, no re-encoding)."""
    import av

    with av.open(str(clip)) as src, av.open(str(out), "w", format=fmt, options=options or {}) as dst:
        vin = src.streams.video[0]
        vout = dst.add_stream_from_template(vin)
        for packet in src.demux(vin):
            if packet.dts is None:
                continue
            packet.stream = vout
            dst.mux(packet)
    return out


def mpegts(clip: Path, out: Path) -> Path:
    return _remux(clip, out, "mpegts")


def hls(clip: Path, folder: Path) -> Path:
    """``clip`` as an HLS playlist of 1 s segments in ``folder`` (relative URIs)."""
    folder.mkdir(parents=True, exist_ok=True)
    return _remux(clip, folder / "index.m3u8", "hls", {"hls_time": "1", "hls_list_size": "0"})


class Hits:
    """What reached a server: one entry per request or connection, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[str] = []

    def add(self, what: str) -> None:
        with self._lock:
            self.items.append(what)

    def __len__(self) -> int:
        with self._lock:
            return len(self.items)


class HttpSource:
    """Serves files of ``folder`` under /live/, plus ``routes``: path -> (status, headers, body)
    or a callable giving them. Every request is recorded in ``hits``."""

    def __init__(self, folder: Path, host: str = "127.0.0.1", port: int = 0,
                 routes: dict[str, Any] | None = None, tls: tuple[Path, Path] | None = None) -> None:
        self.hits = Hits()
        self.auth = Hits()  # each request's Authorization header ("-": none)
        self.routes = routes or {}
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a: Any, **kw: Any) -> None:
                super().__init__(*a, directory=str(folder), **kw)

            def log_message(self, *a: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer.hits.add(self.path)
                outer.auth.add(self.headers.get("Authorization") or "-")
                route = outer.routes.get(self.path.split("?")[0])
                if route is not None:
                    status, headers, body = route() if callable(route) else route
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if not self.path.startswith("/live/"):
                    self.send_error(404)
                    return
                self.path = self.path[len("/live"):]
                super().do_GET()

        self.server = http.server.ThreadingHTTPServer((host, port), Handler)
        self.port = self.server.server_address[1]
        self.base = f"http://{host}:{self.port}"
        if tls is not None:
            import ssl

            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
            self.base = f"https://{host}:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _TcpServer:
    """A TCP listener that records each connection (``hits``) and serves it in a thread."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_server((host, port))
        self.port = self.sock.getsockname()[1]
        self.hits = Hits()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.sock.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            self.hits.add(str(peer))
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:  # pragma: no cover - each server's own
        raise NotImplementedError


class TcpCounter(_TcpServer):
    """Counts the connections still open (it reads until the other side closes; ``send``
    bytes are written first when given)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, send: bytes = b"") -> None:
        self.send = send
        self._lock = threading.Lock()
        self.open = 0
        super().__init__(host, port)

    def _serve(self, conn: socket.socket) -> None:
        with self._lock:
            self.open += 1
        try:
            if self.send:
                conn.sendall(self.send)
            while conn.recv(4096):
                pass
        except OSError:
            pass
        finally:
            conn.close()
            with self._lock:
                self.open -= 1


class MiniRtsp(_TcpServer):
    """An RTSP server of the smallest kind: ``ts`` (MPEG-TS) as RTP payload 33 interleaved
    over the RTSP connection, paced to last ``seconds``; with ``redirect_to`` it answers
    DESCRIBE with a 302 there instead."""

    def __init__(self, ts: bytes = b"", seconds: float = 1.0, redirect_to: str | None = None,
                 host: str = "127.0.0.1") -> None:
        self.ts, self.seconds, self.redirect_to = ts, seconds, redirect_to
        self.requests: list[tuple[str, str]] = []
        super().__init__(host, 0)

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        playing = False
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(4096)
                    if not data:
                        return
                    buf += data
                    while buf.startswith(b"$") and len(buf) >= 4:  # the client's RTCP reports
                        n = 4 + int.from_bytes(buf[2:4], "big")
                        if len(buf) < n:
                            break
                        buf = buf[n:]
                head, buf = buf.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                method, uri = lines[0].split()[:2]
                hdr = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
                buf = buf[int(hdr.get("content-length", 0)):]
                self.requests.append((method, uri))
                status, extra, body = "200 OK", "", b""
                if method == "DESCRIBE" and self.redirect_to:
                    status, extra = "302 Found", f"Location: {self.redirect_to}\r\n"
                elif method == "OPTIONS":
                    extra = "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n"
                elif method == "DESCRIBE":
                    body = (b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=test\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
                            b"m=video 0 RTP/AVP 33\r\na=control:trackID=0\r\n")
                    extra = f"Content-Type: application/sdp\r\nContent-Base: {uri.rstrip('/')}/\r\n"
                elif method == "SETUP":
                    extra = ("Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n"
                             "Session: 12345678;timeout=60\r\n")
                elif method == "PLAY":
                    extra = "Session: 12345678\r\n"
                conn.sendall(f"RTSP/1.0 {status}\r\nCSeq: {hdr.get('cseq', '0')}\r\n{extra}"
                             f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                if method == "PLAY" and not playing:
                    playing = True
                    threading.Thread(target=self._send, args=(conn,), daemon=True).start()
                if method == "TEARDOWN":
                    return
        except OSError:
            return

    def _send(self, conn: socket.socket) -> None:
        size = 7 * 188
        n = len(self.ts) // size
        t0 = time.monotonic()
        try:
            for i in range(n):
                at = t0 + self.seconds * i / n
                if (wait := at - time.monotonic()) > 0:
                    time.sleep(wait)
                rtp = struct.pack("!BBHII", 0x80, 33, i & 0xFFFF, int((at - t0) * 90000) & 0xFFFFFFFF,
                                  0x1234) + self.ts[i * size:(i + 1) * size]
                conn.sendall(b"$\x00" + len(rtp).to_bytes(2, "big") + rtp)
        except OSError:
            pass


def wait_until(pred: Callable[[], Any], timeout: float, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(step)
    return None


def self_signed(folder: Path, name: str = "localhost") -> tuple[Path, Path]:
    """A self-signed certificate for ``name`` and its key (PEM files in ``folder``)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path
