"""Messages a client signed or encrypted itself, and server-decrypt failures.

A logged-in doctor may submit what their own mail client protected, but only with their
own signature inside: a message signed by someone else, or whose signature does not
hold, is refused at DATA (550 5.7.1) and nothing is queued. What the rightful sender
protected passes through as it is. A message that does not decrypt for a server-decrypt
mailbox is bounced with a DSN naming the reason, and its body is stored nowhere.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from crypto import keystore, openpgp, smime
from crypto.keystore import SmimeKeyPair
from gateway.pipeline import Copy
from mailserver.queue.enqueue import Submission, enqueue
from mailserver.queue.ids import new_queue_id
from mailserver.queue.models import Origin
from tests.protocol.e2e.node import DPI, OPENPGP, Node, decrypted
from tests.protocol.e2e.test_protected_delivery import MARKER, letter
from tests.protocol.smtp.harness import COLLEAGUE, DOCTOR


async def signer(node: Node, address: str) -> SmimeKeyPair:
    async with node.db.read() as session:
        return await keystore.signer(session, node.runtime.sealer, node.data_dir, address)


async def certificate(node: Node, address: str) -> bytes:
    async with node.db.read() as session:
        return await keystore.recipient_cert(session, address)


async def client_protected(node: Node, to: str, *, signed_by: str) -> tuple[bytes, bytes]:
    """(the letter to `to` signed by `signed_by` and encrypted to `to`, as a mail client
    holding those keys makes it; the plaintext letter)."""
    _, message = letter(to)
    outer, entity = smime.split_message(message)
    pair = await signer(node, signed_by)
    sealed = smime.sign_and_encrypt(
        entity, pair.key_pem, pair.chain_pem, [await certificate(node, to)], "smime"
    )
    return smime.join_message(outer, sealed), message


async def test_an_inner_signature_by_someone_else_is_refused(salus: Node) -> None:
    forged, _ = await client_protected(salus, COLLEAGUE, signed_by=COLLEAGUE)
    code, reply = await asyncio.to_thread(salus.submit, forged, [COLLEAGUE])
    assert code == 550
    assert reply.startswith(b"5.7.1 the signature inside the message is not accepted")
    assert await salus.deliveries() == []


async def test_an_openpgp_inner_signature_by_someone_else_is_refused(salus: Node) -> None:
    _, message = letter(OPENPGP)
    outer, entity = smime.split_message(message)
    async with salus.db.read() as session:
        secret = (await keystore.openpgp_secrets(session, salus.runtime.sealer, COLLEAGUE))[0]
        public = await keystore.openpgp_public(session, OPENPGP)
    forged = smime.join_message(outer, openpgp.sign_and_encrypt(entity, secret, [public]))
    code, reply = await asyncio.to_thread(salus.submit, forged, [OPENPGP])
    assert code == 550
    assert reply.startswith(b"5.7.1 the OpenPGP signature inside the message is not <doctor.1")
    assert await salus.deliveries() == []


async def test_a_signed_only_message_with_a_bad_signature_is_refused(salus: Node) -> None:
    _, message = letter(COLLEAGUE)
    outer, entity = smime.split_message(message)
    pair = await signer(salus, DOCTOR)
    signed = smime.sign(entity, pair.key_pem, pair.chain_pem)
    altered = signed.replace(b"4.1 mmol/L", b"9.1 mmol/L")
    assert altered != signed
    code, reply = await asyncio.to_thread(
        salus.submit, smime.join_message(outer, altered), [COLLEAGUE]
    )
    assert code == 550
    assert reply.startswith(b"5.7.1 the message's S/MIME signature is not accepted")
    assert await salus.deliveries() == []


async def test_what_the_rightful_sender_protected_passes_through(salus: Node) -> None:
    protected, _ = await client_protected(salus, COLLEAGUE, signed_by=DOCTOR)
    code, reply = await asyncio.to_thread(salus.submit, protected, [COLLEAGUE])
    assert code == 250, reply
    await salus.settled(1)
    (stored,) = await asyncio.to_thread(salus.inbox, COLLEAGUE)
    assert stored.endswith(protected)  # only our Received field on top


async def test_a_valid_signed_only_message_is_encrypted_without_resigning(
    salus: Node, tmp_path: Path
) -> None:
    _, message = letter(COLLEAGUE)
    outer, entity = smime.split_message(message)
    pair = await signer(salus, DOCTOR)
    signed = smime.sign(entity, pair.key_pem, pair.chain_pem)
    code, reply = await asyncio.to_thread(
        salus.submit, smime.join_message(outer, signed), [COLLEAGUE]
    )
    assert code == 250, reply
    await salus.settled(1)
    (stored,) = await asyncio.to_thread(salus.inbox, COLLEAGUE)
    assert MARKER.encode() not in stored
    content = await asyncio.to_thread(decrypted, salus, stored, COLLEAGUE, tmp_path)
    assert MARKER.encode() in content


async def test_a_message_that_does_not_decrypt_for_a_server_decrypt_mailbox_bounces(
    salus: Node,
) -> None:
    # Encrypted to another mailbox's key, then queued for dpi@ (only a bug or a tampered
    # queue gets it there): the delivery must bounce, never store anything readable.
    sealed, _ = await client_protected(salus, COLLEAGUE, signed_by=DOCTOR)
    submission = Submission(
        new_queue_id(), "mis.routed@salus.test", DOCTOR, Origin.SUBMISSION, [Copy(sealed, (DPI,))]
    )
    async with salus.db.write() as session:
        await enqueue(session, salus.runtime.at_rest, submission)
    salus.wakeup.notify()
    rows = await salus.settled(2)  # the bounce, and the DSN to the sender
    bounced = [(r, reply) for r, s, reply in rows if s == "bounced"]
    assert len(bounced) == 1 and bounced[0][0] == DPI
    assert bounced[0][1].startswith(f"554 5.7.5 <{DPI}>: server-side decryption failed:")
    assert await asyncio.to_thread(salus.inbox, DPI) == []
    (dsn,) = await asyncio.to_thread(salus.inbox, DOCTOR)
    assert b"server-side decryption failed" in dsn
    assert MARKER.encode() not in dsn
