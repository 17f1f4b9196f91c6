"""declared-size: the SIZE given with MAIL FROM is within the limit (RFC 1870 §6)."""

from __future__ import annotations

from gateway.policy.decision import Refusal, Rule
from gateway.policy.facts import SenderFacts

NAME = "declared-size"


def check(facts: SenderFacts) -> Refusal | None:
    limit = facts.limits.max_message_size
    if facts.declared_size is None or facts.declared_size <= limit:
        return None
    return Refusal(
        NAME,
        552,
        "5.3.4",
        f"the declared size of {facts.declared_size} bytes passes the limit of {limit} bytes;"
        " send large files another way or split the message",
    )


RULE = Rule(NAME, check)
