"""Mutual TLS between operators of the trust space (DESIGN sections 3 and 5.7).

A peer operator is recognised by its certificate, never by the address it connects
from or to: the certificate must chain to the CA registered for one trust domain, carry
a DNS name equal to or under that domain, and have the extended key usage of its role
(clientAuth when it connects to us, serverAuth when we connect to it). The chain is
checked with `cryptography.x509.verification` against that one domain's anchors, after
OpenSSL has checked it against the union of all anchors during the handshake (Python
3.11 cannot tell which anchor OpenSSL used: PITFALLS "aiosmtpd").

The trust list lives in the database (`salus trust add` writes it from another process),
so `TrustSpace` re-reads it at most every few seconds and rebuilds the SSLContexts when
it has changed; the contexts also follow SIGHUP reloads of our own certificate because
they are tracked by the runtime's `ReloadableContexts`.

What this module must not do: accept a peer whose certificate belongs to another trust
domain than the one it speaks for, or fall back to an unverified connection.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import verification

from config.settings import HostPort
from directory import repository
from directory.models import TrustDomain
from mailserver.tls import ReloadableContexts, client_context, server_context
from storage.database import Database
from storage.errors import StorageUnavailable

REFRESH_SECONDS = 5.0


class PeerRefused(Exception):
    """The peer is not an operator of the trust space; the text says why (for the log,
    the audit trail and the reply: it holds names from certificates, never secrets)."""


@dataclass(frozen=True, slots=True)
class TrustedPeer:
    """One trust domain, as the TLS and relay code use it."""

    domain: str
    ca_pem: str
    anchors: tuple[x509.Certificate, ...]
    relay: HostPort
    lookup: HostPort

    @classmethod
    def of(cls, row: TrustDomain) -> TrustedPeer:
        return cls(
            domain=row.domain,
            ca_pem=row.ca_pem,
            anchors=tuple(x509.load_pem_x509_certificates(row.ca_pem.encode("ascii"))),
            relay=HostPort(row.relay_host, row.relay_port),
            lookup=HostPort(row.lookup_host, row.lookup_port),
        )


@dataclass(frozen=True, slots=True)
class PeerIdentity:
    """Who is at the other end of a verified connection (shown by `salus trace`)."""

    domain: str
    names: tuple[str, ...]
    subject: str
    issuer: str
    serial: str  # hex
    fingerprint: str  # SHA-256 of the DER, hex

    def describe(self) -> str:
        return (
            f"{self.subject}, issued by {self.issuer}, serial {self.serial},"
            f" sha256 {self.fingerprint}"
        )


def name_under(name: str, domain: str) -> bool:
    """True when DNS `name` is `domain` or a name below it (label-wise, case-insensitive)."""
    name, domain = name.lower().rstrip("."), domain.lower().rstrip(".")
    return name == domain or name.endswith("." + domain)


def _identity(cert: x509.Certificate, domain: str, names: Sequence[str]) -> PeerIdentity:
    return PeerIdentity(
        domain=domain,
        names=tuple(names),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
    )


def _dns_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [n.lower() for n in san.get_values_for_type(x509.DNSName)]


def _leaf(leaf_der: bytes | None) -> x509.Certificate:
    if not leaf_der:
        raise PeerRefused("the peer presented no certificate")
    try:
        return x509.load_der_x509_certificate(leaf_der)
    except ValueError as exc:
        raise PeerRefused("the peer's certificate cannot be read") from exc


def _builder(peer: TrustedPeer, at: dt.datetime) -> verification.PolicyBuilder:
    return verification.PolicyBuilder().store(verification.Store(list(peer.anchors))).time(at)


def verify_client_peer(
    leaf_der: bytes | None, peers: Sequence[TrustedPeer], at: dt.datetime
) -> PeerIdentity:
    """The trust domain of a connecting peer: its certificate (clientAuth) must chain to
    that domain's anchors and name a host under that domain. The first domain that
    satisfies both wins (domains do not nest in practice; each check is complete)."""
    cert = _leaf(leaf_der)
    names = _dns_names(cert)
    chained = False
    for peer in peers:
        try:
            _builder(peer, at).build_client_verifier().verify(cert, [])
        except verification.VerificationError:
            continue
        chained = True
        under = [n for n in names if name_under(n, peer.domain)]
        if under:
            return _identity(cert, peer.domain, under)
    if chained:
        raise PeerRefused(
            f"the certificate {cert.subject.rfc4514_string()} chains to a trusted CA but names"
            " no host under that CA's domain"
        )
    raise PeerRefused(
        f"the certificate {cert.subject.rfc4514_string()} (issuer"
        f" {cert.issuer.rfc4514_string()}) does not chain to the CA of any trusted domain"
        " for client authentication"
    )


def verify_server_peer(leaf_der: bytes | None, peer: TrustedPeer, at: dt.datetime) -> PeerIdentity:
    """Check the server we connected to speaks for `peer.domain`: a certificate
    (serverAuth) chaining to that domain's anchors, for a host name under the domain."""
    cert = _leaf(leaf_der)
    under = [n for n in _dns_names(cert) if name_under(n, peer.domain)]
    if not under:
        raise PeerRefused(
            f"the certificate {cert.subject.rfc4514_string()} names no host under {peer.domain}"
        )
    try:
        _builder(peer, at).build_server_verifier(x509.DNSName(under[0])).verify(cert, [])
    except verification.VerificationError as exc:
        raise PeerRefused(
            f"the certificate {cert.subject.rfc4514_string()} does not chain to the CA"
            f" registered for {peer.domain} as a TLS server ({exc})"
        ) from None
    return _identity(cert, peer.domain, under)


