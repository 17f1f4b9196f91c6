"""The key store: every local mailbox's key generations, private parts sealed at rest.

Making keys is CPU work done before any transaction (`generate`); storing, renewing and
revoking run inside the caller's write transaction, with the caller's audit entry beside
them. The CRL lives in the database (`ca_crl`, the source of truth for every node) and is
mirrored to `DIR/ca/crl.pem` by `write_crl_file` after the commit.

What the pipeline uses: `signer` (the sender's key and chain, to sign), `recipient_cert`
(a local recipient's certificate, to encrypt to), `decryption_keys` (every generation, to
decrypt), and the OpenPGP counterparts. Keys leave this module as PEM or armored text, the
form the process pool takes.
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from crypto import ca as service_ca
from crypto import openpgp, pkcs12, policy
from crypto.errors import KeyStoreError, NoUsableKey
from crypto.models import CaCrl, KeyStatus, MailboxKey
from crypto.profiles import RevokedSerial
from crypto.sealing import KeyProtector, open_private_key, reseal, seal_private_key
from storage.database import Database
from storage.inline import AnySelect, rows

_CRL_ROW = 1


@dataclass(frozen=True, slots=True)
class NewKeys:
    """A key generation made by `generate`, sealed, ready to store."""

    address: str
    cert: x509.Certificate
    smime_key_sealed: bytes
    openpgp_fingerprint: str
    openpgp_public: str
    openpgp_secret_sealed: bytes


@dataclass(frozen=True, slots=True)
class SmimeKeyPair:
    """An unsealed S/MIME key and its certificate chain (leaf first), PEM."""

    key_pem: bytes
    chain_pem: bytes


def normalise(address: str) -> str:
    return address.strip().lower()


def smime_context(address: str, serial: str) -> bytes:
    return f"mailbox/{address}/{serial}/smime".encode()


def openpgp_context(address: str, serial: str) -> bytes:
    return f"mailbox/{address}/{serial}/openpgp".encode()


def serial_hex(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


def generate(
    ca: service_ca.ServiceCa, protector: KeyProtector, address: str, name: str, now: dt.datetime
) -> NewKeys:
    """Make one key generation for `address`: CPU work (RSA key generation), no I/O."""
    address = normalise(address)
    private = rsa.generate_private_key(policy.RSA_PUBLIC_EXPONENT, policy.MAILBOX_RSA_BITS)
    cert = ca.issue_mailbox(private.public_key(), address, name, now)
    secret, public = openpgp.generate_key(address, name or address)
    serial = serial_hex(cert)
    return NewKeys(
        address=address,
        cert=cert,
        smime_key_sealed=seal_private_key(protector, private, smime_context(address, serial)),
        openpgp_fingerprint=openpgp.fingerprint(public),
        openpgp_public=public,
        openpgp_secret_sealed=protector.seal(
            secret.encode("utf-8"), openpgp_context(address, serial)
        ),
    )


async def generations(session: AsyncSession, address: str) -> list[MailboxKey]:
    """Every key generation of `address`, newest first."""
    query = select(MailboxKey).where(MailboxKey.address == normalise(address))
    return list((await session.execute(query.order_by(MailboxKey.id.desc()))).scalars())


async def active(session: AsyncSession, address: str) -> MailboxKey | None:
    query = select(MailboxKey).where(
        MailboxKey.address == normalise(address), MailboxKey.status == KeyStatus.ACTIVE.value
    )
    return (await session.execute(query)).scalar_one_or_none()


async def store(session: AsyncSession, keys: NewKeys, now: dt.datetime) -> MailboxKey:
    """Store a first generation; refuses when the mailbox already has an active one."""
    if await active(session, keys.address) is not None:
        raise KeyStoreError(f"{keys.address} already has an active key: renew it instead")
    return await _insert(session, keys, now)


async def renew(
    session: AsyncSession, keys: NewKeys, now: dt.datetime
) -> tuple[MailboxKey, MailboxKey]:
    """Retire the active generation (kept for old mail) and store `keys` as the new one."""
    current = await active(session, keys.address)
    if current is None:
        raise KeyStoreError(f"{keys.address} has no active key to renew: issue one")
    current.status = KeyStatus.RETIRED.value
    current.retired_at = now
    await session.flush()
    return current, await _insert(session, keys, now)


async def revoke(
    session: AsyncSession, ca: service_ca.ServiceCa, address: str, now: dt.datetime
) -> list[MailboxKey]:
    """Revoke every unrevoked generation of `address` and re-sign the CRL. Private keys
    stay (old mail remains readable); the mailbox has no active key afterwards."""
    rows = [k for k in await generations(session, address) if k.status != KeyStatus.REVOKED.value]
    if not rows:
        raise KeyStoreError(f"{normalise(address)} has no key to revoke")
    for row in rows:
        row.status = KeyStatus.REVOKED.value
        row.revoked_at = now
    await session.flush()
    await publish_crl(session, ca, now)
    return rows


async def _insert(session: AsyncSession, keys: NewKeys, now: dt.datetime) -> MailboxKey:
    row = MailboxKey(
        address=keys.address,
        status=KeyStatus.ACTIVE.value,
        created_at=now,
        not_after=keys.cert.not_valid_after_utc,
        smime_serial=serial_hex(keys.cert),
        smime_cert_pem=keys.cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        smime_key_sealed=keys.smime_key_sealed,
        openpgp_fingerprint=keys.openpgp_fingerprint,
        openpgp_public=keys.openpgp_public,
        openpgp_secret_sealed=keys.openpgp_secret_sealed,
    )
    session.add(row)
    await session.flush()
    return row


# ---- the CRL --------------------------------------------------------------------------------


async def publish_crl(
    session: AsyncSession, ca: service_ca.ServiceCa, now: dt.datetime
) -> x509.CertificateRevocationList:
    """Sign a new CRL listing every revoked mailbox certificate; store it (the number
    grows under a row lock, so nodes never issue two CRLs with one number)."""
    state = (await session.execute(_locked_crl_row())).scalar_one_or_none()
    revoked_rows = (
        await session.execute(
            select(MailboxKey).where(MailboxKey.status == KeyStatus.REVOKED.value)
        )
    ).scalars()
    revoked = [
        RevokedSerial(int(r.smime_serial, 16), r.revoked_at or now)
        for r in sorted(revoked_rows, key=lambda r: r.id)
    ]
    number = 1 if state is None else state.number + 1
    crl = ca.sign_crl(revoked, number, now)
    text = crl.public_bytes(serialization.Encoding.PEM).decode("ascii")
    next_update = crl.next_update_utc or now + policy.CRL_LIFETIME
    if state is None:
        session.add(
            CaCrl(id=_CRL_ROW, number=number, this_update=now, next_update=next_update, pem=text)
        )
    else:
        state.number, state.this_update, state.next_update, state.pem = (
            number,
            now,
            next_update,
            text,
        )
    await session.flush()
    return crl


def _locked_crl_row() -> Select[CaCrl]:
    """The CRL row, locked; read afresh even if the session holds it already (a row read
    before the lock was waited for may be stale: its number would be issued twice)."""
    query = select(CaCrl).where(CaCrl.id == _CRL_ROW).with_for_update()
    return query.execution_options(populate_existing=True)


def crl_number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


async def current_crl(session: AsyncSession) -> x509.CertificateRevocationList | None:
    state = (await session.execute(select(CaCrl).where(CaCrl.id == _CRL_ROW))).scalar_one_or_none()
    return None if state is None else x509.load_pem_x509_crl(state.pem.encode("ascii"))


async def crl_pems(session: AsyncSession) -> list[bytes]:
    """The current CRL of this operator's CA as the signature checks take it (PEM, none
    before the first is signed)."""
    pem = (
        await session.execute(select(CaCrl.pem).where(CaCrl.id == _CRL_ROW))
    ).scalar_one_or_none()
    return [] if pem is None else [pem.encode("ascii")]


async def refresh_crl(
    session: AsyncSession,
    open_ca: Callable[[], service_ca.ServiceCa],
    now: dt.datetime,
    margin: dt.timedelta,
) -> x509.CertificateRevocationList | None:
    """Re-sign the CRL when there is none or less than `margin` is left before its next
    update; None when it is fresh. The check runs under the CRL row's lock, so of several
    nodes due at once one re-signs: the others wait on the lock, then read the new next
    update (PostgreSQL re-reads a row locked FOR UPDATE once its lock is released) and
    leave it. The CA key is opened (`open_ca`) only when a CRL is signed."""
    state = (await session.execute(_locked_crl_row())).scalar_one_or_none()
    if state is not None and state.next_update - now >= margin:
        return None
    return await publish_crl(session, open_ca(), now)


async def write_crl_file(session: AsyncSession, data_dir: Path) -> None:
    """Mirror the stored CRL to DIR/ca/crl.pem (after the transaction that made it)."""
    crl = await current_crl(session)
    if crl is not None:
        service_ca.write_crl(data_dir, crl)


# ---- what the pipeline and the exports use ---------------------------------------------------


def _active_key(*columns: Any) -> AnySelect:
    """A Core look-up of the active generation's `columns` (param: `address`)."""
    return select(*columns).where(
        MailboxKey.address == bindparam("address"), MailboxKey.status == KeyStatus.ACTIVE.value
    )


