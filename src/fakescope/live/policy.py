"""Which live sources a service may open: a watch started over the API is a request the
server makes on a client's behalf, so a source URL is a way into the server's network
(server-side request forgery) unless every connection it leads to is checked.

A source is allowed only when it starts with one of the operator's prefixes
(``live_sources``: scheme, host, port and path compared part by part, never as raw text),
is a network stream (no files, devices or listening), is a plain URL (no spaces or control
characters, a numeric port, no ``.``/``..`` path segments, no query options that FFmpeg
would read as its own) and, unless the operator allows private addresses, its host
resolves to public addresses only.

That check is made again for every connection, not once: FFmpeg never connects to the
source itself. ``live.egress`` puts a loopback gateway (HTTP, HLS) or relay (RTSP, RTMP,
TCP) between them, which resolves each destination once, checks it here and connects to
the very address it checked (``SourcePolicy.check`` returns it as a ``Hop``).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from fakescope.errors import SourceNotAllowedError
from fakescope.live.source import SourceSpec, parse_source

DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "rtmp": 1935, "rtmps": 443, "http": 80, "https": 443}
# What FFmpeg may open beneath each scheme. It talks plain HTTP, RTSP, RTMP or TCP to the
# loopback gateway or relay (which adds TLS upstream), so neither tls nor udp is among them:
# RTSP runs interleaved over its one TCP connection, and an RTP "source=" elsewhere cannot be
# sent to.
PROTOCOLS = {
    "rtsp": "rtsp,rtp,tcp", "rtsps": "rtsp,rtp,tcp",
    "rtmp": "rtmp,tcp", "rtmps": "rtmp,tcp",
    "http": "http,tcp,hls,crypto", "https": "http,tcp,hls,crypto",
    "udp": "udp", "tcp": "tcp",
}
# Demuxers a stream over HTTP or TCP may be read with: media containers and HLS (with the
# audio and subtitle renditions a playlist may add), not the formats that name further URLs
# of their own (DASH manifests, SDP, concat lists, IMF).
FORMATS = ("hls,mpegts,flv,live_flv,matroska,mov,mpjpeg,mjpeg,h264,hevc,mpegvideo,mpeg,avi,ivf,"
           "aac,mp3,ac3,eac3,webvtt")
TLS_SCHEMES = frozenset({"https", "rtsps", "rtmps"})
# FFmpeg's RTSP client reads these words in the query as transport options (rtsp.c):
# they could move the stream onto UDP to an address the server names, or onto HTTP.
RTSP_QUERY_OPTIONS = frozenset({"udp", "tcp", "multicast", "http", "https", "filter_src", "listen",
                                "prefer_tcp", "satip_raw"})
_NETLOC = re.compile(r"^(?:[^@/]*@)?(\[[0-9A-Fa-f:.]+\]|[^:@/\[\]]+)(?::(\d{1,5}))?$")

Resolver = Callable[[str, int], Sequence[str]]


def resolve_host(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (the system resolver)."""
    infos = socket.getaddrinfo(host, port or None, proto=socket.IPPROTO_TCP)
    return [str(i[4][0]) for i in infos]


@dataclass(frozen=True)
class Hop:
    """A checked destination: connect to ``address`` (what ``host`` resolved to when checked)."""

    url: str
    scheme: str
    host: str
    port: int
    address: ipaddress.IPv4Address | ipaddress.IPv6Address

    @property
    def tls(self) -> bool:
        return self.scheme in TLS_SCHEMES

    @property
    def host_header(self) -> str:
        """``host[:port]`` as a Host header or an SNI-less request names it."""
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return shown if self.port == DEFAULT_PORTS.get(self.scheme) else f"{shown}:{self.port}"


def _matches(url: str, prefix: str) -> bool:
    try:
        u, p = urlsplit(url), urlsplit(prefix)
        u_port, p_port = u.port, p.port
    except ValueError:
        return False
    if u.scheme.lower() != p.scheme.lower() or (u.hostname or "") != (p.hostname or ""):
        return False
    default = DEFAULT_PORTS.get(u.scheme.lower())
    if p_port is not None and (u_port or default) != p_port:
        return False
    if p_port is None and u_port not in (None, default):
        return False
    base = p.path or "/"
    path = u.path or "/"
    return path == base or path.startswith(base if base.endswith("/") else base + "/")


