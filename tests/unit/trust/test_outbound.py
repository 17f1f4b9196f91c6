"""What may leave for another operator: encrypted content as it is, our own reports once
signed and encrypted, never anything in the clear (DESIGN section 8)."""

from __future__ import annotations

import asyncio

import pytest

from crypto.pool import CryptoPool
from mailserver.relay.client import RelayFailed
from mailserver.relay.outbound import ENCRYPTED, PLAIN, SIGNED, outbound_content, protection

ENVELOPED = (
    b"From: a@a.test\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nMIAGCSqG\r\n"
)
PGP = b'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary=b\r\n\r\n'
SIGNED_ONLY = (
    b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; boundary=s\r\n\r\n'
)
CLEAR = b"From: a@a.test\r\nSubject: hello\r\n\r\nclear text\r\n"


@pytest.mark.parametrize(
    ("content", "kind"),
    [(ENVELOPED, ENCRYPTED), (PGP, ENCRYPTED), (SIGNED_ONLY, SIGNED), (CLEAR, PLAIN), (b"", PLAIN)],
)
def test_protection_is_read_from_the_top_entity(content: bytes, kind: str) -> None:
    assert protection(content) == kind


NO_POOL = CryptoPool(1)  # never started: nothing here may need crypto work


class NoLookup:
    async def keys(self, address: str) -> object:
        raise AssertionError("no key is looked up for what leaves as it is, or not at all")


def test_encrypted_content_leaves_unchanged_and_clear_text_never_leaves() -> None:
    lookup = NoLookup()
    same = asyncio.run(outbound_content(lookup, NO_POOL, ENVELOPED, "x@b.test", report_signer=None))  # type: ignore[arg-type]
    assert same == ENVELOPED
    with pytest.raises(RelayFailed) as refused:
        asyncio.run(outbound_content(lookup, NO_POOL, CLEAR, "x@b.test", report_signer=None))  # type: ignore[arg-type]
    assert not refused.value.temporary
    assert refused.value.reply.startswith("554 5.7.1 ")
