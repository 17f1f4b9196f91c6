"""Passwords, app passwords and client-certificate bindings of mailboxes served here.

Secrets are hashed with argon2id (`directory.passwords`) and never stored, logged or
audited in clear; a generated app password is returned once to be shown once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from directory import passwords
from directory.admin.changes import existing_local_mailbox, record
from directory.errors import AlreadyExists, InvalidInput, NotFound
from directory.models import CertificateBinding, Credential, CredentialKind

MAX_LABEL = 64
_SELECTOR_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class AppPasswordInfo:
    label: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None


async def set_password(session: AsyncSession, actor: str, address: str, password: str) -> None:
    """Set (or replace) the password of a mailbox served here."""
    mailbox = await existing_local_mailbox(session, address)
    reason = passwords.password_problem(password)
    if reason is not None:
        raise InvalidInput(f"password refused for {mailbox.address}: {reason}")
    secret_hash = await passwords.hash_secret(password)
    existing = (
        await session.execute(
            select(Credential).where(
                Credential.mailbox_id == mailbox.id, Credential.kind == CredentialKind.PASSWORD
            )
        )
    ).scalar_one_or_none()
    if existing is None:
        session.add(
            Credential(mailbox_id=mailbox.id, kind=CredentialKind.PASSWORD, secret_hash=secret_hash)
        )
    else:
        existing.secret_hash = secret_hash
        existing.last_used_at = None
    await session.flush()
    await record(session, actor, "directory.password.set", mailbox.address)


def _label(label: str) -> str:
    label = label.strip()
    if not label or len(label) > MAX_LABEL or not label.isprintable():
        raise InvalidInput(f"invalid label {label!r}: 1 to {MAX_LABEL} printable characters")
    return label


async def add_app_password(session: AsyncSession, actor: str, address: str, label: str) -> str:
    """Generate an app password for a mail client; returns its text, shown once."""
    mailbox = await existing_local_mailbox(session, address)
    label = _label(label)
    existing = list(
        (
            await session.execute(select(Credential).where(Credential.mailbox_id == mailbox.id))
        ).scalars()
    )
    if any(c.kind == CredentialKind.APP_PASSWORD and c.label == label for c in existing):
        raise AlreadyExists(f"{mailbox.address} already has an app password labelled {label!r}")
    used = {c.selector for c in existing}
    generated = passwords.generate_app_password()
    for _ in range(_SELECTOR_ATTEMPTS):
        if generated.selector not in used:
            break
        generated = passwords.generate_app_password()
    session.add(
        Credential(
            mailbox_id=mailbox.id,
            kind=CredentialKind.APP_PASSWORD,
            label=label,
            selector=generated.selector,
            secret_hash=await passwords.hash_secret(generated.text),
        )
    )
    try:
        await session.flush()
    except IntegrityError as exc:  # a selector collision twice in 2^30: refuse, never overwrite
        raise AlreadyExists(
            f"could not make a unique app password for {mailbox.address}: try again"
        ) from exc
    await record(session, actor, "directory.app-password.add", mailbox.address, {"label": label})
    return generated.text


async def app_passwords(session: AsyncSession, address: str) -> list[AppPasswordInfo]:
    mailbox = await existing_local_mailbox(session, address)
    rows = (
        await session.execute(
            select(Credential)
            .where(
                Credential.mailbox_id == mailbox.id, Credential.kind == CredentialKind.APP_PASSWORD
            )
            .order_by(Credential.label)
        )
    ).scalars()
    return [AppPasswordInfo(c.label, c.created_at, c.last_used_at) for c in rows]


async def revoke_app_passwords(
    session: AsyncSession, actor: str, address: str, label: str | None
) -> int:
    """Revoke the app password labelled `label`, or all of them when `label` is None."""
    mailbox = await existing_local_mailbox(session, address)
    condition = [
        Credential.mailbox_id == mailbox.id,
        Credential.kind == CredentialKind.APP_PASSWORD,
    ]
    if label is not None:
        condition.append(Credential.label == label.strip())
    result = await session.execute(delete(Credential).where(*condition))
    count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if label is not None and count == 0:
        raise NotFound(f"{mailbox.address} has no app password labelled {label.strip()!r}")
    await record(
        session,
        actor,
        "directory.app-password.revoke",
        mailbox.address,
        {"label": label, "count": count},
    )
    return count


def load_certificate(data: bytes) -> x509.Certificate:
    """One certificate, PEM or DER."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise InvalidInput(f"not a certificate (PEM or DER): {exc}") from exc


async def bind_certificate(
    session: AsyncSession, actor: str, address: str, cert: x509.Certificate
) -> str:
    """Let this client certificate log in as the mailbox; returns its fingerprint."""
    mailbox = await existing_local_mailbox(session, address)
    fingerprint = hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()
    bound = (
        await session.execute(
            select(CertificateBinding).where(CertificateBinding.fingerprint == fingerprint)
        )
    ).scalar_one_or_none()
    if bound is not None:
        raise AlreadyExists(f"certificate {fingerprint} is already bound to a mailbox")
    session.add(
        CertificateBinding(
            mailbox_id=mailbox.id,
            fingerprint=fingerprint,
            subject=cert.subject.rfc4514_string()[:512],
        )
    )
    await session.flush()
    await record(
        session, actor, "directory.certificate.bind", mailbox.address, {"fingerprint": fingerprint}
    )
    return fingerprint


async def unbind_certificate(
    session: AsyncSession, actor: str, address: str, fingerprint: str
) -> None:
    mailbox = await existing_local_mailbox(session, address)
    fingerprint = fingerprint.strip().lower().replace(":", "")
    result = await session.execute(
        delete(CertificateBinding).where(
            CertificateBinding.mailbox_id == mailbox.id,
            CertificateBinding.fingerprint == fingerprint,
        )
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"no certificate {fingerprint} bound to {mailbox.address}")
    await record(
        session,
        actor,
        "directory.certificate.unbind",
        mailbox.address,
        {"fingerprint": fingerprint},
    )


async def certificate_bindings(session: AsyncSession, address: str) -> list[CertificateBinding]:
    mailbox = await existing_local_mailbox(session, address)
    rows = await session.execute(
        select(CertificateBinding)
        .where(CertificateBinding.mailbox_id == mailbox.id)
        .order_by(CertificateBinding.id)
    )
    return list(rows.scalars())
