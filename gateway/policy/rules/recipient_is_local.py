"""recipient-is-local: the recipient is an active mailbox of this operator.

Mailboxes of other operators of the trust space are accepted when their operator's
certificate lookup publishes a key for them (the sender's Salus encrypts to it), and
refused with the lookup's reason otherwise (550, or 451 when the lookup could not be
reached). Anything else is a relay attempt (DESIGN section 8, "No relay").
"""

from __future__ import annotations

from gateway.policy.decision import Refusal, Rule
from gateway.policy.facts import RecipientFacts
from gateway.trust.remote_keys import KeyLookupFailed, RemoteKeys

NAME = "recipient-is-local"


def check(facts: RecipientFacts) -> Refusal | None:
    address = facts.address
    if facts.domain in facts.local_domains:
        if facts.mailbox_status is None:
            return Refusal(NAME, 550, "5.1.1", f"<{address}>: there is no such mailbox here")
        if facts.mailbox_status != "active":
            return Refusal(
                NAME, 550, "5.2.1", f"<{address}>: this mailbox is suspended and accepts no mail"
            )
        return None
    if facts.trusted_domain:
        return _remote(facts)
    return Refusal(
        NAME,
        550,
        "5.7.1",
        f"<{address}> is neither a mailbox here nor in the trust space: relaying is not allowed",
    )


def _remote(facts: RecipientFacts) -> Refusal | None:
    """Another operator's mailbox: accepted when its lookup published a key to encrypt
    to (DESIGN section 5.3), refused with the lookup's reason otherwise."""
    found = facts.remote_key
    if isinstance(found, RemoteKeys):
        return None
    if isinstance(found, KeyLookupFailed):
        return Refusal(NAME, found.code, found.status, f"<{found.address}>: {found.reason}")
    return Refusal(
        NAME,
        550,
        "5.7.1",
        f"<{facts.address}> belongs to another operator of the trust space and no key was"
        " looked up for it: it would leave unprotected",
    )


RULE = Rule(NAME, check)
