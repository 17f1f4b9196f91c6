"""Attacks on the inbound MX, each with the safe behaviour expected (DESIGN section 5.7):
only trust-space peers, proven by certificate, only for their own senders, only for
local recipients, only signed and encrypted mail whose signer is the From address."""

from __future__ import annotations

import asyncio
import datetime as dt
import smtplib
import ssl
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from crypto.ca import ServiceCa
from crypto.sealing import KeySealer
from mailserver.tls import TlsMaterial, client_context
from tests.integration.trust.operators import Operator, doctor, letter, operators, protect
from tests.unit.trust.pki import ca, leaf

SENDER, RECIPIENT = doctor(1, "a.test"), doctor(2, "b.test")
AFTER_TLS_FAILURES = (ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionError)


def connect(b: Operator, material: TlsMaterial | None) -> smtplib.SMTP:
    """A blocking SMTP client on B's MX, after STARTTLS with `material` as client
    certificate (None: none)."""
    context = (
        client_context(material, [b.ca_chain().decode("ascii")])
        if material is not None
        else ssl.create_default_context(cadata=b.ca_chain().decode("ascii"))
    )
    context.check_hostname = False
    client = smtplib.SMTP("127.0.0.1", b.port("mx"), timeout=30)
    client.ehlo("mail.a.test")
    client.starttls(context=context)
    client.ehlo("mail.a.test")
    return client


def session(b: Operator, material: TlsMaterial | None, *commands: str) -> list[tuple[int, bytes]]:
    with connect(b, material) as client:
        return [client.docmd(*c.split(" ", 1)) for c in commands]


def send(
    b: Operator, material: TlsMaterial, sender: str, to: str, data: bytes
) -> tuple[int, bytes]:
    with connect(b, material) as client:
        assert client.mail(sender)[0] == 250
        assert client.rcpt(to)[0] == 250
        return client.data(data)


