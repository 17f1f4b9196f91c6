"""recipient-is-local: the recipient is an active mailbox of this operator.

Mailboxes of other operators of the trust space are refused with a reason of their own:
relaying to them is not enabled here yet (the trust-space relay adds it). Anything else
is a relay attempt (DESIGN section 8, "No relay").
"""

from __future__ import annotations

from gateway.policy.decision import Refusal, Rule
from gateway.policy.facts import RecipientFacts

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
        return Refusal(
            NAME,
            550,
            "5.7.1",
            f"<{address}> belongs to another operator of the trust space:"
            " relay to other operators is not enabled",
        )
    return Refusal(
        NAME,
        550,
        "5.7.1",
        f"<{address}> is neither a mailbox here nor in the trust space: relaying is not allowed",
    )


RULE = Rule(NAME, check)