# The pipeline's look-ups run at every MAIL, RCPT and DATA: Core statements of the columns
# they need, through storage.inline (inline on SQLite) when given the Database.
_EXPIRY = _active_key(MailboxKey.not_after)
_CERT = _active_key(MailboxKey.smime_cert_pem)
_SIGNING = _active_key(
    MailboxKey.address,
    MailboxKey.smime_serial,
    MailboxKey.smime_cert_pem,
    MailboxKey.smime_key_sealed,
    MailboxKey.not_after,
)
_OPENPGP_PUBLIC = _active_key(MailboxKey.openpgp_public)
Source = AsyncSession | Database


@dataclass(frozen=True, slots=True)
class ActiveKeys:
    """A mailbox's active generation as the pipeline reads it in one statement: its
    public material and its expiry. MAIL reads the sender's (with the sealed key), RCPT
    each recipient's, and DATA signs and encrypts with those same generations."""

    address: str
    not_after: dt.datetime
    smime_cert_pem: str
    openpgp_public: str = ""
    smime_serial: str = ""
    smime_key_sealed: bytes = b""  # only in the sender's (`signing_keys`)
    read_at: float = field(default_factory=time.monotonic)

    def usable(self, now: dt.datetime) -> bool:
        return self.not_after > now

    def read_within(self, seconds: float) -> bool:
        """Read from the key store at most `seconds` ago."""
        return time.monotonic() - self.read_at <= seconds


