"""The relay client on the wire: what a peer receives (captured by Postfix's smtp-sink
behind a STARTTLS front), and the peers it refuses to talk to."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from config.settings import HostPort
from crypto import keystore
from crypto.sealing import KeySealer
from mailserver.relay.client import RelayFailed, relay
from mailserver.tls import server_context
from tests.integration.trust.operators import Operator, doctor, letter, operators, protect
from tests.protocol.trust.sink import StartTlsFront, smtp_sink

SENDER, RECIPIENT = doctor(1, "a.test"), doctor(2, "b.test")
MARKER = b"Synthetic marker 4711"


def front_context(op: Operator, client_ca: Operator) -> object:
    return server_context(
        op.runtime.tls.material,
        client_cas_pem=[client_ca.ca_chain().decode("ascii")],
        require_client_cert=True,
    )


async def _sealed(a: Operator) -> bytes:
    _, message = letter(SENDER, RECIPIENT, f"{MARKER.decode()}: consultation.")
    return await protect(a, SENDER, RECIPIENT, message)


async def _recipient_key(b: Operator, directory: Path) -> tuple[Path, Path]:
    async with b.db.read() as session:
        (pair,) = await keystore.decryption_keys(
            session, KeySealer.from_data_dir(b.data_dir), RECIPIENT
        )
    key, cert = directory / "b.key", directory / "b.crt"
    key.write_bytes(pair.key_pem)
    cert.write_bytes(pair.chain_pem)
    return key, cert


async def test_relay_output_is_crlf_only_dot_stuffed_and_encrypted(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops, smtp_sink() as sink:
        a, b = ops["a.test"], ops["b.test"]
        await b.serve("lookup")
        await b.trust(a)
        front = StartTlsFront(front_context(b, a), sink.port)  # type: ignore[arg-type]
        await front.start()
        await a.trust(b, relay=HostPort("127.0.0.1", front.port))
        # Stored with bare LF line ends and a field whose name starts with a dot: the
        # wire must carry CRLF only and the dot doubled (RFC 5321 §4.5.2).
        stored = (b".Dot-Field: kept\r\n" + await _sealed(a)).replace(b"\r\n", b"\n")
        receipt = await relay(
            a.runtime.trust,
            domain="b.test",
            sender=SENDER,
            recipients=[RECIPIENT],
            content=stored,
            helo="mail.a.test",
        )
        await front.stop()
        assert receipt.peer.domain == "b.test" and receipt.tls_version in ("TLSv1.2", "TLSv1.3")

        raw = bytes(front.recorded)
        start = raw.index(b"DATA\r\n") + len(b"DATA\r\n")
        data = raw[start : raw.index(b"\r\n.\r\n", start) + 5]
        assert b"\n" not in data.replace(b"\r\n", b"") and b"\r" not in data.replace(b"\r\n", b"")
        assert data.startswith(b"..Dot-Field: kept\r\n")
        assert data.count(b"\r\n.\r\n") == 1 and data.endswith(b"\r\n.\r\n")

        for _ in range(100):
            if sink.captures():
                break
            await asyncio.sleep(0.05)
        (capture,) = sink.captures()
        assert b"X-Mail-Args: <doctor.1@a.test>" in capture
        assert b"X-Rcpt-Args: <doctor.2@b.test>" in capture
        message = capture[capture.index(b".Dot-Field: kept\n") :]  # unstuffed by smtp-sink
        assert b"application/pkcs7-mime" in message and MARKER not in message
        # What B received is the intact envelope: B's recipient key opens it.
        source = tmp_path / "captured.eml"
        source.write_bytes(message.split(b"\n", 1)[1].replace(b"\n", b"\r\n"))
        key, cert = await _recipient_key(b, tmp_path)
        opened = subprocess.run(
            [
                "openssl",
                "cms",
                "-decrypt",
                "-in",
                str(source),
                "-inkey",
                str(key),
                "-recip",
                str(cert),
            ],
            capture_output=True,
            check=True,
        ).stdout
        assert MARKER in opened


async def test_a_peer_without_starttls_gets_nothing(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops, smtp_sink() as sink:
        a, b = ops["a.test"], ops["b.test"]
        await b.serve("lookup")
        await b.trust(a)
        await a.trust(b, relay=HostPort("127.0.0.1", sink.port))  # plaintext smtp-sink
        with pytest.raises(RelayFailed) as failed:
            await relay(
                a.runtime.trust,
                domain="b.test",
                sender=SENDER,
                recipients=[RECIPIENT],
                content=await _sealed(a),
                helo="mail.a.test",
            )
        assert failed.value.temporary
        assert failed.value.reply.startswith("451 4.7.4 ")
        assert "not sending in plaintext" in failed.value.reply
        await asyncio.sleep(0.2)
        assert sink.captures() == []


async def test_a_peer_with_a_certificate_from_another_ca_gets_nothing(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with (
        operators(operator_templates, tmp_path, domains=DOMAINS3) as ops,
        smtp_sink() as sink,
    ):
        a, b, c = ops["a.test"], ops["b.test"], ops["c.test"]
        await b.serve("lookup")
        await b.trust(a)
        sealed = await _sealed_via(a, b)
        # C answers where A expects b.test's MX, with C's certificate (C's CA).
        front = StartTlsFront(front_context(c, a), sink.port)  # type: ignore[arg-type]
        await front.start()
        await a.trust(b, relay=HostPort("127.0.0.1", front.port))
        with pytest.raises(RelayFailed) as failed:
            await relay(
                a.runtime.trust,
                domain="b.test",
                sender=SENDER,
                recipients=[RECIPIENT],
                content=sealed,
                helo="mail.a.test",
            )
        await front.stop()
        assert failed.value.temporary and failed.value.reply.startswith("454 4.7.5 TLS")
        assert bytes(front.recorded) == b""


async def test_a_peer_of_a_trusted_ca_but_another_domain_gets_nothing(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with (
        operators(operator_templates, tmp_path, domains=DOMAINS3) as ops,
        smtp_sink() as sink,
    ):
        a, b, c = ops["a.test"], ops["b.test"], ops["c.test"]
        await b.serve("lookup")
        await b.trust(a)
        sealed = await _sealed_via(a, b)
        # A was told b.test's CA is C's: the chain holds, but the name is c.test's.
        front = StartTlsFront(front_context(c, a), sink.port)  # type: ignore[arg-type]
        await front.start()
        await a.trust(
            b,
            ca_pem=c.ca_chain(),
            relay=HostPort("127.0.0.1", front.port),
            lookup=HostPort("127.0.0.1", b.port("lookup")),
        )
        with pytest.raises(RelayFailed) as failed:
            await relay(
                a.runtime.trust,
                domain="b.test",
                sender=SENDER,
                recipients=[RECIPIENT],
                content=sealed,
                helo="mail.a.test",
            )
        await front.stop()
        assert failed.value.temporary
        assert "is not b.test's" in failed.value.reply
        assert b"MAIL FROM" not in bytes(front.recorded)
        assert sink.captures() == []


async def test_a_peer_that_is_down_defers(
    operator_templates: dict[str, Path], tmp_path: Path
) -> None:
    async with operators(operator_templates, tmp_path) as ops:
        a, b = ops["a.test"], ops["b.test"]
        await b.serve("lookup")
        await b.trust(a)
        await a.trust(b, relay=HostPort("127.0.0.1", 9))  # nothing listens there
        with pytest.raises(RelayFailed) as failed:
            await relay(
                a.runtime.trust,
                domain="b.test",
                sender=SENDER,
                recipients=[RECIPIENT],
                content=await _sealed(a),
                helo="mail.a.test",
            )
        assert failed.value.temporary and failed.value.reply.startswith("451 4.4.1 ")


DOMAINS3 = ("a.test", "b.test", "c.test")


async def _sealed_via(a: Operator, b: Operator) -> bytes:
    await a.trust(b)
    return await _sealed(a)
