"""Checking what a client protected itself before it is passed on (DESIGN section 5.3).

A mail client that holds its keys (exported by `salus keys export`) may sign, or sign
and encrypt, on its own. Salus then does not protect the message again, but it still
makes sure the signature belongs to the authenticated sender, the From address:

- S/MIME signed only: the signature must verify, chain to this operator's CA (and not
  be revoked) and be made by the From address's certificate;
- encrypted (S/MIME enveloped or PGP/MIME): decrypted with the local recipients' keys
  (every generation), and the signature inside judged the same way (OpenPGP: made by
  the From address's key). When no local recipient can open it, the refusal is one
  sentence whatever failed (no padding oracle: `crypto.smime.unprotect`). A message
  for other operators' recipients only is opened with the sender's own keys when the
  client encrypted to itself, and otherwise passed on: the receiving operator's MX
  verifies the signature before accepting it.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from crypto import keystore, openpgp, smime
from crypto.ca import export_chain
from crypto.errors import DecryptionError, EnvelopeRefused, NoUsableKey
from gateway.protection import Order, Protector, refused
from gateway.trust import inbound

UNREADABLE = (
    "the encrypted message cannot be opened with its recipients' keys here, or is not"
    " signed inside by the From address: encrypt it to the recipients' current"
    " certificates and sign it with your own (or send it unprotected: Salus signs and"
    " encrypts it)"
)


async def check_client_signed(
    protector: Protector, entity: bytes, signer: str, now: dt.datetime
) -> None:
    """An S/MIME signed entity: its signature must hold and be the From address's."""
    anchors, crl = await _trust(protector)
    result = await protector.pool.run(smime.verify, entity, [anchors], now, crl, sender=signer)
    if not result.valid:
        raise refused(
            550, "5.7.1", f"the message's S/MIME signature is not accepted: {result.detail}"
        )


async def check_client_encrypted(
    protector: Protector, order: Order, form: str, now: dt.datetime
) -> None:
    """An encrypted message: its inner signature, where a key here can open it."""
    local = [r.address for r in order.recipients if r.local]
    _, entity = smime.split_message(order.message)
    if form == inbound.SMIME:
        await _check_smime(protector, entity, order.signer, local, now)
    else:
        await _check_openpgp(protector, entity, order.signer, local, now)


async def _check_smime(
    protector: Protector, entity: bytes, signer: str, local: list[str], now: dt.datetime
) -> None:
    async with protector.db.lookup() as session:
        pairs = [
            (pair.key_pem, pair.chain_pem)
            for address in local or [signer]
            for pair in await keystore.decryption_keys(session, protector.sealer, address)
        ]
    if not pairs:
        return
    anchors, crl = await _trust(protector)
    try:
        result = await protector.pool.run(
            smime.unprotect, entity, pairs, [anchors], now, crl, sender=signer
        )
    except EnvelopeRefused as exc:
        raise refused(550, "5.7.1", f"the message's encryption is refused: {exc.detail}") from None
    except DecryptionError:
        if local:
            raise refused(550, "5.7.1", UNREADABLE) from None
        return
    if not result.valid:
        raise refused(
            550, "5.7.1", f"the signature inside the message is not accepted: {result.detail}"
        )


async def _check_openpgp(
    protector: Protector, entity: bytes, signer: str, local: list[str], now: dt.datetime
) -> None:
    async with protector.db.lookup() as session:
        secrets = [
            secret
            for address in local or [signer]
            for secret in await keystore.openpgp_secrets(session, protector.sealer, address)
        ]
        try:
            public = await keystore.openpgp_public(session, signer)
        except NoUsableKey:
            raise refused(
                550, "5.7.1", f"<{signer}>, the From address, has no active OpenPGP key"
            ) from None
    if not secrets:
        return
    try:
        result = await protector.pool.run(
            openpgp.decrypt_and_verify, entity, secrets, [public], at=now
        )
    except openpgp.MessageRefused as exc:
        raise refused(550, "5.7.1", f"the PGP/MIME message is refused: {exc.detail}") from None
    except DecryptionError:
        if local:
            raise refused(550, "5.7.1", UNREADABLE) from None
        return
    if not result.signature_valid or signer not in result.signer_addresses:
        raise refused(
            550,
            "5.7.1",
            f"the OpenPGP signature inside the message is not <{signer}>'s, the From address"
            f" ({result.reason or 'signed by another key'})",
        )


async def _trust(protector: Protector) -> tuple[bytes, list[bytes]]:
    """This operator's CA chain (the anchors of its mailboxes' signatures) and its CRL."""
    anchors = await asyncio.to_thread(export_chain, protector.data_dir)
    async with protector.db.lookup() as session:
        return anchors, await keystore.crl_pems(session)
