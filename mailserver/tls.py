"""TLS contexts for every listener and for the relay client (DESIGN section 3).

TLS 1.2 or 1.3; on 1.2 only ECDHE key exchange with AES-GCM or the AES-CBC-SHA256/384
suites of the MSSanté client referential; no RSA key exchange, no SHA-1 MACs, no
compression, no renegotiation. The certificate and key are re-read by `reload()` (SIGHUP)
into the same SSLContext objects, so sessions already open keep theirs and new handshakes
use the new certificate.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# OpenSSL cipher string for TLS 1.2 (TLS 1.3 suites are all AEAD and left at defaults).
TLS12_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-SHA384",
        "ECDHE-RSA-AES256-SHA384",
        "ECDHE-ECDSA-AES128-SHA256",
        "ECDHE-RSA-AES128-SHA256",
    )
)


class TlsConfigError(Exception):
    """The certificate or key cannot be loaded; the message names the file."""


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    """Where the service certificate lives. `key_password` unlocks an encrypted key."""

    cert_file: Path
    key_file: Path
    key_password: bytes | None = None


def _harden(ctx: ssl.SSLContext) -> None:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS12_CIPHERS)
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE


def _load_chain(ctx: ssl.SSLContext, material: TlsMaterial) -> None:
    try:
        ctx.load_cert_chain(material.cert_file, material.key_file, material.key_password)
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(
            f"cannot load TLS certificate {material.cert_file} with key {material.key_file}: {exc}"
        ) from exc


def server_context(
    material: TlsMaterial,
    *,
    client_cas_pem: Iterable[str] = (),
    require_client_cert: bool = False,
) -> ssl.SSLContext:
    """A server context. With `client_cas_pem`, client certificates chaining to those CAs
    are asked for (CERT_OPTIONAL) or demanded (`require_client_cert`); the caller still
    checks which trust domain the chain belongs to (PITFALLS "aiosmtpd")."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _harden(ctx)
    _load_chain(ctx, material)
    cas = "\n".join(client_cas_pem)
    if cas.strip():
        ctx.load_verify_locations(cadata=cas)
        ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    elif require_client_cert:
        # No trust anchor yet: every client certificate is refused (no peer is trusted).
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def client_context(material: TlsMaterial | None, server_cas_pem: Iterable[str]) -> ssl.SSLContext:
    """A client context for relaying: verifies the peer against `server_cas_pem` only and
    presents our certificate when `material` is given. Host-name checks are done by the
    caller against the trust domain, not the address connected to (DESIGN section 3)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _harden(ctx)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    cas = "\n".join(server_cas_pem)
    if not cas.strip():
        raise TlsConfigError("no trust anchor given for the peer")
    ctx.load_verify_locations(cadata=cas)
    if material is not None:
        _load_chain(ctx, material)
    return ctx


class ReloadableContexts:
    """Keeps the server contexts built from one certificate and reloads them together."""

    def __init__(self, material: TlsMaterial) -> None:
        self.material = material
        self._contexts: list[ssl.SSLContext] = []

    def track(self, ctx: ssl.SSLContext) -> ssl.SSLContext:
        self._contexts.append(ctx)
        return ctx

    def reload(self, material: TlsMaterial | None = None) -> None:
        """Load the (possibly new) certificate into every tracked context.

        Checked on a scratch context first, so a bad new file leaves the old one serving.
        """
        new = material or self.material
        probe = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        _load_chain(probe, new)
        for ctx in self._contexts:
            _load_chain(ctx, new)
        self.material = new
