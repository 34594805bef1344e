"""Which live sources a service may open: a watch started over the API is a request the
server makes on a client's behalf, so a source URL is a way into the server's network
(server-side request forgery) unless it is checked.

A source is allowed only when it starts with one of the operator's prefixes
(``live_sources``: scheme, host, port and path compared part by part, never as raw text),
is a network stream (no files, devices or listening), and, unless the operator allows
private addresses, its host resolves to public addresses only. The host is then replaced
by the address that was checked (RTSP, RTMP, UDP, TCP: a DNS answer that changes in
between cannot redirect the connection), and FFmpeg is told which protocols it may open
underneath (``protocol_whitelist``: an HLS playlist cannot send it to ``file:``).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from fakescope.errors import SourceNotAllowedError
from fakescope.live.source import SourceSpec, parse_source

DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "rtmp": 1935, "rtmps": 443, "http": 80, "https": 443}
# What FFmpeg may open beneath each scheme.
PROTOCOLS = {
    "rtsp": "rtsp,rtp,udp,tcp", "rtsps": "rtsps,rtsp,rtp,udp,tcp,tls,srtp",
    "rtmp": "rtmp,tcp", "rtmps": "rtmps,rtmp,tcp,tls",
    "http": "http,tcp,hls,crypto", "https": "https,http,tcp,tls,hls,crypto",
    "udp": "udp", "tcp": "tcp",
}
PINNED = frozenset({"rtsp", "rtmp", "udp", "tcp"})  # plain-text protocols: the address can replace the name


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


def check_live_source(url: str, allowed: list[str], *, allow_private: bool,
                      resolve: bool = True) -> SourceSpec:
    """The spec to open, or SourceNotAllowedError with the reason (one line)."""
    url = url.strip()
    if not allowed:
        raise SourceNotAllowedError(
            "live watching is off: the operator lists the sources it may open in "
            "FAKESCOPE_LIVE_SOURCES (URL prefixes)")
    if len(url) > 2048:
        raise SourceNotAllowedError("the source URL is longer than 2048 characters")
    try:
        spec = parse_source(url)
    except Exception as exc:
        raise SourceNotAllowedError(str(exc)) from None
    scheme = urlsplit(url).scheme.lower()
    if spec.kind != "network" or scheme not in PROTOCOLS:
        raise SourceNotAllowedError(
            "only network streams can be watched through the service (rtsp, rtmp, http(s) "
            "incl. HLS, udp, tcp), not files or devices")
    if not any(_matches(url, p) for p in allowed):
        raise SourceNotAllowedError("the source is not among the ones the operator allows "
                                    "(FAKESCOPE_LIVE_SOURCES)")
    parts = urlsplit(url)
    host = parts.hostname or ""
    options = {**spec.options, "protocol_whitelist": PROTOCOLS[scheme]}
    if not host:
        raise SourceNotAllowedError("the source URL has no host")
    try:
        addrs = [ipaddress.ip_address(host)]
        literal = True
    except ValueError:
        literal = False
        if not resolve:
            return SourceSpec(url, "network", None, options)
        try:
            infos = socket.getaddrinfo(host, parts.port or DEFAULT_PORTS.get(scheme, 0) or None,
                                       proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            raise SourceNotAllowedError(f"the source host {host!r} does not resolve") from None
        addrs = [ipaddress.ip_address(i[4][0]) for i in infos]
    if not allow_private:
        for a in addrs:
            if not a.is_global and not (scheme == "udp" and a.is_multicast):
                raise SourceNotAllowedError(
                    f"the source resolves to a non-public address ({a}); the operator can allow "
                    "that with FAKESCOPE_LIVE_ALLOW_PRIVATE=true")
    if not literal and scheme in PINNED:
        addr = sorted(addrs, key=lambda a: a.version)[0]
        shown = f"[{addr}]" if addr.version == 6 else str(addr)
        userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        netloc = f"{userinfo}{shown}" + (f":{parts.port}" if parts.port else "")
        url = parts._replace(netloc=netloc).geturl()
    return SourceSpec(url, "network", None, options)
