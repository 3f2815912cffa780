"""The network side of webhooks: which URLs may be called (SSRF guard) and one POST, without redirects.

A URL is checked when saved and again at each delivery, and the connection goes to the very address that
passed the check (no second DNS lookup a rebinding attacker could answer differently).

Connections are kept alive between POSTs (HTTP/1.1) in a small per-thread pool keyed by the scheme, host,
port and the checked addresses: a batch of deliveries to one endpoint reuses one connection (and one TLS
handshake), and a host that now resolves elsewhere gets a new connection to the newly checked address.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from shared_apps.core.errors import InvalidInput

TIMEOUT_SECONDS = 10.0  # connect, and each read: a receiver should answer fast and work afterwards
EXCERPT_BYTES = 1024
MAX_URL_LENGTH = 2000
# Keep-alive: past this much of an answer we close the connection rather than read the rest.
DRAIN_BYTES = 64 * 1024
POOL_SIZE = 32  # connections kept per thread (least recently used closed first)
POOL_IDLE_SECONDS = 30.0  # a connection idle longer is closed rather than reused (receivers time out)
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(Exception):
    """The URL is malformed or resolves to an address webhooks may not reach."""

    def __init__(self, message: str, *, code: str = "invalid_url") -> None:
        super().__init__(message)
        self.message, self.code = message, code


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent in the request line
    addresses: tuple[str, ...]  # what the host resolved to, every one allowed


@dataclass(frozen=True)
class Response:
    status_code: int | None
    latency_ms: int
    excerpt: str
    error: str = ""  # set when no HTTP status came back (refused address, DNS, timeout, reset, ...)
    timed_out: bool = False


def resolve(host: str, port: int) -> list[str]:
    """Every address the host resolves to (a function of its own so tests can stand in for DNS)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, Teredo), which is what gets reached."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def address_allowed(raw: str) -> bool:
    """Only globally routable unicast addresses: no private, loopback, link-local (cloud metadata),
    shared, multicast, reserved or unspecified ones, nor IPv6 forms wrapping such an IPv4 address."""
    address: IPAddress = ipaddress.ip_address(raw.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and not address_allowed(str(embedded)):
            return False
    return not (
        not address.is_global
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def parse(url: Any) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of an http(s) URL without credentials; AddressRefused otherwise."""
    if not isinstance(url, str) or not url:
        raise AddressRefused("A URL is required.", code="required")
    if len(url) > MAX_URL_LENGTH:
        raise AddressRefused(f"At most {MAX_URL_LENGTH} characters.")
    if any(ord(char) < 33 or ord(char) == 127 for char in url):
        raise AddressRefused("Spaces and control characters are not allowed in the URL.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise AddressRefused("Not a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise AddressRefused("Only http and https URLs are allowed.", code="invalid_scheme")
    if not parts.hostname:
        raise AddressRefused("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise AddressRefused("Credentials in the URL are not supported; verify the signature instead.")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise AddressRefused("Not a valid host name.") from None
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path


def target(url: Any, *, allow_private: bool | None = None) -> Target:
    """Parse and resolve a URL, refusing it unless every address is allowed (or the operator setting
    WEBHOOKS_ALLOW_PRIVATE_URLS, or `allow_private` for other callers, says private networks are fine, as on
    a developer's machine)."""
    scheme, host, port, path = parse(url)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError):
        raise AddressRefused(f"The host {host} does not resolve.", code="unresolvable_host") from None
    if not addresses:
        raise AddressRefused(f"The host {host} does not resolve.", code="unresolvable_host")
    if allow_private is None:
        allow_private = settings.WEBHOOKS_ALLOW_PRIVATE_URLS
    if not allow_private:
        refused = [address for address in addresses if not address_allowed(address)]
        if refused:
            raise AddressRefused(
                f"The host {host} resolves to {refused[0]}: private, loopback, link-local and reserved "
                "addresses are not allowed.",
                code="private_address",
            )
    return Target(scheme=scheme, host=host, port=port, path=path, addresses=tuple(addresses))


def clean_url(value: Any, *, field: str = "url") -> str:
    """A URL webhooks may call, for services: InvalidInput naming the field otherwise."""
    try:
        target(value)
    except AddressRefused as refused:
        raise InvalidInput(field, refused.message, code=refused.code) from None
    return str(value)


def _pinned(addresses: tuple[str, ...]) -> Any:
    """A socket factory connecting to the checked addresses, in order, whatever host the request names."""

    def connect(address: tuple[str, int], timeout: Any = None, source_address: Any = None) -> socket.socket:
        error: OSError | None = None
        for ip in addresses:
            try:
                return socket.create_connection((ip, address[1]), timeout, source_address)
            except OSError as failed:
                error = failed
        raise error or OSError("no address to connect to")

    return connect


def _excerpt(raw: bytes) -> str:
    return raw[:EXCERPT_BYTES].decode("utf-8", errors="replace").replace("\x00", "")[:EXCERPT_BYTES]


PoolKey = tuple[str, str, int, tuple[str, ...]]


class _Pool(threading.local):
    def __init__(self) -> None:
        self.connections: OrderedDict[PoolKey, tuple[http.client.HTTPConnection, float]] = OrderedDict()


_pool = _Pool()


def _checkout(checked: Target, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
    """A kept-alive connection to the checked addresses (and True), or a new one (and False)."""
    key = (checked.scheme, checked.host, checked.port, checked.addresses)
    kept = _pool.connections.pop(key, None)
    if kept is not None:
        conn, idle_since = kept
        if conn.sock is not None and time.monotonic() - idle_since < POOL_IDLE_SECONDS:
            conn.timeout = timeout
            conn.sock.settimeout(timeout)
            return conn, True
        conn.close()
    connection_class = (
        http.client.HTTPSConnection if checked.scheme == "https" else http.client.HTTPConnection
    )
    # The Host header and TLS (SNI, certificate) use the host name; the socket the checked address.
    conn = connection_class(checked.host, checked.port, timeout=timeout)
    conn._create_connection = _pinned(checked.addresses)  # type: ignore[attr-defined]
    return conn, False


def _checkin(checked: Target, conn: http.client.HTTPConnection) -> None:
    key = (checked.scheme, checked.host, checked.port, checked.addresses)
    if conn.sock is None:  # the receiver closes after each answer (HTTP/1.0, Connection: close)
        conn.close()
        return
    _pool.connections[key] = (conn, time.monotonic())
    while len(_pool.connections) > POOL_SIZE:
        _, (oldest, _) = _pool.connections.popitem(last=False)
        oldest.close()


def close_connections() -> None:
    """Close this thread's kept-alive connections (tests; a worker shutting down)."""
    while _pool.connections:
        _, (conn, _) = _pool.connections.popitem()
        conn.close()


def _read(response: http.client.HTTPResponse, conn: http.client.HTTPConnection) -> bytes:
    """The excerpt; the rest of a small answer is read so the connection can carry the next request."""
    raw = response.read(EXCERPT_BYTES)
    if not response.isclosed():
        response.read(DRAIN_BYTES)
        if not response.isclosed():
            conn.close()  # too long to drain: not worth keeping
    return raw


# Errors that mean a kept-alive connection was closed by the receiver while idle: the request is sent again
# once on a new connection (a receiver that got it dedupes on the event id; delivery is at least once).
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float | None = None) -> Response:
    """POST once. Never raises for network trouble: the Response carries the status or the error.
    Redirects are not followed (a redirect could point inside the network)."""
    start = time.perf_counter()
    timeout = timeout or TIMEOUT_SECONDS

    def elapsed() -> int:
        return round((time.perf_counter() - start) * 1000)

    try:
        checked = target(url)
    except AddressRefused as refused:
        return Response(status_code=None, latency_ms=elapsed(), excerpt="", error=refused.message)
    conn, reused = _checkout(checked, timeout)
    try:
        try:
            conn.request("POST", checked.path, body=body, headers=headers)
            response = conn.getresponse()
        except _STALE:
            if not reused:
                raise
            conn.close()
            conn.request("POST", checked.path, body=body, headers=headers)  # reconnects
            response = conn.getresponse()
        raw = _read(response, conn)
        result = Response(status_code=response.status, latency_ms=elapsed(), excerpt=_excerpt(raw))
    except TimeoutError:
        conn.close()
        return Response(None, elapsed(), "", error=f"Timed out after {timeout:g} s.", timed_out=True)
    except (OSError, http.client.HTTPException) as failed:
        conn.close()
        return Response(None, elapsed(), "", error=f"{type(failed).__name__}: {failed}"[:500])
    except BaseException:
        conn.close()  # interrupted (a job timeout): the answer may still arrive on this connection
        raise
    _checkin(checked, conn)
    return result
