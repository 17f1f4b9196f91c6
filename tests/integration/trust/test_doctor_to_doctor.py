"""A doctor at operator A writes to a doctor at operator B (issue 6, the main test).

Two operators on loopback, each from `salus init` with its own domain, CA and SQLite
database. A's doctor submits a plain letter over SMTP (STARTTLS, AUTH); A's pipeline looks
B's recipient up, signs the letter with the sender's key and encrypts it for the
certificate B's lookup publishes, and A relays it over mutual TLS; B's MX checks and stores; B's doctor reads the message over IMAP and
decrypts it with `openssl cms` and the key `salus keys export` gives them; the signature
verifies against A's CA chain from `salus trust export-ca`.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import subprocess
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

from tests.integration.trust.operators import (
    PASSWORD,
    SALUS,
    Operator,
    doctor,
    imap_messages,
    operators,
    statuses,
    wait_until,
)

MARKER = "Synthetic patient letter 5309: follow-up in two weeks."
SENDER, RECIPIENT = doctor(1, "a.test"), doctor(2, "b.test")


def _submit(a: Operator) -> str:
    """A's doctor sends a plain letter through A's submission port; its Message-ID."""
    message = EmailMessage(policy=SMTP_POLICY)
    message["From"] = f"Dr Alex1 Martin1 <{SENDER}>"
    message["To"] = RECIPIENT
    message["Subject"] = "Follow-up"
    message["Message-ID"] = "<follow-up.5309@a.test>"
    message.set_content(MARKER)
    context = ssl.create_default_context(cadata=a.ca_chain().decode("ascii"))
    context.check_hostname = False
    with smtplib.SMTP("127.0.0.1", a.port("submission"), timeout=30) as client:
        client.starttls(context=context)
        client.login(SENDER, PASSWORD)
        client.send_message(message)
    return "follow-up.5309@a.test"


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
        message_id = await asyncio.to_thread(_submit, a)

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
        anchors.write_bytes(
            subprocess.run(
                [str(SALUS), "trust", "export-ca", "--data-dir", str(a.data_dir)],
                capture_output=True,
                check=True,
            ).stdout
        )
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
        (outbound,) = await a.messages()
        assert (outbound.origin, outbound.message_id) == ("submission", message_id)
        relayed = [e.detail for e in await a.events(outbound.id) if e.event == "relayed"]
        assert len(relayed) == 1 and "peer certificate CN=mail.b.test" in relayed[0]
        (inbound,) = await b.messages()
        assert (inbound.origin, inbound.message_id) == ("mx", message_id)
