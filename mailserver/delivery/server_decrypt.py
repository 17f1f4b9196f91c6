"""Server-decrypt mailboxes (DESIGN section 5.6): systems without S/MIME read plaintext.

A message for a mailbox in `server-decrypt` mode arrives at delivery protected as the
submission pipeline made it (encrypted to the mailbox's key, signed inside by its From
address). Before the delivering transaction opens, it is decrypted with the mailbox's
key generations and its signature checked against this operator's CA with signer = From
(`gateway.trust.inbound`, as the MX does for other operators' mail); what is delivered is
the outer header, an Authentication-Results field and the verified content, which the
mailbox store then seals at rest like every message. The crypto runs in the process
pool, never while the write transaction (SQLite's one writer) is held.

Anything that fails (no key, does not decrypt, signature refused, a From outside this
operator) is `NotDecrypted`: the delivery bounces with a DSN naming the reason, and no
plaintext is stored anywhere. Content that is not encrypted (reports this operator made,
messages the MX already verified and decrypted) is delivered as it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from config.logging import Event, get_logger
from crypto import keystore
from crypto.ca import export_chain
from crypto.errors import NoUsableKey
from directory.models import DeliveryMode, Mailbox
from gateway import mdn
from gateway.policy.rules.sender_owns_from import header_addresses
from gateway.trust import inbound
from gateway.trust.inbound import InboundRefused
from mailserver.app import Runtime
from mailserver.queue.enqueue import content_context
from mailserver.queue.models import Delivery, QueuedContent
from storage.base import utcnow
from storage.inline import fetch

log = get_logger(__name__)
MODE_LOOKUPS = 4  # distinct recipients of a batch checked one by one; more: one read
# A local mailbox's delivery mode by address (`fetch`: built once, run inline).
_DELIVERY_MODE = select(Mailbox.delivery).where(
    Mailbox.address == bindparam("address"), Mailbox.local.is_(True)
)


class NotDecrypted(Exception):
    """The message cannot be decrypted and verified for the mailbox; `reply` is the
    permanent failure its DSN quotes (RFC 3463 X.7.5, cryptographic failure)."""

    def __init__(self, recipient: str, reason: str) -> None:
        self.reply = f"554 5.7.5 <{recipient}>: server-side decryption failed: {reason}"
        super().__init__(self.reply)


@dataclass(frozen=True, slots=True)
class _Job:
    delivery_id: int
    recipient: str
    content: bytes
    form: str  # inbound.SMIME or inbound.OPENPGP


async def plaintexts(
    runtime: Runtime, ids: Sequence[int], recipients: Mapping[int, str] | None = None
) -> dict[int, bytes | NotDecrypted]:
    """For the rows among `ids` whose recipient is a server-decrypt mailbox and whose
    content is encrypted: the verified plaintext to deliver, or why there is none.
    `recipients` (row id: recipient, as the claim returned them): the rows are read only
    when one of those mailboxes is in server-decrypt mode (look-ups by address, inline)."""
    if not ids:
        return {}
    if recipients is not None and not await _any_server_decrypt(
        runtime, {recipients[i] for i in ids}
    ):
        return {}
    async with runtime.db.read() as session:
        jobs = await _jobs(runtime, session, ids)
    if not jobs:
        return {}
    results = await asyncio.gather(*(_unprotect(runtime, job) for job in jobs))
    return {job.delivery_id: result for job, result in zip(jobs, results, strict=True)}


async def _any_server_decrypt(runtime: Runtime, addresses: Collection[str]) -> bool:
    """Whether one of `addresses` may be a server-decrypt mailbox. A batch for many
    mailboxes is read in one statement instead (`_jobs`), not in a look-up each."""
    if len(addresses) > MODE_LOOKUPS:
        return True
    for address in addresses:
        found = await fetch(runtime.db, _DELIVERY_MODE, address=address)
        if found and found[0].delivery == DeliveryMode.SERVER_DECRYPT.value:
            return True
    return False


async def _jobs(runtime: Runtime, session: AsyncSession, ids: Sequence[int]) -> list[_Job]:
    rows = await session.execute(
        select(Delivery.id, Delivery.recipient, QueuedContent.id, QueuedContent.sealed)
        .join(Mailbox, Mailbox.address == Delivery.recipient)
        .join(QueuedContent, QueuedContent.id == Delivery.content_id)
        .where(
            Delivery.id.in_(list(ids)),
            Mailbox.local.is_(True),
            Mailbox.delivery == DeliveryMode.SERVER_DECRYPT.value,
        )
    )
    jobs = []
    for delivery_id, recipient, content_id, sealed in rows:
        if sealed is None:
            continue  # the delivery reports the missing content itself
        content = runtime.at_rest.open(sealed, content_context(content_id))
        form = inbound.protection_form(content)
        if form is not None:
            jobs.append(_Job(delivery_id, recipient, content, form))
    return jobs


async def _unprotect(runtime: Runtime, job: _Job) -> bytes | NotDecrypted:
    try:
        verified = await _verified(runtime, job)
    except NotDecrypted as failed:
        log.info(Event.CRYPTO_UNPROTECT_FAILED, delivery_id=str(job.delivery_id),
                 recipient=job.recipient)
        return failed
    log.info(Event.CRYPTO_UNPROTECTED, delivery_id=str(job.delivery_id), form=verified.form)
    hostname = runtime.settings.service.hostname
    return inbound.server_decrypted(job.content, verified, hostname)


async def _verified(runtime: Runtime, job: _Job) -> inbound.Verified:
    sender = _from_address(job)
    if sender.rpartition("@")[2] not in runtime.settings.service.local_domains:
        raise NotDecrypted(job.recipient, f"<{sender}> does not sign with this operator's CA")
    pool, now = runtime.crypto_pool, utcnow()
    try:
        if job.form == inbound.SMIME:
            keys, anchors, crl = await _smime_keys(runtime, job.recipient)
            return await pool.run(
                inbound.verify_smime, job.content, keys, [anchors], sender, now, crl=crl
            )
        secrets, public = await _openpgp_keys(runtime, job.recipient, sender)
        return await pool.run(inbound.verify_openpgp, job.content, secrets, public, sender, now)
    except InboundRefused as refused:
        raise NotDecrypted(job.recipient, refused.reason) from None


def _from_address(job: _Job) -> str:
    headers = mdn.headers_of(job.content)
    addresses = [a for v in headers.get_all("From", []) for a in header_addresses("From", str(v))]
    if len(addresses) != 1:
        raise NotDecrypted(job.recipient, "the message names no single From address to verify")
    return addresses[0]


async def _smime_keys(
    runtime: Runtime, recipient: str
) -> tuple[list[tuple[bytes, bytes]], bytes, list[bytes]]:
    """The recipient's key generations, this operator's CA chain and its current CRL: a
    sender's certificate revoked while the message waited in the queue fails the check."""
    async with runtime.db.lookup() as session:
        pairs = await keystore.decryption_keys(session, runtime.sealer, recipient)
        crl = await keystore.crl_pems(session)
    if not pairs:
        raise NotDecrypted(recipient, "this mailbox has no key to decrypt with")
    anchors = await asyncio.to_thread(export_chain, runtime.settings.data_dir)
    return [(p.key_pem, p.chain_pem) for p in pairs], anchors, crl


async def _openpgp_keys(runtime: Runtime, recipient: str, sender: str) -> tuple[list[str], str]:
    async with runtime.db.lookup() as session:
        secrets = await keystore.openpgp_secrets(session, runtime.sealer, recipient)
        try:
            public = await keystore.openpgp_public(session, sender)
        except NoUsableKey:
            raise NotDecrypted(recipient, f"<{sender}> has no OpenPGP key to verify") from None
    if not secrets:
        raise NotDecrypted(recipient, "this mailbox has no key to decrypt with")
    return secrets, public
