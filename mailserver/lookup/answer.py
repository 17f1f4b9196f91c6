"""What the certificate lookup publishes for one exact address (DESIGN section 5.8).

Published: an active local mailbox of one of our domains whose owner (when it has one)
is active and which has an active key: its S/MIME certificate with the issuing CA, its
OpenPGP public key, its preferred form. Everything else gets the same "nothing
published" answer, so that a peer cannot tell an unknown mailbox from a suspended or
keyless one. There is no listing and no search: red-listed mailboxes (unpublished in
the directory exports) are answered only to whoever already knows the exact address.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from crypto import keystore
from directory import repository
from directory.addresses import address_problem
from directory.models import MailboxStatus, PractitionerStatus
from gateway.trust.remote_keys import RemoteKeys


def exact_address(text: str) -> str | None:
    """`text` as a mailbox address (lowercase), or None when it is not one: wildcards,
    patterns and partial names are not addresses, so they match nothing."""
    address = text.strip().lower()
    return None if address_problem(address) is not None else address


async def published_keys(
    session: AsyncSession, local_domains: tuple[str, ...], issuing_pem: bytes, address: str
) -> RemoteKeys | None:
    """The keys of `address` as a peer may see them (the certificate followed by our
    issuing CA, `issuing_pem`), or None when nothing is published."""
    if address.rpartition("@")[2] not in local_domains:
        return None
    mailbox = await repository.mailbox_by_address(session, address)
    if mailbox is None or not mailbox.local or mailbox.status != MailboxStatus.ACTIVE:
        return None
    if mailbox.owner_id is not None:
        owner = await repository.practitioner(session, mailbox.owner_id)
        if owner is None or owner.status != PractitionerStatus.ACTIVE:
            return None
    key = await keystore.active(session, address)
    if key is None:
        return None
    return RemoteKeys(
        address=mailbox.address,
        crypto=mailbox.crypto,
        certificate_chain_pem=key.smime_cert_pem.encode("ascii") + issuing_pem,
        openpgp_public=key.openpgp_public,
    )
