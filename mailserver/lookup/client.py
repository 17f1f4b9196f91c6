"""Asking a peer operator for a remote recipient's keys (the sending side of DESIGN 5.8).

Used at RCPT time, so answers are cached for `lookup.cache_seconds` (a refusal for a
shorter time, so that a mailbox created at the peer becomes reachable soon) and
concurrent questions about one address share one request. The connection is mutual TLS
with our service certificate, to the lookup address registered for the recipient's
domain, and the server must prove it speaks for that domain (`https.get`). What comes
back is checked (`remote_keys.check`, with the peer's current CRL from `crls`) before
anyone encrypts to it; a cached answer is checked again whenever that CRL changes, so a
certificate the peer revokes stops being used within the CRL's refresh interval.

Failures are `KeyLookupFailed`: `NoPublishedKey` and `KeyRefused` are permanent (the
client hears 550 at RCPT), `LookupUnavailable` is temporary (451: try later), as is a
peer whose revocation status cannot be had now (no current CRL).
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from config.logging import Event, get_logger
from gateway.trust import remote_keys
from gateway.trust.peer_crl import PeerCrl, RevocationUnknown
from gateway.trust.remote_keys import (
    KeyLookupFailed,
    KeyRefused,
    LookupUnavailable,
    NoPublishedKey,
    RemoteKeys,
)
from mailserver.lookup import https
from mailserver.lookup.peer_crls import PeerCrls
from mailserver.trust_tls import PeerRefused, TrustedPeer, TrustSpace
from storage.base import utcnow

log = get_logger(__name__)
TIMEOUT_SECONDS = 10.0
NEGATIVE_SECONDS = 60
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class _Cached:
    until: float  # on the monotonic clock
    answer: RemoteKeys | KeyLookupFailed
    checked_with: PeerCrl | None  # the peer's CRL the keys were checked against


class LookupClient:
    """`await client.keys(address)`: a remote mailbox's checked keys, cached;
    `client.crls`: the peers' CRLs."""

    def __init__(
        self,
        trust: TrustSpace,
        *,
        cache_seconds: int,
        timeout: float = TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        crls: PeerCrls | None = None,
    ) -> None:
        self.trust = trust
        self.cache_seconds = cache_seconds
        self.negative_seconds = min(cache_seconds, NEGATIVE_SECONDS)
        self.timeout = timeout
        self.crls = crls or PeerCrls(trust, timeout=timeout, clock=clock)
        self._clock = clock
        self._cache: dict[str, _Cached] = {}
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
        if cached is not None and cached.until > self._clock():
            if isinstance(cached.answer, KeyLookupFailed):
                raise cached.answer
            return await self._still_good(cached.answer, cached)
        pending = self._inflight.get(address)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[RemoteKeys] = asyncio.get_running_loop().create_future()
        self._inflight[address] = future
        try:
            found, crl = await self._lookup(address)
        except KeyLookupFailed as exc:
            if not exc.temporary:
                self._cache[address] = _Cached(self._clock() + self.negative_seconds, exc, None)
            _settle(future, exc)
            raise
        except BaseException:
            _settle(future, LookupUnavailable(address, "the certificate lookup was interrupted"))
            raise
        finally:
            self._inflight.pop(address, None)
        self._cache[address] = _Cached(self._clock() + self.cache_seconds, found, crl)
        future.set_result(found)
        return found

    async def _still_good(self, keys: RemoteKeys, cached: _Cached) -> RemoteKeys:
        """Cached keys, checked again if the peer's CRL changed since they were."""
        crl = await self._crl(keys.address, keys.domain)
        if crl == cached.checked_with:
            return keys
        peer = (await self.trust.snapshot()).peer(keys.domain)
        if peer is None:
            raise KeyRefused(keys.address, f"{keys.domain} is not in the trust space")
        try:
            await self._check(keys, peer, crl)
        except KeyRefused as refused:  # kept like any refusal: at most negative_seconds
            until = min(cached.until, self._clock() + self.negative_seconds)
            self._cache[keys.address] = _Cached(until, refused, crl)
            raise
        self._cache[keys.address] = _Cached(cached.until, keys, crl)
        return keys

    async def _crl(self, address: str, domain: str) -> PeerCrl | None:
        try:
            return await self.crls.current(domain)
        except RevocationUnknown as unknown:
            raise LookupUnavailable(
                address,
                f"the revocation status of {domain}'s certificates is unknown now"
                f" ({unknown.reason})",
            ) from None

    async def _check(self, keys: RemoteKeys, peer: TrustedPeer, crl: PeerCrl | None) -> None:
        crls = [crl.load()] if crl is not None else []
        # Path validation and pgpy's key checks are CPU work: off the event loop.
        await asyncio.to_thread(remote_keys.check, keys, peer.anchors, utcnow(), crls)

    async def _lookup(self, address: str) -> tuple[RemoteKeys, PeerCrl | None]:
        domain = address.rpartition("@")[2]
        try:
            context, peer = await self.trust.client_context(domain)
        except PeerRefused:
            raise KeyRefused(address, f"{domain} is not in the trust space") from None
        path = remote_keys.PATH_PREFIX + urllib.parse.quote(address, safe="@")
        try:
            async with asyncio.timeout(self.timeout):
                status, body = await https.get(
                    peer, context, path, max_body=remote_keys.MAX_DOCUMENT_BYTES, accept=JSON
                )
        except PeerRefused as refused:
            log.warning(Event.TRUST_PEER_REFUSED, domain=peer.domain, reason=str(refused))
            raise LookupUnavailable(
                address, f"the certificate lookup of {peer.domain} is not {peer.domain}'s"
            ) from None
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
        keys = self._read_answer(address, peer, status, body)
        crl = await self._crl(address, domain)
        await self._check(keys, peer, crl)
        return keys, crl

    def _read_answer(self, address: str, peer: TrustedPeer, status: int, body: bytes) -> RemoteKeys:
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
        return remote_keys.parse(body, address)


def _settle(future: asyncio.Future[RemoteKeys], error: KeyLookupFailed) -> None:
    """Hand `error` to whoever waits on the same address (and mark it retrieved, so an
    unwaited future does not warn)."""
    future.set_exception(error)
    future.exception()
