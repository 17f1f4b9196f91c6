"""recipient-count: at most `smtp.max_recipients` per message. A temporary 452 lets the
client send the rest in another transaction (RFC 5321 §4.5.3.1.10)."""

from __future__ import annotations

from gateway.policy.decision import Refusal, Rule
from gateway.policy.facts import RecipientFacts

NAME = "recipient-count"


def check(facts: RecipientFacts) -> Refusal | None:
    limit = facts.limits.max_recipients
    if facts.already_accepted < limit:
        return None
    return Refusal(
        NAME,
        452,
        "4.5.3",
        f"too many recipients: at most {limit} per message; send to the others in another message",
    )


RULE = Rule(NAME, check)
