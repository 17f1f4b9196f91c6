"""Checking an inbound message's protection for each recipient, and what to store.

For each accepted recipient the message is decrypted with that mailbox's keys (every
generation: crypto.keystore) and its signature judged (`gateway.trust.inbound`): S/MIME
against the sending domain's CA with the From address, PGP/MIME against the key the
sending domain's lookup publishes for the From address. S/MIME signers are checked
against the sending domain's current CRL, fetched from its lookup (`PeerCrls`); when
none can be had the message is deferred (451), not judged blind. The CPU work runs in
the crypto process pool.

Then the copies: client-decrypt mailboxes receive the original ciphertext (with our
trace and result fields on top), server-decrypt mailboxes the verified plaintext (with
the result field); the queue and the mailbox store seal both at rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from crypto import keystore
from directory.models import DeliveryMode
from directory.repository import MailboxRef
from gateway.pipeline import Copy
from gateway.trust import inbound
from gateway.trust.inbound import InboundDeferred, InboundRefused, Verified
from gateway.trust.peer_crl import RevocationUnknown
from gateway.trust.remote_keys import KeyLookupFailed
from mailserver.app import Runtime
from mailserver.trust_tls import TrustedPeer
from storage.base import utcnow


@dataclass(frozen=True, slots=True)
class Checked:
    mailbox: MailboxRef
    verified: Verified


async def check_recipients(
    runtime: Runtime,
    *,
    message: bytes,
    sender: str,
    peer: TrustedPeer,
    recipients: Sequence[MailboxRef],
) -> list[Checked]:
    """Decrypt and verify for every recipient; InboundRefused at the first failure
    (InboundDeferred when it cannot be judged now)."""
    form = inbound.protection_form(message)
    signer_public = ""
    crl: list[bytes] = []
    if form == inbound.OPENPGP:
        signer_public = await _signer_openpgp_key(runtime, sender)
    else:
        crl = await _sending_domain_crl(runtime, peer.domain)
    checked = []
    pool, now = runtime.crypto_pool, utcnow()
    for mailbox in recipients:
        if form == inbound.SMIME:
            async with runtime.db.read() as session:
                pairs = await keystore.decryption_keys(session, runtime.sealer, mailbox.address)
            keys = [(p.key_pem, p.chain_pem) for p in pairs]
            anchors = [peer.ca_pem.encode("ascii")]
            verified = await pool.run(
                inbound.verify_smime, message, keys, anchors, sender, now, crl=crl
            )
        else:
            async with runtime.db.read() as session:
                secrets = await keystore.openpgp_secrets(session, runtime.sealer, mailbox.address)
            verified = await pool.run(
                inbound.verify_openpgp, message, secrets, signer_public, sender, now
            )
        checked.append(Checked(mailbox, verified))
    return checked


async def _signer_openpgp_key(runtime: Runtime, sender: str) -> str:
    """The OpenPGP key the sending domain publishes for `sender` (its S/MIME certificate
    checked against that domain's CRL on the way, `LookupClient.keys`)."""
    try:
        return (await runtime.key_lookup.keys(sender)).openpgp_public
    except KeyLookupFailed as exc:
        refusal = InboundDeferred if exc.temporary else InboundRefused
        raise refusal(f"the sender's OpenPGP key cannot be had: {exc.reason}") from None


async def _sending_domain_crl(runtime: Runtime, domain: str) -> list[bytes]:
    """The sending domain's current CRL (PEM; none when it publishes none)."""
    try:
        crl = await runtime.key_lookup.crls.current(domain)
    except RevocationUnknown as unknown:
        raise InboundDeferred(
            f"the revocation status of {domain}'s certificates is unknown now ({unknown.reason})"
        ) from None
    return [] if crl is None else [crl.pem]


def copies(
    message: bytes, checked: Sequence[Checked], *, trace: bytes, hostname: str
) -> list[Copy]:
    """One copy for the client-decrypt recipients (the ciphertext), one per
    server-decrypt recipient (its verified plaintext)."""
    original = inbound.without_foreign_results(message)
    ciphertext_for = [c for c in checked if c.mailbox.delivery != DeliveryMode.SERVER_DECRYPT]
    made: list[Copy] = []
    if ciphertext_for:
        result = inbound.authentication_results(hostname, ciphertext_for[0].verified)
        made.append(
            Copy(trace + result + original, tuple(c.mailbox.address for c in ciphertext_for))
        )
    for c in checked:
        if c.mailbox.delivery == DeliveryMode.SERVER_DECRYPT:
            plaintext = inbound.server_decrypted(message, c.verified, hostname)
            made.append(Copy(trace + plaintext, (c.mailbox.address,)))
    return made