async def usable_until(source: Source, address: str) -> dt.datetime | None:
    """When the active generation of `address` expires; None without one."""
    found = await rows(source, _EXPIRY, address=normalise(address))
    return found[0].not_after if found else None


async def signing_keys(source: Source, address: str) -> ActiveKeys | None:
    """The active generation of `address` with its sealed S/MIME key, to sign; None
    without one."""
    found = await rows(source, _SIGNING, address=normalise(address))
    if not found:
        return None
    row = found[0]
    return ActiveKeys(
        row.address, row.not_after, row.smime_cert_pem, "", row.smime_serial, row.smime_key_sealed
    )


def open_signer(protector: KeyProtector, data_dir: Path, keys: ActiveKeys) -> SmimeKeyPair:
    """The S/MIME key of `keys` (from `signing_keys`) unsealed, with its chain."""
    if not keys.smime_key_sealed:
        raise NoUsableKey(keys.address, "S/MIME")
    chain = keys.smime_cert_pem.encode("ascii") + service_ca.issuing_pem(data_dir)
    # A sealer is hashed by identity: each one has its own entries.
    sealer = cast(Hashable, protector)
    return SmimeKeyPair(
        _signing_pem(sealer, keys.smime_key_sealed, keys.address, keys.smime_serial), chain
    )


@functools.lru_cache(maxsize=64)
def _signing_pem(sealer: Hashable, sealed: bytes, address: str, serial: str) -> bytes:
    """A signing key unsealed, kept for the senders of the moment: opening it (AES-GCM,
    DER parse, PEM encoding) cost ~0.1 ms a message. Keyed by the sealed bytes: a new
    generation or a service-key rotation reseals, and a revoked key is no longer what
    `signing_keys` returns. The crypto workers keep the same keys loaded (`load_signer`)."""
    key = open_private_key(cast(KeyProtector, sealer), sealed, smime_context(address, serial))
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


async def signer(
    source: Source, protector: KeyProtector, data_dir: Path, address: str
) -> SmimeKeyPair:
    """The active S/MIME key of `address` with its chain (leaf, issuing CA), to sign."""
    keys = await signing_keys(source, address)
    if keys is None:
        raise NoUsableKey(normalise(address), "S/MIME")
    return open_signer(protector, data_dir, keys)


