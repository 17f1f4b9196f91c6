"""What may leave for another operator (DESIGN section 8, "No plaintext escape").

- encrypted content (S/MIME enveloped or PGP/MIME encrypted, as the protect step made
  it) leaves as it is;
- reports this operator generated (MDNs, DSNs: null reverse-path) are signed with the
  key of the mailbox they speak for, then encrypted at relay time for the recipient's
  published certificate, in the recipient's S/MIME form;
- anything else is refused, permanently: it is never sent in the clear.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from crypto import smime
from crypto.errors import NoUsableKey
from crypto.keystore import SmimeKeyPair
from crypto.pool import CryptoPool
from crypto.smime import mime
from gateway import mdn
from gateway.policy.rules.sender_owns_from import header_addresses
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


Signer = Callable[[str], Awaitable[SmimeKeyPair]]


async def outbound_content(
    lookup: LookupClient,
    pool: CryptoPool,
    content: bytes,
    recipient: str,
    *,
    report_signer: Signer | None,
) -> bytes:
    """The bytes to relay to `recipient`, or RelayFailed (permanent) for plaintext.
    `report_signer` is given for reports this operator generated (MDNs, DSNs): they are
    signed with the key of their From address. KeyLookupFailed when the recipient's
    certificate is needed and cannot be had."""
    kind = protection(content)
    if kind == ENCRYPTED:
        return content
    if kind == PLAIN:
        if report_signer is None:
            raise RelayFailed(REFUSED, temporary=False)
        content = await _signed(content, report_signer, pool)
    keys = await lookup.keys(recipient)
    form = keys.crypto if keys.crypto in ("smime", "smime-gcm") else "smime"
    outer, entity = smime.split_message(content)
    sealed = await pool.run(smime.encrypt, entity, [keys.certificate_pem], form)
    return smime.join_message(outer, sealed)


async def _signed(report: bytes, signer: Signer, pool: CryptoPool) -> bytes:
    """A report we generated, signed by the mailbox it speaks for (its From)."""
    headers = mdn.headers_of(report)
    addresses = header_addresses("From", str(headers.get("From", "")))
    if len(addresses) != 1:
        raise RelayFailed(
            "554 5.7.1 The report names no single From address to sign as", temporary=False
        )
    try:
        pair = await signer(addresses[0])
    except NoUsableKey as exc:
        raise RelayFailed(
            f"554 5.7.1 The report cannot be signed: {exc}", temporary=False
        ) from None
    outer, entity = smime.split_message(report)
    signed = await pool.run(smime.sign, entity, pair.key_pem, pair.chain_pem)
    return smime.join_message(outer, signed)
