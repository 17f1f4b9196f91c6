"""S/MIME per-message cost: Salus's protect (sign then encrypt) and unprotect (decrypt then
verify, certificate path included) against the raw primitives they are made of, timed in
the same run on the same keys (DESIGN section 10, issue 5: protect within 1.5x the sum of
its primitives).

Keys follow the policy: 3072-bit mailbox keys, a 3072-bit issuing CA under a 4096-bit
root. Messages of 10 KB and 1 MB, to 1 and 5 recipients, in both forms (`smime` = CBC,
`smime-gcm` = GCM). Each figure is the median of repeated single-message timings.

    .venv/bin/python -m bench.crypto [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import pkcs7

from crypto import policy, profiles, smime
from crypto.profiles import Issuer

NOW = dt.datetime.now(dt.UTC)
SIZES = {"10 KB": 10 * 1024, "1 MB": 1024 * 1024}
RECIPIENTS = (1, 5)
FORMS = (policy.FORM_CBC, policy.FORM_GCM)


def paired_ms(
    ours: Callable[[], object], reference: Callable[[], object], seconds: float, minimum: int = 7
) -> tuple[float, float]:
    """Median time of one call of each, in ms of this thread's CPU time (user and
    system, page faults included: everything here runs on the calling thread), which
    the other processes of a shared machine do not inflate the way they do wall time.
    The two are timed alternately, call by call, so that what load remains (shared
    caches) weighs on both alike."""
    ours()
    reference()
    a: list[float] = []
    b: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(a) < minimum or time.perf_counter() < deadline:
        start = time.thread_time()
        ours()
        middle = time.thread_time()
        reference()
        a.append(middle - start)
        b.append(time.thread_time() - middle)
    return statistics.median(a) * 1000, statistics.median(b) * 1000


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class Operator:
    """A service CA and six mailbox keys of policy size."""

    def __init__(self) -> None:
        def new(bits: int) -> rsa.RSAPrivateKey:
            return rsa.generate_private_key(policy.RSA_PUBLIC_EXPONENT, bits)

        root_key = new(policy.ROOT_CA_RSA_BITS)
        root = profiles.root_certificate(
            root_key, profiles.ca_name("Bench Root", "salus.test"), NOW
        )
        issuing_key = new(policy.ISSUING_CA_RSA_BITS)
        issuing = profiles.issuing_certificate(
            Issuer(root, root_key),
            issuing_key.public_key(),
            profiles.ca_name("Bench Issuing", "salus.test"),
            NOW,
        )
        self.root, self.issuing = root, Issuer(issuing, issuing_key)
        self.keys = [new(policy.MAILBOX_RSA_BITS) for _ in range(6)]
        self.certs = [
            profiles.mailbox_certificate(
                self.issuing, k.public_key(), f"user{i}@salus.test", f"User {i}", NOW
            )
            for i, k in enumerate(self.keys)
        ]
        pem = serialization.Encoding.PEM
        self.anchors = [issuing.public_bytes(pem) + root.public_bytes(pem)]
        self.sender_key = _pem(self.keys[0])
        self.sender_chain = self.certs[0].public_bytes(pem) + issuing.public_bytes(pem)
        self.recipient_pems = [c.public_bytes(pem) for c in self.certs[1:]]
        self.reader = (_pem(self.keys[1]), self.recipient_pems[0])


def entity_of(size: int) -> bytes:
    """A text entity of `size` bytes, lines of 76 characters (a base64 attachment's shape)."""
    line = base64.b64encode(os.urandom(57)) + b"\r\n"
    return b"Content-Type: text/plain\r\n\r\n" + (line * (size // len(line) + 1))[:size]


def rsa_public(cert: x509.Certificate) -> rsa.RSAPublicKey:
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def protect_primitives(
    op: Operator, content: bytes, signed_size: int, recipients: int, form: str
) -> Callable[[], object]:
    """Hash the content, sign the attributes (one RSA private operation), encrypt the
    signed entity (`signed_size` bytes: the content, its signature and their MIME) in one
    AES call, and wrap its key for every recipient. The CBC padding is made outside the
    timing: it is the primitives' floor, not Salus's copying, that is measured."""
    signer = op.keys[0]
    publics = [rsa_public(c) for c in op.certs[1 : 1 + recipients]]
    attrs = os.urandom(160)  # what the signed attributes weigh
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    signed = os.urandom(signed_size)
    padder = sym_padding.PKCS7(128).padder()
    padded = padder.update(signed) + padder.finalize()

    def run() -> None:
        digest = hashes.Hash(hashes.SHA256())
        digest.update(content)
        digest.finalize()
        signer.sign(attrs, padding.PKCS1v15(), hashes.SHA256())
        key = os.urandom(32)
        if form == policy.FORM_CBC:
            encryptor = Cipher(algorithms.AES(key), modes.CBC(os.urandom(16))).encryptor()
            encryptor.update(padded)
            encryptor.finalize()
            for public in publics:
                public.encrypt(key, padding.PKCS1v15())
        else:
            AESGCM(key).encrypt(os.urandom(12), signed, None)
            for public in publics:
                public.encrypt(key, oaep)

    return run


def unprotect_primitives(
    op: Operator, content: bytes, signed_size: int, form: str
) -> Callable[[], object]:
    """Unwrap the key (one RSA private operation), decrypt the signed entity, hash the
    content, verify the signature and the two certificate signatures of the path."""
    reader, signer_cert = op.keys[1], op.certs[0]
    signer_public = rsa_public(signer_cert)
    signed = os.urandom(signed_size)
    key = os.urandom(32)
    iv, nonce = os.urandom(16), os.urandom(12)
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    if form == policy.FORM_CBC:
        wrapped = reader.public_key().encrypt(key, padding.PKCS1v15())
        padder = sym_padding.PKCS7(128).padder()
        encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        ciphertext = (
            encryptor.update(padder.update(signed) + padder.finalize()) + encryptor.finalize()
        )
    else:
        wrapped = reader.public_key().encrypt(key, oaep)
        ciphertext = AESGCM(key).encrypt(nonce, signed, None)
    attrs = os.urandom(160)
    signature = op.keys[0].sign(attrs, padding.PKCS1v15(), hashes.SHA256())

    def run() -> None:
        if form == policy.FORM_CBC:
            unwrapped = reader.decrypt(wrapped, padding.PKCS1v15())
            decryptor = Cipher(algorithms.AES(unwrapped), modes.CBC(iv)).decryptor()
            unpadder = sym_padding.PKCS7(128).unpadder()
            unpadder.update(decryptor.update(ciphertext) + decryptor.finalize())
            unpadder.finalize()
        else:
            AESGCM(reader.decrypt(wrapped, oaep)).decrypt(nonce, ciphertext, None)
        digest = hashes.Hash(hashes.SHA256())
        digest.update(content)
        digest.finalize()
        signer_public.verify(signature, attrs, padding.PKCS1v15(), hashes.SHA256())
        signer_cert.verify_directly_issued_by(op.issuing.cert)
        op.issuing.cert.verify_directly_issued_by(op.root)

    return run


def smime_encoding_reference(op: Operator, content: bytes) -> Callable[[], object]:
    """cryptography's own S/MIME output (Encoding.SMIME) of the signature alone."""
    builder = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(content)
        .add_signer(op.certs[0], op.keys[0], hashes.SHA256())
    )
    return lambda: builder.sign(
        serialization.Encoding.SMIME, [pkcs7.PKCS7Options.DetachedSignature]
    )


def with_base64(
    primitives: Callable[[], object], body: bytes, decode: bool
) -> Callable[[], object]:
    """The primitives plus one whole-buffer base64 pass (binascii, no line breaks) over
    the message's base64 body: encoding its DER, or decoding the body itself. That is
    the transfer encoding an S/MIME body needs (RFC 8551 §3.1.3), as the reference's
    second column."""
    der = binascii.a2b_base64(body)

    def run() -> None:
        primitives()
        if decode:
            binascii.a2b_base64(body)
        else:
            binascii.b2a_base64(der, newline=False)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time spent on each measurement")
    args = parser.parse_args()
    op = Operator()
    print(f"command: .venv/bin/python -m bench.crypto --seconds {args.seconds}")
    print(
        f"keys: mailbox RSA-{policy.MAILBOX_RSA_BITS}, issuing RSA-{policy.ISSUING_CA_RSA_BITS}, "
        f"root RSA-{policy.ROOT_CA_RSA_BITS}; median ms of thread CPU time per message; ratio = Salus / primitives "
        "(and / primitives + one base64 pass)\n"
    )
    print(
        "| size | rcpt | form | protect | primitives | ratio | +base64 | unprotect | primitives | ratio | +base64 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for label, size in SIZES.items():
        entity = entity_of(size)
        for count in RECIPIENTS:
            for form in FORMS:
                print(_row(op, label, entity, count, form, args.seconds))
    print()
    for label, size in SIZES.items():
        entity = entity_of(size)
        ours, theirs = paired_ms(
            lambda: smime.sign(entity, op.sender_key, op.sender_chain),  # noqa: B023
            smime_encoding_reference(op, entity),
            args.seconds,
        )
        print(
            f"sign only, {label}: Salus (DER + own MIME) {ours:.2f} ms; cryptography Encoding.SMIME {theirs:.2f} ms"
        )


def _row(op: Operator, label: str, entity: bytes, count: int, form: str, seconds: float) -> str:
    recipients = op.recipient_pems[:count]
    message = smime.sign_and_encrypt(entity, op.sender_key, op.sender_chain, recipients, form)
    body = message[message.index(b"\r\n\r\n") + 4 :]
    signed_size = len(smime.sign(entity, op.sender_key, op.sender_chain))

    def protect() -> object:
        return smime.sign_and_encrypt(entity, op.sender_key, op.sender_chain, recipients, form)

    def unprotect() -> object:
        return smime.unprotect(message, [op.reader], op.anchors, NOW, sender="user0@salus.test")

    protect_raw = protect_primitives(op, entity, signed_size, count, form)
    unprotect_raw = unprotect_primitives(op, entity, signed_size, form)
    p, p_ref = paired_ms(protect, protect_raw, seconds)
    _, p_b64 = paired_ms(protect, with_base64(protect_raw, body, decode=False), seconds)
    u, u_ref = paired_ms(unprotect, unprotect_raw, seconds)
    _, u_b64 = paired_ms(unprotect, with_base64(unprotect_raw, body, decode=True), seconds)
    return (
        f"| {label} | {count} | {form} | {p:.2f} | {p_ref:.2f} | {p / p_ref:.2f}x | {p / p_b64:.2f}x "
        f"| {u:.2f} | {u_ref:.2f} | {u / u_ref:.2f}x | {u / u_b64:.2f}x |"
    )


if __name__ == "__main__":
    main()
