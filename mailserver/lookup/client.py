"""Asking a peer operator for a remote recipient's keys (the sending side of DESIGN 5.8).

Used at RCPT time, so answers are cached for `lookup.cache_seconds` (a refusal for a
shorter time, so that a mailbox created at the peer becomes reachable soon) and
concurrent questions about one address share one request. The connection is mutual TLS
with our service certificate, to the lookup address registered for the recipient's
domain, and the server must prove it speaks for that domain (`verify_server_peer`).
What comes back is checked (`remote_keys.check`) before anyone encrypts to it.

Failures are `KeyLookupFailed`: `NoPublishedKey` and `KeyRefused` are permanent (the
client hears 550 at RCPT), `LookupUnavailable` is temporary (451: try later).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import urllib.parse
from collections.abc import Callable

from config.logging import Event, get_logger
from gateway.trust import remote_keys
from gateway.trust.remote_keys import (
    KeyLookupFailed,
    KeyRefused,
    LookupUnavailable,
    NoPublishedKey,
    RemoteKeys,
)
from mailserver.trust_tls import (
    PeerRefused,
    TrustedPeer,
    TrustSpace,
    peer_certificate,
    verify_server_peer,
)
from storage.base import utcnow

log = get_logger(__name__)
MAX_HEAD_BYTES = 16 * 1024
TIMEOUT_SECONDS = 10.0
NEGATIVE_SECONDS = 60


class LookupClient:
    """`await client.keys(address)`: a remote mailbox's checked keys, cached."""

    def __init__(
        self,
        trust: TrustSpace,
        *,
        cache_seconds: int,
        timeout: float = TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.trust = trust
        self.cache_seconds = cache_seconds
        self.negative_seconds = min(cache_seconds, NEGATIVE_SECONDS)
        self.timeout = timeout
        self._clock = clock
        self._cache: dict[str, tuple[float, RemoteKeys | KeyLookupFailed]] = {}
        self._inflight: dict[str, asyncio.Future[RemoteKeys]] = {}

    def forget(self, address: str | None = None) -> None:
        """Drop one cached answer, or all of them."""
        if address is None:
            self._cache.clear()
        else:
            self._cache.pop(address.lower(), None)

    async def keys(self, address: str) -> RemoteKeys:
        address = address.strip().lower()
        cached = self._cache.get(address)
        if cached is not None and cached[0] > self._clock():
            if isinstance(cached[1], KeyLookupFailed):
                raise cached[1]
            return cached[1]
        pending = self._inflight.get(address)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[RemoteKeys] = asyncio.get_running_loop().create_future()
        self._inflight[address] = future
        try:
            found = await self._lookup(address)
        except KeyLookupFailed as exc:
            if not exc.temporary:
                self._cache[address] = (self._clock() + self.negative_seconds, exc)
            _settle(future, exc)
            raise
        except BaseException:
            _settle(future, LookupUnavailable(address, "the certificate lookup was interrupted"))
            raise
        finally:
            self._inflight.pop(address, None)
        self._cache[address] = (self._clock() + self.cache_seconds, found)
        future.set_result(found)
        return found

    async def _lookup(self, address: str) -> RemoteKeys:
        domain = address.rpartition("@")[2]
        try:
            context, peer = await self.trust.client_context(domain)
        except PeerRefused:
            raise KeyRefused(address, f"{domain} is not in the trust space") from None
        try:
            async with asyncio.timeout(self.timeout):
                status, body = await self._get(address, peer, context)
        except TimeoutError:
            raise LookupUnavailable(
                address, f"the certificate lookup of {domain} did not answer in time"
            ) from None
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            log.info(
                Event.LOOKUP_REQUEST,
                domain=domain,
                outcome="unreachable",
                reason=type(exc).__name__,
            )
            raise LookupUnavailable(
                address, f"the certificate lookup of {domain} cannot be reached"
            ) from None
        return await self._read_answer(address, peer, status, body)

    async def _read_answer(
        self, address: str, peer: TrustedPeer, status: int, body: bytes
    ) -> RemoteKeys:
        log.info(Event.LOOKUP_REQUEST, domain=peer.domain, http_status=status)
        if status == 404:
            raise NoPublishedKey(
                address,
                f"{peer.domain} publishes no key for this address"
                " (no such mailbox, or it cannot receive mail)",
            )
        if status >= 500:
            raise LookupUnavailable(address, f"the certificate lookup of {peer.domain} failed")
        if status != 200:
            raise KeyRefused(
                address, f"the certificate lookup of {peer.domain} refused the question"
            )
        keys = remote_keys.parse(body, address)
        # Path validation and pgpy's key checks are CPU work: off the event loop.
        await asyncio.to_thread(remote_keys.check, keys, peer.anchors, utcnow())
        return keys

    async def _get(
        self, address: str, peer: TrustedPeer, context: ssl.SSLContext
    ) -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection(
            peer.lookup.host,
            peer.lookup.port,
            ssl=context,
            server_hostname=None,
            limit=MAX_HEAD_BYTES,
        )
        try:
            try:
                verify_server_peer(
                    peer_certificate(writer.get_extra_info("ssl_object")), peer, utcnow()
                )
            except PeerRefused as refused:
                log.warning(Event.TRUST_PEER_REFUSED, domain=peer.domain, reason=str(refused))
                raise LookupUnavailable(
                    address, f"the certificate lookup of {peer.domain} is not {peer.domain}'s"
                ) from None
            path = remote_keys.PATH_PREFIX + urllib.parse.quote(address, safe="@")
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {peer.lookup.host}\r\n"
                "Accept: application/json\r\nConnection: close\r\n\r\n".encode("ascii")
            )
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status, length = parse_response_head(head)
            body = await reader.readexactly(length) if length else b""
            return status, body
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def _settle(future: asyncio.Future[RemoteKeys], error: KeyLookupFailed) -> None:
    """Hand `error` to whoever waits on the same address (and mark it retrieved, so an
    unwaited future does not warn)."""
    future.set_exception(error)
    future.exception()


def parse_response_head(head: bytes) -> tuple[int, int]:
    """(status, Content-Length) of an HTTP/1.1 response head; ValueError if malformed or
    if the body would exceed what a key document may be."""
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise ValueError("not an HTTP/1.x response")
    length = 0
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon and name.strip().lower() == "content-length":
            value = value.strip()
            if not value.isdigit():
                raise ValueError("malformed Content-Length")
            length = int(value)
    if length > remote_keys.MAX_DOCUMENT_BYTES:
        raise ValueError("the answer is too large")
    return int(code), length
