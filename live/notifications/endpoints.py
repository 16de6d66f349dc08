"""Which push endpoints the server will POST to: no request forgery towards private networks.

A push subscription names a URL that this server will later send requests to, so a malicious
subscriber could point it at something only the server can reach (a metadata service at
169.254.169.254, an admin port on 127.0.0.1, a database on 10.0.0.5). An endpoint must be
`https://` and every address its host resolves to must be public: not private, loopback,
link-local, multicast, reserved, unspecified, shared (100.64/10) or an IPv4-mapped form of those.
The check runs when the subscription is made and again before every send (DNS may change in
between). Hosts listed in `LIVE_PUSH_INSECURE_HOSTS` (`host:port`) skip it and may use
`http://`: tests and private push services.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

MAX_ENDPOINT_CHARS = 1024


class EndpointRefused(ValueError):
    """The endpoint may not be used (the message says why, for the 422's `fields`)."""


def host_port(url: str) -> tuple[str, int, str]:
    """(host, port, scheme) of an http(s) URL (EndpointRefused if it is not one)."""
    if len(url) > MAX_ENDPOINT_CHARS:
        raise EndpointRefused(f"longer than {MAX_ENDPOINT_CHARS} characters")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise EndpointRefused("contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise EndpointRefused("not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointRefused("must be an https:// URL")
    if parts.username or parts.password:
        raise EndpointRefused("must not carry credentials")
    default = 443 if parts.scheme == "https" else 80
    return parts.hostname.lower(), port or default, parts.scheme


def destination(url: str) -> str:
    """`host:port` of a URL: the outbox's unit of concurrency."""
    host, port, _ = host_port(url)
    return f"{host}:{port}"


def origin(url: str) -> str:
    """`scheme://host[:port]`: the audience (`aud`) of a VAPID token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"):
        return False  # carrier-grade NAT: not "private" to Python, not public either
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local)


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


async def check(url: str, insecure_hosts: frozenset[str]) -> None:
    """Raise EndpointRefused unless the server may send to `url`."""
    host, port, scheme = host_port(url)
    if f"{host}:{port}" in insecure_hosts:
        return
    if scheme != "https":
        raise EndpointRefused("must be an https:// URL")
    literal = _literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
            raise EndpointRefused("must be on a public address")
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError, OSError):
            raise EndpointRefused(f"its host {host!r} does not resolve") from None
        addresses = [str(info[4][0]) for info in infos]
    if not addresses or not all(is_public(a) for a in addresses):
        raise EndpointRefused("must be on a public address (not private, loopback or link-local)")
