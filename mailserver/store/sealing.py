"""Sealing message bytes at rest (DESIGN section 5.6: no plaintext body at rest).

A blob is sealed with the service key (crypto/at_rest.py), and the associated data names
the blob: its mailbox and its random id. The header section is sealed separately (under
its own context) so that header fetches do not open whole messages.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from crypto.at_rest import AtRestCipher


def header_length(message: bytes) -> int:
    """Bytes of the header section including the blank line (RFC 5322 §2.1); the whole
    message when it has no body."""
    crlf = message.find(b"\r\n\r\n")
    lf = message.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf < lf):
        return crlf + 4
    if lf >= 0:
        return lf + 2
    return len(message)


def _context(kind: str, mailbox_id: int, blob_id: str) -> bytes:
    return f"salus/store/{kind}/v1|mailbox={mailbox_id}|blob={blob_id}".encode()


@dataclass(frozen=True, slots=True)
class SealedBlob:
    id: str
    size: int
    sealed: bytes
    sealed_header: bytes


def seal(at_rest: AtRestCipher, mailbox_id: int, message: bytes) -> SealedBlob:
    blob_id = secrets.token_hex(16)
    header = message[: header_length(message)]
    return SealedBlob(
        id=blob_id,
        size=len(message),
        sealed=at_rest.seal(message, _context("blob", mailbox_id, blob_id)),
        sealed_header=at_rest.seal(header, _context("header", mailbox_id, blob_id)),
    )


def open_message(at_rest: AtRestCipher, mailbox_id: int, blob_id: str, sealed: bytes) -> bytes:
    return at_rest.open(sealed, _context("blob", mailbox_id, blob_id))


def open_header(at_rest: AtRestCipher, mailbox_id: int, blob_id: str, sealed: bytes) -> bytes:
    return at_rest.open(sealed, _context("header", mailbox_id, blob_id))