def peer_certificate(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> bytes | None:
    """The DER of the certificate the other end presented, if any."""
    if ssl_object is None:
        return None
    return ssl_object.getpeercert(binary_form=True)


@dataclass(frozen=True, slots=True)
class TrustSnapshot:
    """The trust list at one moment, and a version that changes when it changes."""

    peers: tuple[TrustedPeer, ...]
    version: str

    def peer(self, domain: str) -> TrustedPeer | None:
        wanted = domain.lower().rstrip(".")
        return next((p for p in self.peers if p.domain == wanted), None)

    @property
    def anchors_pem(self) -> list[str]:
        return [p.ca_pem for p in self.peers]


def _version(peers: Sequence[TrustedPeer]) -> str:
    digest = hashlib.sha256()
    for peer in peers:
        digest.update(f"{peer.domain}\0{peer.relay}\0{peer.lookup}\0{peer.ca_pem}\0".encode())
    return digest.hexdigest()


class TrustSpace:
    """The trust list, refreshed from the database, and the SSLContexts made from it."""

    def __init__(
        self, db: Database, tls: ReloadableContexts, *, refresh_seconds: float = REFRESH_SECONDS
    ) -> None:
        self.db = db
        self.tls = tls
        self.refresh_seconds = refresh_seconds
        self._snapshot: TrustSnapshot | None = None
        self._loaded_at = 0.0
        self._lock = asyncio.Lock()
        self._server: tuple[str, ssl.SSLContext] | None = None
        self._clients: dict[str, tuple[str, ssl.SSLContext]] = {}

    def invalidate(self) -> None:
        """Forget the cached list (the next use reads the database)."""
        self._loaded_at = 0.0

    async def snapshot(self) -> TrustSnapshot:
        if self._snapshot is not None and time.monotonic() - self._loaded_at < self.refresh_seconds:
            return self._snapshot
        async with self._lock:
            if self._snapshot is None or time.monotonic() - self._loaded_at >= self.refresh_seconds:
                async with self.db.read() as session:
                    rows = await repository.trust_domains(session)
                    peers = tuple(TrustedPeer.of(r) for r in rows)
                self._snapshot = TrustSnapshot(peers, _version(peers))
                self._loaded_at = time.monotonic()
            return self._snapshot

    async def server_context(self) -> tuple[ssl.SSLContext, TrustSnapshot]:
        """A server context demanding a client certificate from any trusted domain
        (rebuilt when the trust list changes), and the list it was made from."""
        snap = await self.snapshot()
        if self._server is None or self._server[0] != snap.version:
            ctx = server_context(
                self.tls.material, client_cas_pem=snap.anchors_pem, require_client_cert=True
            )
            self._server = (snap.version, self.tls.track(ctx))
        return self._server[1], snap

    def latest_snapshot(self) -> TrustSnapshot:
        """The list the current server context was made from, for code that cannot
        await (the MX's STARTTLS hook)."""
        if self._snapshot is None:
            raise RuntimeError("the trust list is not loaded yet")
        return self._snapshot

    def current_server_context(self) -> ssl.SSLContext:
        """The latest server context, for code that cannot await (protocol factories,
        the SNI callback). `server_context()` must have run once (listeners do it at
        start and then keep it fresh with `keep_fresh`)."""
        if self._server is None:
            raise RuntimeError("the trust contexts are not built yet")
        return self._server[1]

    def front_context(self) -> ssl.SSLContext:
        """A context for an implicit-TLS listener whose handshakes use the latest trust
        list: its SNI callback (called for every ClientHello, with or without a name)
        switches the connection to `current_server_context()`, whose CA store OpenSSL
        then verifies the client certificate against."""
        ctx = server_context(self.tls.material, require_client_cert=True)

        def switch(ssl_object: ssl.SSLObject, _name: str | None, _ctx: ssl.SSLContext) -> None:
            ssl_object.context = self.current_server_context()

        ctx.sni_callback = switch
        return self.tls.track(ctx)

    async def keep_fresh(self) -> None:
        """Rebuild the server context whenever the trust list changes (a listener's
        background task; cancel it to stop)."""
        while True:
            await asyncio.sleep(self.refresh_seconds)
            try:
                await self.server_context()
            except StorageUnavailable:
                continue  # keep serving with the last good list

    async def client_context(self, domain: str) -> tuple[ssl.SSLContext, TrustedPeer]:
        """A client context presenting our certificate and trusting only `domain`'s CA.
        PeerRefused when the domain is not (or no longer) in the trust list."""
        snap = await self.snapshot()
        peer = snap.peer(domain)
        if peer is None:
            raise PeerRefused(f"{domain} is not a trusted domain")
        cached = self._clients.get(peer.domain)
        key = _version([peer])
        if cached is None or cached[0] != key:
            ctx = client_context(self.tls.material, [peer.ca_pem])
            cached = (key, self.tls.track(ctx))
            self._clients[peer.domain] = cached
        return cached[1], peer
