"""A doctor at operator A writes to a doctor at operator B (issue 6, the main test).

Two operators on loopback, each from `salus init` with its own domain, CA and SQLite
database. A queues the doctor's letter as its pipeline protects it for a remote recipient (signed
with the sender's key, encrypted for the certificate B's lookup publishes) and relays it
over mutual TLS; B's MX checks and stores; B's doctor reads the message over IMAP and
decrypts it with `openssl cms` and the key `salus keys export` gives them; the signature
verifies against A's CA chain from `salus trust export-ca`.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from tests.integration.trust.operators import (
    SALUS,
    Operator,
    doctor,
    enqueue_message,
    imap_messages,
    letter,
    operators,
    protect,
    statuses,
    wait_until,
)

MARKER = "Synthetic patient letter 5309: follow-up in two weeks."
SENDER, RECIPIENT = doctor(1, "a.test"), doctor(2, "b.test")


def _openssl(*args: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, check=True).stdout


def _export_key(b: Operator, directory: Path) -> Path:
    p12 = directory / "doctor2.p12"
    subprocess.run(
        [
            str(SALUS),
            "keys",
            "export",
            RECIPIENT,
            "--p12",
            str(p12),
            "--passphrase-stdin",
            "--data-dir",
            str(b.data_dir),
        ],
        input=b"reading passphrase\n",
        check=True,
        capture_output=True,
    )
    pem = directory / "doctor2.pem"
    pem.write_bytes(
        _openssl("pkcs12", "-in", str(p12), "-nodes", "-passin", "pass:reading passphrase")
    )
    return pem


async def test_a_doctor_at_a_writes_to_a_doctor_at_b(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await b.serve("lookup", "mx", "delivery", "imap")
        await a.serve("lookup", "mx", "delivery", "submission")
        await a.trust(b)
        await b.trust(a)
        # What A's pipeline queues for a remote recipient: the letter signed by the sender
        # and encrypted for the certificate B's lookup publishes.
        message_id, message = letter(SENDER, RECIPIENT, MARKER)
        sealed = await protect(a, SENDER, RECIPIENT, message)
        queue_id = await enqueue_message(a, SENDER, [RECIPIENT], sealed, message_id)

        async def delivered_at_b() -> bool:
            return await statuses(b) == [(RECIPIENT, "delivered")]

        await wait_until(delivered_at_b)
        assert await statuses(a) == [(RECIPIENT, "relayed")]
        (stored,) = await asyncio.to_thread(imap_messages, b, RECIPIENT)
        assert MARKER.encode() not in stored and b"application/pkcs7-mime" in stored

        source = tmp_path / "stored.eml"
        source.write_bytes(stored)
        key = _export_key(b, tmp_path)
        signed = _openssl("cms", "-decrypt", "-in", str(source), "-inkey", str(key))
        anchors = tmp_path / "a-chain.pem"
        anchors.write_bytes(a.ca_chain())  # what `salus trust export-ca` prints at A
        content = _openssl(
            "cms", "-verify", "-CAfile", str(anchors), "-purpose", "smimesign", stdin=signed
        )
        assert MARKER.encode() in content
        signer = tmp_path / "signer.pem"
        _openssl(
            "cms",
            "-verify",
            "-CAfile",
            str(anchors),
            "-signer",
            str(signer),
            "-out",
            "/dev/null",
            stdin=signed,
        )
        assert SENDER.encode() in _openssl(
            "x509", "-in", str(signer), "-noout", "-ext", "subjectAltName"
        )
        # Both sides trace it: relayed at A (peer, TLS, certificate), delivered at B.
        relayed = [e.detail for e in await a.events(queue_id) if e.event == "relayed"]
        assert len(relayed) == 1 and "peer certificate CN=mail.b.test" in relayed[0]
        (inbound,) = await b.messages()
        assert (inbound.origin, inbound.message_id) == ("mx", message_id)
