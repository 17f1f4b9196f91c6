"""The inbound MX's verdict on a message's protection (DESIGN section 5.7).

A message from another operator must be encrypted to the recipient and signed inside by
the sender: S/MIME with a certificate that chains to the sending domain's CA and is for
the From address (RFC 8551 §3.5.5, §3.7), or PGP/MIME with the key that domain's lookup
publishes for the From address (RFC 3156 §6). Decryption failures are one opaque refusal
(no oracle); signature refusals keep their reason.

Pure functions of bytes and strings, so the MX runs them in a worker (they are the CPU
work of the MX). `server_decrypted` and `authentication_results` shape what is stored.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from crypto import openpgp, smime
from crypto.errors import DecryptionError, EnvelopeRefused
from crypto.smime import mime

SMIME = "smime"
OPENPGP = "openpgp"
_ENVELOPED = frozenset({"enveloped-data", "authenveloped-data"})
_OUR_RESULTS = re.compile(rb"(?im)^authentication-results:[^\r\n]*(?:\r\n[ \t][^\r\n]*)*\r\n")


class InboundRefused(Exception):
    """The message's protection is refused; the text is what the peer hears."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def reply(self) -> str:
        return f"550 5.7.1 {self.reason}"

    def __reduce__(self) -> tuple[type[InboundRefused], tuple[str]]:
        return (type(self), (self.reason,))


class InboundDeferred(InboundRefused):
    """The message cannot be judged now (the sending domain's revocation status or key is
    not to be had): the peer hears a temporary refusal and tries again later (RFC 3463
    X.7.5: the information needed to validate the message is not available)."""

    def reply(self) -> str:
        return f"451 4.7.5 {self.reason}"


@dataclass(frozen=True, slots=True)
class Verified:
    """An inbound message that decrypted for one recipient and whose signature holds."""

    form: str  # SMIME or OPENPGP
    signer: str  # the signer's address, which is the From address
    content: bytes  # the decrypted, signed entity
    detail: str


def protection_form(message: bytes) -> str | None:
    """SMIME, OPENPGP, or None when the message as a whole is not encrypted."""
    try:
        outer = mime.parse(message)
    except mime.MimeError:
        return None
    ctype = outer.content_type
    if ctype in mime.PKCS7_MIME and (outer.param("smime-type") or "").lower() in _ENVELOPED:
        return SMIME
    if (
        ctype == "multipart/encrypted"
        and (outer.param("protocol") or "").lower() == "application/pgp-encrypted"
    ):
        return OPENPGP
    return None


def verify_smime(
    message: bytes,
    keys: Sequence[tuple[bytes, bytes]],
    anchors_pem: Sequence[bytes],
    sender: str,
    at: dt.datetime,
    *,
    crl: Sequence[bytes] = (),
) -> Verified:
    """Decrypt with one of the recipient's (key, certificate) generations; the signature
    must chain to `anchors_pem` (the sending domain's CA) with a certificate for `sender`
    that `crl` (that CA's revocation lists, PEM) does not revoke."""
    _, entity = smime.split_message(message)
    try:
        result = smime.unprotect(entity, keys, anchors_pem, at, crl, sender=sender)
    except EnvelopeRefused as exc:
        raise InboundRefused(f"the message's encryption is refused: {exc.detail}") from None
    except DecryptionError:
        raise InboundRefused("the message cannot be decrypted for its recipient here") from None
    if not result.valid:
        raise InboundRefused(f"the signature is not accepted: {result.detail}")
    return Verified(SMIME, sender, result.content, result.detail)


def verify_openpgp(
    message: bytes,
    secrets: Sequence[str],
    signer_public: str,
    sender: str,
    at: dt.datetime,
) -> Verified:
    """Decrypt with the recipient's OpenPGP key generations; the signature must be made
    by `signer_public`, the key the sending domain publishes for `sender`."""
    _, entity = smime.split_message(message)
    try:
        result = openpgp.decrypt_and_verify(entity, secrets, [signer_public], at=at)
    except openpgp.MessageRefused as exc:
        raise InboundRefused(f"the PGP/MIME message is refused: {exc}") from None
    except DecryptionError:
        raise InboundRefused("the message cannot be decrypted for its recipient here") from None
    if not result.signature_valid:
        raise InboundRefused(f"the signature is not accepted ({result.reason or 'invalid'})")
    if sender not in result.signer_addresses:
        raise InboundRefused(f"the signing key is not <{sender}>'s, the From address")
    return Verified(OPENPGP, sender, result.content, f"signed by {sender}")


def authentication_results(hostname: str, verified: Verified) -> bytes:
    """The result header (RFC 8601 syntax; the `smime` method of RFC 7281)."""
    method = "smime" if verified.form == SMIME else "x-openpgp"
    return (
        f"Authentication-Results: {hostname};\r\n"
        f"\t{method}=pass ({_comment(verified.detail)}) header.from={verified.signer}\r\n"
    ).encode("ascii", "replace")


def without_foreign_results(message: bytes) -> bytes:
    """The message without Authentication-Results fields in its header (RFC 8601 §5: a
    receiver removes results it did not write before adding its own)."""
    head, sep, body = message.partition(b"\r\n\r\n")
    return _OUR_RESULTS.sub(b"", head + b"\r\n") + sep[2:] + body if sep else message


def server_decrypted(message: bytes, verified: Verified, hostname: str) -> bytes:
    """What a server-decrypt mailbox stores: the outer header, the result, and the
    verified content in place of the encrypted entity."""
    outer, _ = smime.split_message(without_foreign_results(message))
    return authentication_results(hostname, verified) + smime.join_message(outer, verified.content)


def _comment(text: str) -> str:
    return " ".join(text.replace("(", "[").replace(")", "]").split())[:200]
