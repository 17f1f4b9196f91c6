"""Interoperability with a peer nobody here wrote: the `openssl cms` command line.

Salus -> OpenSSL: what Salus signs and encrypts (both forms) decrypts with
`openssl cms -decrypt` and verifies with `openssl cms -verify -CAfile` given the chain
that `salus trust export-ca` prints. OpenSSL -> Salus: `openssl cms -sign` then
`-encrypt` with AES-256-CBC (PKCS#1 v1.5 and OAEP) and AES-256-GCM (OAEP-SHA256)
decrypts and verifies in Salus. Also: PKCS#12 exports and the CRL read by openssl.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from crypto import pkcs12, policy, smime
from crypto.ca import ServiceCa
from crypto.errors import EnvelopeRefused, Reason
from crypto.profiles import RevokedSerial
from crypto.sealing import KeySealer
from crypto.service_key import ServiceKey
from mailserver.cli.keys import export_ca
from tests.unit.crypto.pki import cert_pem, key_pem, rsa_key

ENTITY = b'Content-Type: text/plain; charset="utf-8"\r\n\r\nINR 2.4 - keep the current dose.\r\n'
# Past the base64 encoder's block (256 lines) and the DER's two-octet lengths, with an
# odd size: the pieces of a large message meet inside blocks and AES blocks.
LARGE_ENTITY = (
    b"Content-Type: text/plain\r\n\r\n"
    + b"".join(
        f"line {i:06d} of a long synthetic report, aaaaaaaaaaaaaaaaaaaaaaaaa\r\n".encode()
        for i in range(2_000)
    )
    + b"end"
)
NOW = dt.datetime.now(dt.UTC)


def openssl(*args: str | Path, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(
        ["openssl", *map(str, args)], input=stdin, capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


class Operator:
    """A data dir with a service CA, and the files openssl needs."""

    def __init__(self, root: Path) -> None:
        self.dir = root
        key = ServiceKey(b"\x05" * 32)
        self.ca = ServiceCa.create(root, KeySealer(key), "salus.test", NOW - dt.timedelta(days=1))
        result = CliRunner().invoke(export_ca, ["--data-dir", str(root)])
        assert result.exit_code == 0, result.output
        self.chain = root / "chain.pem"
        self.chain.write_text(result.output)
        for name, index in (("alice", 400), ("bob", 401)):
            key_obj = rsa_key(index)
            cert = self.ca.issue_mailbox(
                key_obj.public_key(),
                f"{name}@salus.test",
                name.title(),
                NOW - dt.timedelta(hours=1),
            )
            (root / f"{name}.key").write_bytes(key_pem(key_obj))
            (root / f"{name}.crt").write_bytes(cert_pem(cert))

    def key(self, name: str) -> bytes:
        return (self.dir / f"{name}.key").read_bytes()

    def cert(self, name: str) -> bytes:
        return (self.dir / f"{name}.crt").read_bytes()

    def signer_chain(self, name: str) -> bytes:
        return self.cert(name) + cert_pem(self.ca.issuing)


@pytest.fixture(scope="module")
def op(tmp_path_factory: pytest.TempPathFactory) -> Operator:
    return Operator(tmp_path_factory.mktemp("operator"))


def test_export_ca_prints_issuing_then_root(op: Operator) -> None:
    certs = x509.load_pem_x509_certificates(op.chain.read_bytes())
    assert certs == [op.ca.issuing, op.ca.root]


@pytest.mark.parametrize("entity", [ENTITY, LARGE_ENTITY], ids=["small", "large"])
@pytest.mark.parametrize("form", [policy.FORM_CBC, policy.FORM_GCM])
def test_salus_to_openssl_decrypt_and_verify(
    form: str, entity: bytes, op: Operator, tmp_path: Path
) -> None:
    protected = smime.sign_and_encrypt(
        entity, op.key("alice"), op.signer_chain("alice"), [op.cert("bob")], form
    )
    message = tmp_path / "message.eml"
    message.write_bytes(
        b"From: alice@salus.test\r\nTo: bob@salus.test\r\nMIME-Version: 1.0\r\n" + protected
    )
    signed = openssl(
        "cms",
        "-decrypt",
        "-in",
        message,
        "-inkey",
        op.dir / "bob.key",
        "-recip",
        op.dir / "bob.crt",
    )
    content = openssl("cms", "-verify", "-CAfile", op.chain, "-purpose", "smimesign", stdin=signed)
    assert content == entity


def test_openssl_refuses_salus_mail_under_another_ca(op: Operator, tmp_path: Path) -> None:
    """Control: the verification above really checks the chain."""
    other = tmp_path / "other.pem"
    other.write_bytes(cert_pem(x509.load_pem_x509_certificate(op.cert("bob"))))
    signed = smime.sign(ENTITY, op.key("alice"), op.signer_chain("alice"))
    done = subprocess.run(
        ["openssl", "cms", "-verify", "-CAfile", str(other)],
        input=signed,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0


def _openssl_signed(op: Operator, tmp_path: Path, *extra: str) -> Path:
    source = tmp_path / "in.eml"
    source.write_bytes(ENTITY)
    issuing = tmp_path / "issuing.pem"
    issuing.write_bytes(cert_pem(op.ca.issuing))
    signed = tmp_path / "signed.eml"
    openssl(
        "cms",
        "-sign",
        "-in",
        source,
        "-signer",
        op.dir / "alice.crt",
        "-inkey",
        op.dir / "alice.key",
        "-certfile",
        issuing,
        "-out",
        signed,
        *extra,
    )
    return signed


ENCRYPTIONS = {
    "cbc-pkcs1": ("-aes-256-cbc",),
    "cbc-oaep-sha1": ("-aes-256-cbc", "-keyopt", "rsa_padding_mode:oaep"),
    "gcm-oaep-sha256": (
        "-aes-256-gcm",
        "-keyopt",
        "rsa_padding_mode:oaep",
        "-keyopt",
        "rsa_oaep_md:sha256",
    ),
}


@pytest.mark.parametrize("name", sorted(ENCRYPTIONS))
def test_openssl_to_salus_decrypt_and_verify(name: str, op: Operator, tmp_path: Path) -> None:
    signed = _openssl_signed(op, tmp_path)
    encrypted = tmp_path / "encrypted.eml"
    cipher, *keyopts = ENCRYPTIONS[name]
    openssl(
        "cms",
        "-encrypt",
        cipher,
        "-in",
        signed,
        "-out",
        encrypted,
        "-recip",
        op.dir / "bob.crt",
        *keyopts,
    )
    result = smime.unprotect(
        encrypted.read_bytes(),
        [(op.key("bob"), op.cert("bob"))],
        [op.chain.read_bytes()],
        NOW,
        sender="alice@salus.test",
    )
    assert result.valid, result.detail
    # openssl -sign writes the content in canonical (CRLF) form inside multipart/signed.
    assert result.content == ENTITY


def test_openssl_opaque_signed_data_verifies(op: Operator, tmp_path: Path) -> None:
    signed = _openssl_signed(op, tmp_path, "-nodetach")
    result = smime.verify(
        signed.read_bytes(), [op.chain.read_bytes()], NOW, sender="alice@salus.test"
    )
    assert result.valid, result.detail
    assert result.content == ENTITY


def test_openssl_sha1_signature_is_refused(op: Operator, tmp_path: Path) -> None:
    signed = _openssl_signed(op, tmp_path, "-md", "sha1")
    result = smime.verify(signed.read_bytes(), [op.chain.read_bytes()], NOW)
    assert result.reason is Reason.WEAK_DIGEST


def test_openssl_3des_envelope_is_refused_before_any_key_use(op: Operator, tmp_path: Path) -> None:
    signed = _openssl_signed(op, tmp_path)
    encrypted = tmp_path / "3des.eml"
    openssl("cms", "-encrypt", "-des3", "-in", signed, "-out", encrypted, op.dir / "bob.crt")
    with pytest.raises(EnvelopeRefused) as caught:
        smime.decrypt(encrypted.read_bytes(), op.key("bob"), op.cert("bob"))
    assert caught.value.reason is Reason.WEAK_CIPHER


def test_pkcs12_with_two_generations_reads_in_openssl(op: Operator, tmp_path: Path) -> None:
    old_key, new_key = rsa_key(402), rsa_key(403)
    old = op.ca.issue_mailbox(
        old_key.public_key(), "carol@salus.test", "Carol", NOW - dt.timedelta(days=2)
    )
    new = op.ca.issue_mailbox(
        new_key.public_key(), "carol@salus.test", "Carol", NOW - dt.timedelta(hours=1)
    )
    data = pkcs12.build(
        [pkcs12.KeyEntry(new_key, new, "current"), pkcs12.KeyEntry(old_key, old, "previous")],
        [op.ca.issuing, op.ca.root],
        "Ünïcode pass",
    )
    p12 = tmp_path / "carol.p12"
    p12.write_bytes(data)
    dump = openssl("pkcs12", "-in", p12, "-passin", "pass:Ünïcode pass", "-nodes").decode()
    assert dump.count("BEGIN PRIVATE KEY") == 2
    assert dump.count("BEGIN CERTIFICATE") == 4
    keys = [
        serialization.load_pem_private_key(block.encode(), None)
        for block in _pem_blocks(dump, "PRIVATE KEY")
    ]
    assert {k.public_key().public_numbers() for k in keys} == {  # type: ignore[union-attr]
        old_key.public_key().public_numbers(),
        new_key.public_key().public_numbers(),
    }
    wrong = subprocess.run(
        ["openssl", "pkcs12", "-in", str(p12), "-passin", "pass:wrong", "-noout"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert wrong.returncode != 0


def _pem_blocks(text: str, kind: str) -> list[str]:
    begin, end = f"-----BEGIN {kind}-----", f"-----END {kind}-----"
    return [begin + chunk.split(end)[0] + end for chunk in text.split(begin)[1:]]


def test_openssl_reads_the_crl_and_refuses_a_revoked_certificate(
    op: Operator, tmp_path: Path
) -> None:
    revoked = x509.load_pem_x509_certificate(op.cert("bob"))
    crl = op.ca.sign_crl(
        [RevokedSerial(revoked.serial_number, NOW - dt.timedelta(minutes=1))], 2, NOW
    )
    crl_file = tmp_path / "crl.pem"
    crl_file.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    root = tmp_path / "root.pem"
    root.write_bytes(cert_pem(op.ca.root))
    issuing = tmp_path / "issuing.pem"
    issuing.write_bytes(cert_pem(op.ca.issuing))
    common = [
        "verify",
        "-crl_check",
        "-CRLfile",
        crl_file,
        "-CAfile",
        root,
        "-untrusted",
        issuing,
        "-purpose",
        "smimesign",
    ]
    openssl(*common, op.dir / "alice.crt")
    done = subprocess.run(
        ["openssl", *map(str, common), str(op.dir / "bob.crt")],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert b"revoked" in done.stdout + done.stderr


def test_openssl_subject_key_identifiers_name_signer_and_recipient(
    op: Operator, tmp_path: Path
) -> None:
    """RFC 5652 §5.3/§6.2.1: `-keyid` names certificates by subject key identifier."""
    signed = _openssl_signed(op, tmp_path, "-keyid")
    encrypted = tmp_path / "keyid.eml"
    openssl(
        "cms",
        "-encrypt",
        "-aes-256-cbc",
        "-keyid",
        "-in",
        signed,
        "-out",
        encrypted,
        "-recip",
        op.dir / "bob.crt",
    )
    result = smime.unprotect(
        encrypted.read_bytes(),
        [(op.key("bob"), op.cert("bob"))],
        [op.chain.read_bytes()],
        NOW,
        sender="alice@salus.test",
    )
    assert result.valid, result.detail
