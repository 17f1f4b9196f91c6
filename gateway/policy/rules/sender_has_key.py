"""sender-has-key: the envelope sender's mailbox has an active key to sign with.

Every message leaves signed by its sender (DESIGN section 5.3); a mailbox whose keys were
never issued, or were revoked, cannot sign, so the transaction stops at MAIL FROM rather
than after the client has uploaded the whole message.
"""

from __future__ import annotations

from gateway.policy.decision import Refusal, Rule
from gateway.policy.facts import SenderFacts

NAME = "sender-has-key"


def check(facts: SenderFacts) -> Refusal | None:
    if facts.signing_key:
        return None
    return Refusal(
        NAME,
        550,
        "5.7.1",
        f"<{facts.mail_from}> has no active signing key, and every message is signed by its"
        " sender: ask an administrator to issue its keys (salus keys issue)",
    )


RULE = Rule(NAME, check)
