"""The protect step (DESIGN section 5.3): what leaves the pipeline is signed by its
sender and encrypted for its recipients, in the form each recipient's mailbox asks for.

One copy per crypto form (`smime` EnvelopedData AES-256-CBC, `smime-gcm` AuthEnvelopedData
AES-256-GCM, `openpgp` PGP/MIME): the outer header (From, To, Subject, Message-ID, ...)
is split from the MIME entity, the entity is signed then encrypted in the crypto process
pool, and the outer header is put back, so the Message-ID the client wrote stays where
`salus trace` and mail clients find it. The forms are sealed concurrently.

What the client submitted decides the work:
- plaintext: signed with the From address's keys (S/MIME, or OpenPGP for the `openpgp`
  copy), then encrypted;
- S/MIME signed only: the signature must hold (our CA, signer = From), then the signed
  entity is encrypted as it is; the `openpgp` copy wraps it in a PGP/MIME signature,
  since OpenPGP readers do not read S/MIME signatures;
- already encrypted (S/MIME enveloped or PGP/MIME): passed through as one copy, once its
  inner signature is checked where a key here can open it (`client_protected`).

Keys: the sender's from the key store (opened with the KeySealer), local recipients'
active certificates and OpenPGP keys, other operators' recipients' published keys
(`RemoteKeys`, looked up at RCPT). A recipient without a usable key is a refusal, never
plaintext.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from crypto import keystore, openpgp, policy, smime
from crypto.errors import KeyMaterialError, NoUsableKey
from crypto.smime import mime
from gateway.client_protected import check_client_encrypted, check_client_signed
from gateway.protection import (
    CLIENT,
    FORMS,
    OPENPGP,
    Order,
    Protector,
    Sealed,
    refused,
)
from gateway.trust import inbound
from gateway.trust.remote_keys import RemoteKeys
from storage.database import Database

KeyMaterial = bytes | str  # a certificate (PEM) or an armored OpenPGP public key
# A generation MAIL or RCPT read is used at DATA for this long; after it (a slow upload)
# the key store is read again, so a key revoked meanwhile is not used.
KEYS_READ_WITHIN = 5.0


@dataclass
class _Keys:
    by_form: dict[str, list[tuple[str, KeyMaterial]]] = field(default_factory=dict)
    smime_signer: keystore.SmimeKeyPair | None = None
    openpgp_signer: str = ""


async def protect(protector: Protector, order: Order, now: dt.datetime) -> list[Sealed]:
    """The protected copies of `order.message`, one per crypto form of its recipients.
    ProtectionRefused for a refusal the sender can act on; other CryptoErrors (a pool
    failure, an unreadable CA) are local faults the caller answers with a 451."""
    form = inbound.protection_form(order.message)
    if form is not None:
        await check_client_encrypted(protector, order, form, now)
        return [Sealed(order.message, order.addresses, CLIENT)]
    _, entity = smime.split_message(order.message)
    signed = smime_signed(entity)
    if signed:
        await check_client_signed(protector, entity, order.signer, now)
    keys = await _gather(protector, order, signed_already=signed)
    jobs = [_seal(protector, order.message, keys, f, signed) for f in FORMS if f in keys.by_form]
    try:
        return list(await asyncio.gather(*jobs))
    except KeyMaterialError as exc:  # a key the policy refuses (revoked, expired, weak)
        raise refused(550, "5.7.1", f"a key of this message cannot be used: {exc}") from None


def smime_signed(entity: bytes) -> bool:
    """An S/MIME signed entity (RFC 8551 §3.5): multipart/signed with the pkcs7 protocol,
    or opaque signed-data. A PGP/MIME signed entity is signed again inside our copy."""
    try:
        top = mime.parse(entity)
    except mime.MimeError:
        return False
    if top.content_type == "multipart/signed":
        return (top.param("protocol") or "").lower() in mime.PKCS7_SIGNATURE
    return mime.is_signed(top)


async def _seal(
    protector: Protector, message: bytes, keys: _Keys, form: str, signed_already: bool
) -> Sealed:
    outer, entity = smime.split_message(message)
    addresses = tuple(address for address, _ in keys.by_form[form])
    material = [key for _, key in keys.by_form[form]]
    pool = protector.pool
    if form == OPENPGP:
        publics = [k if isinstance(k, str) else k.decode("ascii") for k in material]
        body = await pool.run(openpgp.sign_and_encrypt, entity, keys.openpgp_signer, publics)
    elif signed_already:
        certs = [k if isinstance(k, bytes) else k.encode("ascii") for k in material]
        body = await pool.run(smime.encrypt, entity, certs, form)
    else:
        certs = [k if isinstance(k, bytes) else k.encode("ascii") for k in material]
        signer = keys.smime_signer
        if signer is None:  # _gather loads it for every S/MIME copy it has to sign
            raise KeyMaterialError("no S/MIME signing key was loaded")
        body = await pool.run(
            smime.sign_and_encrypt, entity, signer.key_pem, signer.chain_pem, certs, form
        )
    return Sealed(smime.join_message(outer, body), addresses, form)


async def _gather(protector: Protector, order: Order, *, signed_already: bool) -> _Keys:
    """Every key the copies need: point look-ups, inline on SQLite (storage.inline)."""
    keys = _Keys()
    db = protector.db
    for recipient in order.recipients:
        form = recipient.crypto if recipient.crypto in FORMS else policy.FORM_CBC
        key = (
            await _local_key(db, recipient.address, form, order.local_keys)
            if recipient.local
            else _remote_key(order.remote_keys, recipient.address, form)
        )
        keys.by_form.setdefault(form, []).append((recipient.address, key))
    try:
        await _signers(protector, order, keys, signed_already)
    except NoUsableKey:
        raise refused(
            550,
            "5.7.1",
            f"<{order.signer}>, the From address, has no active signing key: ask an"
            " administrator to issue its keys (salus keys issue)",
        ) from None
    return keys


async def _signers(protector: Protector, order: Order, keys: _Keys, signed_already: bool) -> None:
    """Load the sender's keys that the copies sign with (NoUsableKey without them): the
    generation MAIL read when the From is the envelope sender and the read is recent
    (KEYS_READ_WITHIN), else the active one read now."""
    signer = order.signer
    if not signed_already and (policy.FORM_CBC in keys.by_form or policy.FORM_GCM in keys.by_form):
        checked = order.signing
        if (
            checked is None
            or checked.address != keystore.normalise(signer)
            or not checked.read_within(KEYS_READ_WITHIN)
        ):
            checked = await keystore.signing_keys(protector.db, signer)
        if checked is None:
            raise NoUsableKey(keystore.normalise(signer), "S/MIME")
        keys.smime_signer = keystore.open_signer(protector.sealer, protector.data_dir, checked)
    if OPENPGP in keys.by_form:
        async with protector.db.lookup() as session:
            if await keystore.active(session, signer) is None:
                raise NoUsableKey(signer, "OpenPGP")
            # Generations come newest first, and the newest is the active one.
            secrets = await keystore.openpgp_secrets(session, protector.sealer, signer)
        keys.openpgp_signer = secrets[0]


async def _local_key(
    db: Database, address: str, form: str, checked: Mapping[str, keystore.ActiveKeys]
) -> KeyMaterial:
    """A local recipient's key in `form`: from the generation RCPT read (if recent), or
    looked up now (a recipient named by the documents of a routed message)."""
    keys = checked.get(address.lower())
    if keys is not None and not keys.read_within(KEYS_READ_WITHIN):
        keys = None
    try:
        if form == OPENPGP:
            if keys is not None and keys.openpgp_public:
                return keys.openpgp_public
            return await keystore.openpgp_public(db, address)
        if keys is not None:
            return keys.smime_cert_pem.encode("ascii")
        return await keystore.recipient_cert(db, address)
    except NoUsableKey:
        raise refused(
            550, "5.7.1", f"<{address}>: the keys of this mailbox are not issued"
        ) from None


def _remote_key(remote_keys: Mapping[str, RemoteKeys], address: str, form: str) -> KeyMaterial:
    keys = remote_keys.get(address.lower())
    if keys is None:  # RCPT looked them up; a recipient added otherwise has none
        raise refused(550, "5.7.1", f"<{address}>: no key its operator published is known here")
    return keys.openpgp_public if form == OPENPGP else keys.certificate_pem