async def test_mail_before_starttls_is_refused_and_auth_is_not_offered(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await b.serve("mx")
        await b.trust(a)

        def plain() -> tuple[bytes, tuple[int, bytes], tuple[int, bytes]]:
            with smtplib.SMTP("127.0.0.1", b.port("mx"), timeout=30) as client:
                _, features = client.ehlo("mail.a.test")
                return (
                    features,
                    client.docmd("MAIL", "FROM:<x@a.test>"),
                    client.docmd("AUTH", "PLAIN"),
                )

        features, mail, auth = await asyncio.to_thread(plain)
        assert b"STARTTLS" in features and b"AUTH" not in features
        assert mail == (530, b"5.7.0 Must issue a STARTTLS command first")
        assert auth[0] == 530
        (after_tls,) = await asyncio.to_thread(session, b, a.runtime.tls.material, "AUTH PLAIN")
        assert after_tls[0] == 502


async def test_no_client_certificate_or_an_unknown_ca_gets_no_session(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await b.serve("mx")
        await b.trust(a)
        stranger = leaf(ca("Stranger CA"), ["mail.a.test", "a.test"])
        cert, key = tmp_path / "s.crt", tmp_path / "s.key"
        cert.write_bytes(stranger.pem)
        key.write_bytes(
            stranger.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        for material in (None, TlsMaterial(cert, key)):
            with pytest.raises(AFTER_TLS_FAILURES):
                await asyncio.to_thread(session, b, material, "MAIL FROM:<doctor.1@a.test>")
        assert await b.messages() == []


async def test_a_trusted_cas_certificate_for_another_domain_is_not_a_peer(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await b.serve("mx")
        await b.trust(a)
        # A's own CA issues a certificate for a host outside a.test.
        service_ca = ServiceCa.load(a.data_dir, KeySealer.from_data_dir(a.data_dir))
        private = ec.generate_private_key(ec.SECP256R1())
        issued = service_ca.issue_tls(
            private.public_key(), ["mail.b.test"], dt.datetime.now(dt.UTC)
        )
        cert, key = tmp_path / "x.crt", tmp_path / "x.key"
        cert.write_bytes(issued.public_bytes(serialization.Encoding.PEM))
        key.write_bytes(
            private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        (mail,) = await asyncio.to_thread(
            session, b, TlsMaterial(cert, key), "MAIL FROM:<doctor.1@a.test>"
        )
        assert mail[0] == 550
        assert mail[1].startswith(b"5.7.1 not a peer of the trust space")
        assert b"names no host under" in mail[1]
        (refusal,) = await b.audit("mx.refuse")
        assert refusal.actor.startswith("peer:unverified@")


async def test_a_peer_speaks_only_for_its_own_senders_and_b_s_mailboxes(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await b.serve("mx")
        await b.trust(a)
        mine = a.runtime.tls.material
        (other_sender,) = await asyncio.to_thread(session, b, mine, "MAIL FROM:<doctor.1@c.test>")
        assert other_sender[0] == 550 and b"not an address of a.test" in other_sender[1]
        replies = await asyncio.to_thread(
            session,
            b,
            mine,
            "MAIL FROM:<doctor.1@a.test>",
            "RCPT TO:<doctor.1@c.test>",
            "RCPT TO:<doctor.1@a.test>",
            "RCPT TO:<nobody@b.test>",
            "RCPT TO:<doctor.3@b.test>",
        )
        assert [code for code, _ in replies] == [250, 550, 550, 550, 550]
        assert b"no relaying" in replies[1][1] and b"no relaying" in replies[2][1]
        assert replies[3][1].startswith(b"5.1.1") and replies[4][1].startswith(b"5.2.1")


async def test_only_signed_and_encrypted_mail_from_the_peer_domain_is_taken(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await b.serve("mx", "lookup")
        await b.trust(a)
        await a.trust(b)
        mine = a.runtime.tls.material
        _, clear = letter(SENDER, RECIPIENT, "Synthetic clear text.")
        code, text = await asyncio.to_thread(send, b, mine, SENDER, RECIPIENT, clear)
        assert code == 550 and b"only signed and encrypted" in text
        sealed = await protect(a, SENDER, RECIPIENT, clear)
        forged = sealed.replace(b"From: Dr Sender <doctor.1@a.test>", b"From: <doctor.1@c.test>")
        code, text = await asyncio.to_thread(send, b, mine, SENDER, RECIPIENT, forged)
        assert code == 550 and b"not an address of a.test" in text
        assert await b.messages() == []
        assert len(await b.audit("mx.refuse")) == 2


async def test_an_altered_ciphertext_is_one_opaque_refusal(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await b.serve("mx", "lookup")
        await a.serve("lookup")  # where B fetches A's CRL
        await b.trust(a)
        await a.trust(b)
        _, message = letter(SENDER, RECIPIENT, "Synthetic text.")
        sealed = await protect(a, SENDER, RECIPIENT, message)
        head, _, body = sealed.partition(b"\r\n\r\n")
        lines = body.split(b"\r\n")
        middle = len(lines) // 2
        lines[middle] = bytes(reversed(lines[middle]))  # same base64 alphabet, other bytes
        altered = head + b"\r\n\r\n" + b"\r\n".join(lines)
        code, text = await asyncio.to_thread(
            send, b, a.runtime.tls.material, SENDER, RECIPIENT, altered
        )
        assert (code, text) == (
            550,
            b"5.7.1 the message cannot be decrypted for its recipient here",
        )
        assert await b.messages() == []


async def test_a_signature_by_another_operators_certificate_is_refused(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(
        operator_templates, tmp_path, domains=("a.test", "b.test", "c.test")
    ) as ops:
        a, b, c = ops["a.test"], ops["b.test"], ops["c.test"]
        await b.serve("mx", "lookup")
        await a.serve("lookup")  # where B fetches A's CRL
        await b.trust(a)
        await a.trust(b)
        await b.trust(c)
        await c.trust(b)
        # C's doctor signs a letter whose From is A's doctor; A's MX connection carries it.
        _, message = letter(SENDER, RECIPIENT, "Synthetic text.")
        sealed = await protect(c, SENDER, RECIPIENT, message, signer=doctor(1, "c.test"))
        code, text = await asyncio.to_thread(
            send, b, a.runtime.tls.material, SENDER, RECIPIENT, sealed
        )
        assert code == 550 and text.startswith(b"5.7.1 the signature is not accepted")
        assert await b.messages() == []