def refuse_malformed(url: str) -> None:
    """SourceNotAllowedError when ``url`` could mean one thing to this check and another to
    FFmpeg or the server: Python's URL parser drops tabs and newlines that FFmpeg keeps,
    a server resolves ``..`` after the prefix was compared, and FFmpeg reads some query
    words (``listen``, ``localaddr``, ``udp``) as options."""
    if not url.isascii() or any(ord(c) < 0x21 or ord(c) == 0x7F for c in url) or "\\" in url:
        raise SourceNotAllowedError("the source URL holds spaces, control or non-ASCII characters")
    if "#" in url:
        raise SourceNotAllowedError("the source URL has a fragment (#...)")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    match = _NETLOC.match(parts.netloc)
    if match is None or (match.group(2) is not None and not 0 < int(match.group(2)) <= 65535):
        raise SourceNotAllowedError("the source URL's host or port is malformed (the port must be a "
                                    "number from 1 to 65535)")
    segments = unquote(parts.path).split("/")
    if any(s in (".", "..") for s in segments) or "\\" in unquote(parts.path):
        raise SourceNotAllowedError("the source URL's path has '.' or '..' segments: give the "
                                    "path as the server should see it")
    if scheme in ("tcp", "udp") and (parts.query or url.endswith("?")):
        raise SourceNotAllowedError(f"a {scheme}:// source takes no query options (FFmpeg would read "
                                    "them as its own: listen, localaddr, localport...)")
    if scheme in ("rtsp", "rtsps") and parts.query:
        words = {w.split("=", 1)[0].lower() for w in parts.query.split("&")}
        if words & RTSP_QUERY_OPTIONS:
            raise SourceNotAllowedError(
                "the source URL's query holds RTSP transport options FFmpeg would obey "
                f"({', '.join(sorted(words & RTSP_QUERY_OPTIONS))}): the service reads RTSP over TCP")


class SourcePolicy:
    """The operator's rules for live sources, applied to every destination a watch connects to."""

    def __init__(self, allowed: Sequence[str], *, allow_private: bool, resolver: Resolver = resolve_host,
                 tls_verify: bool = True) -> None:
        self.allowed = list(allowed)
        self.allow_private = allow_private
        self.resolver = resolver
        self.tls_verify = tls_verify

    def admit(self, url: str) -> None:
        """The checks made on the URL's text alone (form, scheme, prefixes)."""
        refuse_malformed(url)
        if urlsplit(url).scheme.lower() not in PROTOCOLS:
            raise SourceNotAllowedError(
                "only network streams can be watched through the service (rtsp, rtmp, http(s) "
                "incl. HLS, udp, tcp), not files or devices")
        if not any(_matches(url, p) for p in self.allowed):
            raise SourceNotAllowedError(f"{_shown(url)} is not among the sources the operator allows "
                                        "(FAKESCOPE_LIVE_SOURCES)")

    def check(self, url: str) -> Hop:
        """The destination to connect to, resolved once; SourceNotAllowedError (one line)
        when the URL is outside the prefixes or resolves to an address the rules refuse."""
        self.admit(url)
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        host = parts.hostname or ""
        if not host:
            raise SourceNotAllowedError("the source URL has no host")
        port = parts.port or DEFAULT_PORTS.get(scheme, 0)
        try:
            addrs = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                addrs = [ipaddress.ip_address(a.split("%", 1)[0]) for a in self.resolver(host, port)]
            except (OSError, UnicodeError, ValueError):
                raise SourceNotAllowedError(f"the source host {host!r} does not resolve") from None
            if not addrs:
                raise SourceNotAllowedError(f"the source host {host!r} does not resolve") from None
        if not self.allow_private:
            for a in addrs:
                if not a.is_global and not (scheme == "udp" and a.is_multicast):
                    raise SourceNotAllowedError(
                        f"the source resolves to a non-public address ({a}); the operator can allow "
                        "that with FAKESCOPE_LIVE_ALLOW_PRIVATE=true")
        # IPv4 first: the address that was checked is the one connected to, so pick one.
        address = sorted(addrs, key=lambda a: a.version)[0]
        return Hop(url=url, scheme=scheme, host=host, port=port, address=address)


def _shown(url: str) -> str:
    from fakescope.live.source import redact

    return redact(url)[:200]


def check_live_source(url: str, allowed: list[str], *, allow_private: bool, resolve: bool = True,
                      resolver: Resolver = resolve_host, tls_verify: bool = True) -> SourceSpec:
    """The spec to open (its connections go through ``live.egress`` under this policy), or
    SourceNotAllowedError with the reason (one line)."""
    url = url.strip()
    if not allowed:
        raise SourceNotAllowedError(
            "live watching is off: the operator lists the sources it may open in "
            "FAKESCOPE_LIVE_SOURCES (URL prefixes)")
    if len(url) > 2048:
        raise SourceNotAllowedError("the source URL is longer than 2048 characters")
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        scheme = ""
    # Decided from the text alone, before anything looks at the file system: a local path
    # gets the same answer whether or not it exists.
    if scheme not in PROTOCOLS:
        raise SourceNotAllowedError(
            "only network streams can be watched through the service (rtsp, rtmp, http(s) "
            "incl. HLS, udp, tcp), not files or devices")
    policy = SourcePolicy(allowed, allow_private=allow_private, resolver=resolver, tls_verify=tls_verify)
    if resolve:
        policy.check(url)
    else:
        policy.admit(url)
    try:
        spec = parse_source(url)
    except Exception as exc:
        raise SourceNotAllowedError(str(exc)) from None
    options = {**spec.options, "protocol_whitelist": PROTOCOLS[scheme]}
    if scheme in ("http", "https", "tcp"):
        options["format_whitelist"] = FORMATS
    return SourceSpec(url, "network", None, options, egress=policy)
