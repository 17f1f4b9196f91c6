"""sender-owns-envelope: the envelope sender is one of the mailboxes the authenticated
client may use (its own, or an organisational one by delegation). DESIGN section 5.1."""

from __future__ import annotations

from gateway.policy.decision import Refusal, Rule
from gateway.policy.facts import SenderFacts

NAME = "sender-owns-envelope"


def check(facts: SenderFacts) -> Refusal | None:
    if facts.mail_from.lower() in facts.usable:
        return None
    allowed = ", ".join(sorted(facts.usable)) or "none"
    return Refusal(
        NAME,
        553,
        "5.7.1",
        f"you may not send as <{facts.mail_from}>; your login may send as: {allowed}",
    )


RULE = Rule(NAME, check)
