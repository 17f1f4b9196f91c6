"""What may leave for another operator (DESIGN section 8, "No plaintext escape").

- encrypted content (S/MIME enveloped or PGP/MIME encrypted, as the protect step made
  it) leaves as it is;
- signed content this operator generated (a signed MDN) is encrypted at relay time for
  the recipient's published certificate, in the recipient's S/MIME form;
- anything else is refused, permanently: it is never sent in the clear.
"""

from __future__ import annotations

import asyncio

from crypto import smime
from crypto.smime import mime
from gateway.trust import inbound
from mailserver.lookup.client import LookupClient
from mailserver.relay.client import RelayFailed

ENCRYPTED, SIGNED, PLAIN = "encrypted", "signed", "plain"
REFUSED = (
    "554 5.7.1 The message is not signed and encrypted; it is never sent in the clear"
    " to another operator"
)


def protection(content: bytes) -> str:
    """ENCRYPTED, SIGNED (S/MIME signed only) or PLAIN, from the message's top entity."""
    if inbound.protection_form(content) is not None:
        return ENCRYPTED
    try:
        top = mime.parse(content)
    except mime.MimeError:
        return PLAIN
    return SIGNED if mime.is_signed(top) else PLAIN


async def outbound_content(lookup: LookupClient, content: bytes, recipient: str) -> bytes:
    """The bytes to relay to `recipient`, or RelayFailed (permanent) for plaintext.
    KeyLookupFailed when the recipient's certificate is needed and cannot be had."""
    kind = protection(content)
    if kind == ENCRYPTED:
        return content
    if kind == PLAIN:
        raise RelayFailed(REFUSED, temporary=False)
    keys = await lookup.keys(recipient)
    form = keys.crypto if keys.crypto in ("smime", "smime-gcm") else "smime"
    outer, entity = smime.split_message(content)
    sealed = await asyncio.to_thread(smime.encrypt, entity, [keys.certificate_pem], form)
    return smime.join_message(outer, sealed)
