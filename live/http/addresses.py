"""Who is connecting: trusted proxies, and the cap on open connections per client address.

The cap counts transport connections (file descriptors), so it sees the address that opened the
socket. Behind a reverse proxy that is the proxy's address for every client: proxies listed in
`LIVE_FORWARDED_ALLOW_IPS` (the same list uvicorn uses to believe `X-Forwarded-For`) are exempt,
and the proxy enforces the per-client cap itself (docker/nginx.conf's `limit_conn`).

With several worker processes each process counts its own connections: one address may hold up
to the cap in each. An IPv6 client usually holds a whole /64, so IPv6 addresses are counted by
their /64; an IPv4 address mapped into IPv6 (`::ffff:a.b.c.d`, on a dual-stack socket) counts as
the IPv4 address.
"""

from __future__ import annotations

import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TrustedProxies:
    """A list of addresses and networks (`LIVE_FORWARDED_ALLOW_IPS`); `*` matches any address."""

    __slots__ = ("any", "networks")

    def __init__(self, spec: str) -> None:
        items = [item.strip() for item in spec.split(",") if item.strip()]
        self.any = "*" in items
        self.networks: list[Network] = [
            ipaddress.ip_network(item, strict=False) for item in items if item != "*"
        ]

    def __contains__(self, host: object) -> bool:
        if self.any:
            return True
        if not isinstance(host, str):
            return False
        address = parse(host)
        return address is not None and self.holds(address)

    def holds(self, address: Address) -> bool:
        return self.any or any(address in network for network in self.networks)



def parse(host: str) -> Address | None:
    """The IP address of `host` (IPv4-mapped IPv6 as IPv4), or None if it is not one."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_key(address: Address) -> str:
    """What the cap counts by: the IPv4 address, or the IPv6 address's /64."""
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    return str(ipaddress.IPv6Network((address, 64), strict=False))


class AddressSlot:
    """One open connection's place in the table; released once, by whoever holds it last."""

    __slots__ = ("table", "host")

    def __init__(self, table: AddressTable | None, host: str) -> None:
        self.table = table
        self.host = host

    def release(self) -> None:
        table, self.table = self.table, None
        if table is not None:
            table.release(self.host)


class AddressTable:
    """Open connections per client address in this process, capped at `cap` (0: no cap)."""

    __slots__ = ("cap", "trusted", "_open")

    def __init__(self, cap: int, trusted: TrustedProxies) -> None:
        self.cap = cap
        self.trusted = trusted
        self._open: dict[str, int] = {}

    def acquire(self, host: str | None) -> AddressSlot | None:
        """A slot for a new connection from `host`, or None when `host` is at the cap.

        Exempt and uncapped connections (and peers without an IP address, such as a Unix
        socket's) get `UNCOUNTED`, whose release does nothing.
        """
        if not self.cap or host is None:
            return UNCOUNTED
        address = parse(host)
        if address is None or self.trusted.holds(address):
            return UNCOUNTED
        key = client_key(address)
        count = self._open.get(key, 0)
        if count >= self.cap:
            return None
        self._open[key] = count + 1
        return AddressSlot(self, key)

    def release(self, host: str) -> None:
        count = self._open.get(host, 0) - 1
        if count > 0:
            self._open[host] = count
        else:
            self._open.pop(host, None)

    def open_from(self, host: str) -> int:
        address = parse(host)
        return 0 if address is None else self._open.get(client_key(address), 0)


UNCOUNTED = AddressSlot(None, "")
