"""Where a webhook may send: http(s) URLs whose host resolves only to public addresses.

A URL is checked when it is saved and again at every send: the host is resolved, every
address it resolves to must be public (not private, loopback, link-local, unspecified,
multicast or reserved) unless WEBHOOK_ALLOW_PRIVATE_NETWORKS says otherwise, and the send then
connects to those checked addresses (app.webhooks.sender), never resolving the name again, so
that a DNS answer changed between the check and the connection (DNS rebinding) cannot lead it
to an internal address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

MAX_URL_LENGTH = 2048
RESOLVE_TIMEOUT_SECONDS = 5.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressError(Exception):
    """The URL names no place a webhook may be sent to (the message says why)."""


@dataclass(frozen=True)
class Target:
    """A checked URL: its parts and the addresses its host resolved to."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def parse(url: str) -> SplitResult:
    """The URL's parts; AddressError unless it is an absolute http(s) URL with a host."""
    if len(url) > MAX_URL_LENGTH:
        raise AddressError(f"the URL is over the limit of {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise AddressError("the URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AddressError(f"not a valid URL ({exc}): give an absolute http(s) URL") from exc
    if parts.scheme not in ("http", "https"):
        given = f"it starts with {parts.scheme}:" if parts.scheme else "it has no scheme"
        raise AddressError(f"the URL must start with http:// or https:// ({given})")
    if not parts.hostname:
        raise AddressError("the URL names no host")
    try:  # as the resolver will (a label empty or over 63 characters: a UnicodeError there)
        parts.hostname.encode("idna")
    except UnicodeError as exc:
        raise AddressError(f"the URL's host is not a valid host name ({exc})") from exc
    if parts.username is not None or parts.password is not None:
        raise AddressError("the URL must not carry credentials (user:password@)")
    if port == 0:
        raise AddressError("the URL's port must not be 0")
    return parts


def not_public(address: IPAddress) -> str | None:
    """Why an address is not public (None when it is)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return not_public(address.ipv4_mapped)
    if isinstance(address, ipaddress.IPv6Address) and address.sixtofour is not None:
        # 6to4 (2002::/16) carries an IPv4 address, which a relay on the way may reach
        embedded = not_public(address.sixtofour)
        if embedded is not None:
            return embedded
    for name in ("loopback", "link_local", "unspecified", "multicast", "private", "reserved"):
        if getattr(address, f"is_{name}"):
            return name.replace("_", "-")
    if not address.is_global:  # shared (100.64/10), documentation, benchmarking...
        return "non-public"
    return None


ALLOW_PRIVATE = (
    "webhooks go to public addresses only; to send to private, loopback and link-local"
    " addresses too, the server must run with WEBHOOK_ALLOW_PRIVATE_NETWORKS=true"
)


async def resolve(host: str, port: int) -> tuple[str, ...]:
    """The addresses host resolves to (an IP literal: itself); AddressError when none."""
    try:
        return (str(ipaddress.ip_address(host)),)
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError) as exc:
        raise AddressError(f"the host {host!r} does not resolve: {exc}") from exc
    found = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if not found:
        raise AddressError(f"the host {host!r} does not resolve")
    return found


def _literal(host: str) -> bool:
    """Whether the host is an IP address itself, not a name."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def check(url: str, *, allow_private: bool, unresolved_ok: bool = False) -> Target:
    """The URL checked: parsed, its host resolved, every address public (or allowed). With
    ``unresolved_ok`` (when a URL is saved) a host that does not resolve (yet) passes with no
    address; a send never does."""
    parts = parse(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = await resolve(host, port)
    except AddressError:
        if not unresolved_ok:
            raise
        addresses = ()
    if not allow_private:
        for text in addresses:
            why = not_public(ipaddress.ip_address(text.split("%", 1)[0]))
            if why is not None:
                article = "an" if why[0] in "aeiou" else "a"  # an unspecified, a private
                what = f"{article} {why} address"
                place = (
                    f"{text} is {what}"
                    if _literal(host)
                    else f"the host {host!r} resolves to {text}, {what}"
                )
                raise AddressError(f"{place}: {ALLOW_PRIVATE}")
    return Target(url=url, scheme=parts.scheme, host=host, port=port, addresses=addresses)