async def recipient_cert(source: Source, address: str) -> bytes:
    """The active certificate of a local mailbox (PEM), to encrypt to."""
    found = await rows(source, _CERT, address=normalise(address))
    if not found:
        raise NoUsableKey(normalise(address), "S/MIME")
    return str(found[0].smime_cert_pem).encode("ascii")


async def decryption_keys(
    session: AsyncSession, protector: KeyProtector, address: str
) -> list[SmimeKeyPair]:
    """Every generation's key and certificate, newest first (old mail stays readable)."""
    return [
        SmimeKeyPair(_key_pem(protector, row), row.smime_cert_pem.encode("ascii"))
        for row in await generations(session, address)
    ]


async def openpgp_public(source: Source, address: str) -> str:
    found = await rows(source, _OPENPGP_PUBLIC, address=normalise(address))
    if not found:
        raise NoUsableKey(normalise(address), "OpenPGP")
    return str(found[0].openpgp_public)


async def openpgp_secrets(
    session: AsyncSession, protector: KeyProtector, address: str
) -> list[str]:
    """Every generation's armored OpenPGP secret key, newest first."""
    return [_openpgp_secret(protector, row) for row in await generations(session, address)]


async def export_p12(
    session: AsyncSession, protector: KeyProtector, data_dir: Path, address: str, passphrase: str
) -> bytes:
    """A PKCS#12 file with every S/MIME key generation (newest first) and the CA chain."""
    rows = await generations(session, address)
    if not rows:
        raise NoUsableKey(normalise(address), "S/MIME")
    entries = [
        pkcs12.KeyEntry(
            open_private_key(
                protector, row.smime_key_sealed, smime_context(row.address, row.smime_serial)
            ),
            x509.load_pem_x509_certificate(row.smime_cert_pem.encode("ascii")),
            f"{row.address} ({row.status}, {row.created_at:%Y-%m-%d})",
        )
        for row in rows
    ]
    root, issuing = service_ca.load_chain(data_dir)
    return pkcs12.build(entries, [issuing, root], passphrase)


async def export_openpgp_secrets(
    session: AsyncSession, protector: KeyProtector, address: str, passphrase: str
) -> tuple[str, int]:
    """Every generation's OpenPGP secret key, passphrase-protected, newest first, as
    armored blocks one after the other (what `gpg --import` and mail clients read from
    one file), and how many: mail encrypted to a retired key stays readable."""
    rows = await generations(session, address)
    if not rows:
        raise NoUsableKey(normalise(address), "OpenPGP")
    blocks = [openpgp.export_secret(_openpgp_secret(protector, row), passphrase) for row in rows]
    return "\n".join(block.rstrip("\n") + "\n" for block in blocks), len(rows)


async def reseal_all(session: AsyncSession, protector: KeyProtector, batch: int = 500) -> int:
    """Re-seal every private key sealed under a retired service key, `batch` rows at a
    time (memory stays flat in the number of mailboxes); returns how many rows. Rows are
    detached from the session after each batch: call it in a transaction of its own."""
    done, last = 0, 0
    while True:
        query = select(MailboxKey).where(MailboxKey.id > last).order_by(MailboxKey.id).limit(batch)
        rows = list((await session.execute(query)).scalars())
        if not rows:
            return done
        for row in rows:
            if protector.needs_reseal(row.smime_key_sealed) or protector.needs_reseal(
                row.openpgp_secret_sealed
            ):
                smime_ctx = smime_context(row.address, row.smime_serial)
                pgp_ctx = openpgp_context(row.address, row.smime_serial)
                row.smime_key_sealed = reseal(protector, row.smime_key_sealed, smime_ctx)
                row.openpgp_secret_sealed = reseal(protector, row.openpgp_secret_sealed, pgp_ctx)
                done += 1
        await session.flush()
        session.expunge_all()
        last = rows[-1].id


def _key_pem(protector: KeyProtector, row: Any) -> bytes:
    # row: a MailboxKey, or a look-up row with its address, serial and sealed key
    key = open_private_key(
        protector, row.smime_key_sealed, smime_context(row.address, row.smime_serial)
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _openpgp_secret(protector: KeyProtector, row: MailboxKey) -> str:
    return protector.open(
        row.openpgp_secret_sealed, openpgp_context(row.address, row.smime_serial)
    ).decode("utf-8")
