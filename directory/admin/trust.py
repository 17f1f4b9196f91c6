"""The trust space: other operators' domains, their CA certificates (trust anchors) and
where their MX and certificate lookup listen."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import HostPort
from directory import repository
from directory.addresses import parse_domain
from directory.admin.changes import record
from directory.errors import AlreadyExists, InvalidInput, NotFound
from directory.models import TrustDomain
from storage.base import utcnow


@dataclass(frozen=True, slots=True)
class TrustDomainInput:
    domain: str
    ca_pem: bytes
    relay: HostPort
    lookup: HostPort
    operator_name: str = ""


def ca_certificates(pem: bytes, *, now: dt.datetime) -> list[x509.Certificate]:
    """The certificates of a PEM bundle, each checked to be a CA valid at `now`."""
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise InvalidInput(f"the CA file holds no readable PEM certificate ({exc})") from None
    for number, cert in enumerate(certs, start=1):
        subject = cert.subject.rfc4514_string()
        try:
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            constraints = None
        if constraints is None or not constraints.ca:
            raise InvalidInput(
                f"certificate {number} ({subject}) is not a CA (no basicConstraints CA:TRUE)"
            )
        if cert.not_valid_after_utc < now:
            raise InvalidInput(
                f"certificate {number} ({subject}) expired on {cert.not_valid_after_utc:%Y-%m-%d}"
            )
    return certs


def _operator_name(certs: list[x509.Certificate]) -> str:
    for oid in (NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME):
        values = certs[0].subject.get_attributes_for_oid(oid)
        if values:
            return str(values[0].value)[:255]
    return ""


async def add_trust_domain(
    session: AsyncSession,
    actor: str,
    peer: TrustDomainInput,
    *,
    local_domains: tuple[str, ...],
    replace: bool = False,
) -> TrustDomain:
    """Register another operator's domain (or, with `replace`, update it: a CA rotation)."""
    domain = parse_domain(peer.domain)
    if domain in local_domains:
        raise InvalidInput(f"{domain} is one of this operator's own domains")
    for what, where in (("relay", peer.relay), ("lookup", peer.lookup)):
        if where.port == 0:
            raise InvalidInput(f"the {what} address {where} needs a port from 1 to 65535")
    certs = ca_certificates(peer.ca_pem, now=utcnow())
    ca_pem = b"".join(c.public_bytes(Encoding.PEM) for c in certs).decode("ascii")
    existing = await repository.trust_domain(session, domain)
    if existing is not None and not replace:
        raise AlreadyExists(f"trust domain {domain} already exists (use --replace to update it)")
    target = existing or TrustDomain(domain=domain)
    target.operator_name = peer.operator_name.strip() or _operator_name(certs)
    target.ca_pem = ca_pem
    target.relay_host, target.relay_port = peer.relay.host, peer.relay.port
    target.lookup_host, target.lookup_port = peer.lookup.host, peer.lookup.port
    if existing is None:
        session.add(target)
    await session.flush()
    await record(
        session,
        actor,
        "trust.replace" if existing else "trust.add",
        domain,
        {"relay": str(peer.relay), "lookup": str(peer.lookup), "anchors": len(certs)},
    )
    return target


async def remove_trust_domain(session: AsyncSession, actor: str, domain: str) -> None:
    found = await repository.trust_domain(session, domain)
    if found is None:
        raise NotFound(f"no trust domain {domain.strip().lower()!r}")
    await session.delete(found)
    await session.flush()
    await record(session, actor, "trust.remove", found.domain)
