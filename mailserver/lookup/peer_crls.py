"""Peer operators' CRLs, fetched from their certificate lookups and kept per domain.

`await crls.current(domain)` is the CRL to judge that domain's certificates with: fetched
over mutual TLS (`GET /v1/crl`, `https.get`), checked (`peer_crl.check`: one CRL, signed
by a CA registered for the domain, current) and kept until its nextUpdate or
`refresh_seconds`, whichever comes first; concurrent questions share one request.

When no fresh CRL can be had (the lookup is down, or it answers with a CRL that is
refused), the one held is used until its own nextUpdate, and asked for again after
`RETRY_SECONDS`. Past that there is no answer but `RevocationUnknown`: the caller refuses
for now (451), since nobody can say whether the certificate was revoked meanwhile. A
refused CRL is never held, and neither is one older (by CRL number) than the one held
from the same CA key. What is held is dropped when the domain's registered CA chain
changes (`salus trust add --replace`).

A peer that publishes no CRL (404: a lookup older than `GET /v1/crl`) gets None: its
certificates are judged without one, as `crypto.validation` does for any issuer that
published no CRL to us, and it is asked again after `refresh_seconds`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from config.logging import Event, get_logger
from gateway.trust import peer_crl
from gateway.trust.peer_crl import CrlRefused, PeerCrl, RevocationUnknown
from mailserver.lookup import https
from mailserver.trust_tls import PeerRefused, TrustSpace
from storage.base import utcnow

log = get_logger(__name__)
REFRESH_SECONDS = 3600.0
RETRY_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class _Held:
    crl: PeerCrl | None  # None: the peer publishes none
    refresh_at: float  # on the monotonic clock
    ca_pem: str  # the domain's registered CA chain when it was fetched


class PeerCrls:
    """The trust-space peers' current CRLs, by domain."""

    def __init__(
        self,
        trust: TrustSpace,
        *,
        timeout: float,
        refresh_seconds: float = REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.trust = trust
        self.timeout = timeout
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._now = now
        self._held: dict[str, _Held] = {}
        self._inflight: dict[str, asyncio.Future[PeerCrl | None]] = {}

    def forget(self, domain: str | None = None) -> None:
        """Drop one domain's CRL, or all of them (the next question fetches again)."""
        if domain is None:
            self._held.clear()
        else:
            self._held.pop(domain.lower(), None)

    async def current(self, domain: str) -> PeerCrl | None:
        """`domain`'s current CRL, None when it publishes none; RevocationUnknown when
        no current CRL of it can be had."""
        domain = domain.strip().lower()
        held = self._held.get(domain)
        if held is not None and not await self._same_ca(domain, held):
            # The peer's CA was replaced (`salus trust add --replace`): a CRL of the
            # old CA says nothing of the new one's certificates, and the new one's
            # numbers start again. Fetched afresh, compared with nothing.
            self._held.pop(domain, None)
            held = None
        if held is not None and held.refresh_at > self._clock() and self._usable(held):
            return held.crl
        pending = self._inflight.get(domain)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[PeerCrl | None] = asyncio.get_running_loop().create_future()
        self._inflight[domain] = future
        try:
            found = await self._refresh(domain, held)
        except RevocationUnknown as exc:
            _settle(future, exc)
            raise
        except BaseException:
            _settle(future, RevocationUnknown(domain, "the CRL request was interrupted"))
            raise
        finally:
            self._inflight.pop(domain, None)
        future.set_result(found)
        return found

    async def _same_ca(self, domain: str, held: _Held) -> bool:
        peer = (await self.trust.snapshot()).peer(domain)
        return peer is not None and peer.ca_pem == held.ca_pem

    def _usable(self, held: _Held) -> bool:
        return held.crl is None or held.crl.next_update > self._now()

    async def _refresh(self, domain: str, held: _Held | None) -> PeerCrl | None:
        try:
            found, ca_pem = await self._fetch(domain)
            if held is not None and held.crl is not None:
                _no_older(domain, found, held.crl)
        except RevocationUnknown as failed:
            if held is None or held.crl is None or not self._usable(held):
                log.warning(Event.LOOKUP_CRL_UNKNOWN, domain=domain, reason=failed.reason)
                raise
            log.warning(Event.LOOKUP_CRL_KEPT, domain=domain, reason=failed.reason)
            self._held[domain] = _Held(held.crl, self._clock() + RETRY_SECONDS, held.ca_pem)
            return held.crl
        self._held[domain] = _Held(found, self._clock() + self._keep_seconds(found), ca_pem)
        return found

    def _keep_seconds(self, crl: PeerCrl | None) -> float:
        if crl is None:
            return self.refresh_seconds
        left = (crl.next_update - self._now()).total_seconds()
        return max(0.0, min(self.refresh_seconds, left))

    async def _fetch(self, domain: str) -> tuple[PeerCrl | None, str]:
        """The domain's CRL as its lookup answers it (None: it publishes none), and the
        CA chain it was checked against."""
        try:
            context, peer = await self.trust.client_context(domain)
        except PeerRefused:
            raise RevocationUnknown(domain, f"{domain} is not in the trust space") from None
        try:
            async with asyncio.timeout(self.timeout):
                status, body = await https.get(
                    peer,
                    context,
                    peer_crl.PATH,
                    max_body=peer_crl.MAX_BYTES,
                    accept=peer_crl.MEDIA_TYPE,
                )
        except PeerRefused as refused:
            log.warning(Event.TRUST_PEER_REFUSED, domain=domain, reason=str(refused))
            raise RevocationUnknown(
                domain, f"the certificate lookup of {domain} is not {domain}'s"
            ) from None
        except TimeoutError:
            raise RevocationUnknown(
                domain, f"the certificate lookup of {domain} did not answer in time"
            ) from None
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            log.info(
                Event.LOOKUP_CRL, domain=domain, outcome="unreachable", reason=type(exc).__name__
            )
            raise RevocationUnknown(
                domain, f"the certificate lookup of {domain} cannot be reached"
            ) from None
        log.info(Event.LOOKUP_CRL, domain=domain, http_status=status)
        if status == 404:
            return None, peer.ca_pem
        if status != 200:
            raise RevocationUnknown(
                domain, f"the certificate lookup of {domain} did not give its CRL ({status})"
            )
        try:
            checked = await asyncio.to_thread(
                peer_crl.check, domain, body, peer.anchors, self._now()
            )
        except CrlRefused as refused:
            log.warning(Event.LOOKUP_CRL_REFUSED, domain=domain, reason=refused.reason)
            raise RevocationUnknown(domain, refused.reason) from None
        return checked, peer.ca_pem


def _no_older(domain: str, found: PeerCrl | None, held: PeerCrl) -> None:
    """A peer does not go back to an older CRL, or to none, once it has published one (a
    restored backup would unrevoke certificates): keep the one held instead."""
    if found is None:
        raise RevocationUnknown(domain, f"{domain} no longer publishes its CRL")
    if found.issuer_key == held.issuer_key and found.number < held.number:
        raise RevocationUnknown(
            domain,
            f"the CRL of {domain} is older (number {found.number}) than the one held"
            f" (number {held.number})",
        )


def _settle(future: asyncio.Future[PeerCrl | None], error: RevocationUnknown) -> None:
    """Hand `error` to whoever waits on the same domain (and mark it retrieved, so an
    unwaited future does not warn)."""
    future.set_exception(error)
    future.exception()
