"""Decrypt a PGP/MIME message and verify its signature (RFC 3156 §4, §6).

Order of work: the MIME framing and the packet layout are checked first (refusals with a
reason, no key used: message_layout, pgp_mime); then the session key and the SEIPD
packet are decrypted, its MDC checked (any failure: one opaque DecryptionError); then
the signature is judged against the keys the caller trusts for the sender (verdict).

Both RFC 3156 forms of a signed and encrypted message are read: combined (§6.2,
signature packets inside the encrypted data) and nested (§6.1, a multipart/signed
entity inside). The returned content is always the decrypted entity itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pgpy
from pgpy.constants import PubKeyAlgorithm, SymmetricKeyAlgorithm
from pgpy.packet import Packet

from crypto import policy
from crypto.errors import DecryptionError, Reason
from crypto.openpgp import message_layout, verdict
from crypto.openpgp.armor import ArmorError, dearmor
from crypto.openpgp.errors import MessageRefused, Refusal
from crypto.openpgp.keys import load_secret
from crypto.openpgp.packets import PacketError, RawPacket, encode
from crypto.openpgp.pgp_mime import encrypted_payload, signed_parts

_WILDCARD = "0" * 16  # anonymous recipient key id (RFC 4880 §5.1)
_CAN_DECRYPT = frozenset(
    {PubKeyAlgorithm.RSAEncryptOrSign, PubKeyAlgorithm.RSAEncrypt, PubKeyAlgorithm.ECDH}
)


@dataclass(frozen=True, slots=True)
class OpenPgpResult:
    """A decrypted message and the verdict on its signature.

    `signer` names the key the signature points to whenever it is among the trusted
    keys, also when the signature does not hold: read it only with `signature_valid`.
    `reason` is None when the signature is valid, else a `crypto.errors.Reason` value
    (or "bad-self-signature")."""

    content: bytes
    signer: str | None
    signature_valid: bool
    reason: str | None
    signer_addresses: tuple[str, ...] = ()


def decrypt_and_verify(
    entity: bytes,
    recipient_secret: str | Sequence[str],
    signer_publics: Sequence[str],
    *,
    at: datetime | None = None,
) -> OpenPgpResult:
    """Decrypt `entity` (a PGP/MIME multipart/encrypted entity, header fields and body)
    with `recipient_secret` and judge its signature against `signer_publics`.
    `recipient_secret` may also be several secret keys (a mailbox's key generations, so
    that mail sent to a renewed key stays readable): the session key packets name the
    key to use, no trial decryption.

    MessageRefused (a DecryptionError with a reason) for what is refused from the public
    structure; DecryptionError, saying nothing more, for every decryption failure."""
    now = at or datetime.now(UTC)
    try:
        binary = dearmor(encrypted_payload(entity), "MESSAGE")
    except ArmorError as exc:
        raise MessageRefused(
            Refusal.MALFORMED, "the PGP/MIME payload is not one armored message"
        ) from exc
    layout = message_layout.envelope(binary)
    secrets = [recipient_secret] if isinstance(recipient_secret, str) else recipient_secret
    recipients = [load_secret(secret) for secret in secrets]
    try:
        plaintext = _decrypt(recipients, layout)
    except DecryptionError:
        raise
    except Exception as exc:  # pgpy and cryptography raise many kinds: all are one
        raise DecryptionError() from exc
    inner = message_layout.contents(message_layout.without_mdc(plaintext))
    judged = _judge(inner, signer_publics, now)
    return OpenPgpResult(
        inner.data, judged.signer, judged.valid, judged.reason, judged.signer_addresses
    )


def _decrypt(recipients: list[pgpy.PGPKey], layout: message_layout.Envelope) -> bytes:
    cipher, session_key = _session_key(recipients, layout.session_keys)
    seipd = Packet(bytearray(encode(layout.encrypted.tag, layout.encrypted.body)))
    return bytes(seipd.decrypt(session_key, cipher))  # checks the MDC (RFC 4880 §5.13)


def _session_key(
    recipients: list[pgpy.PGPKey], session_keys: list[RawPacket]
) -> tuple[SymmetricKeyAlgorithm, bytes]:
    """Our session key: from a PKESK for one of our keys (any of them, expired or not,
    so that old mail stays readable), with a cipher the policy accepts."""
    ours = {
        key.fingerprint.keyid: key
        for recipient in recipients
        for key in (recipient, *recipient.subkeys.values())
        if key.key_algorithm in _CAN_DECRYPT
    }
    for raw in session_keys:
        pkesk = Packet(bytearray(encode(raw.tag, raw.body)))
        candidates = ours.values() if pkesk.encrypter == _WILDCARD else [ours.get(pkesk.encrypter)]
        for key in candidates:
            if key is None or key.key_algorithm != pkesk.pkalg:
                continue
            try:
                cipher, session_key = pkesk.decrypt_sk(key._key)
            except Exception:  # noqa: S112 - a wildcard PKESK may be for someone else
                continue
            if cipher.name in policy.OPENPGP_ACCEPTED_CIPHERS:
                return cipher, bytes(session_key)
    raise DecryptionError()


def _judge(
    inner: message_layout.Contents, signer_publics: Sequence[str], at: datetime
) -> verdict.Verdict:
    if inner.signatures:  # combined method, RFC 3156 §6.2
        return verdict.judge(inner.data, inner.signatures, signer_publics, at)
    try:
        nested = signed_parts(inner.data)  # nested method, RFC 3156 §6.1
    except MessageRefused:  # more than the signed part and its signature
        return verdict.Verdict(None, False, Reason.UNSIGNED_PART)
    if nested is None:
        return verdict.Verdict(None, False, Reason.NOT_SIGNED)
    signed, armored_signature = nested
    try:
        packets = verdict.signature_packets(dearmor(armored_signature, "SIGNATURE"))
    except (ArmorError, PacketError):
        packets = []
    if not packets:
        return verdict.Verdict(None, False, Reason.MALFORMED)
    return verdict.judge(verdict.canonical_text(signed), packets, signer_publics, at)
