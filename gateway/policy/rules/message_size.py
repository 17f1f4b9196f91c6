"""message-size: the real byte count of DATA is within `smtp.max_message_size`
(RFC 1870 §6.3: the server checks what it receives, not only the declared SIZE)."""

from __future__ import annotations

from gateway.policy.decision import Refusal, Rule
from gateway.policy.facts import ContentFacts

NAME = "message-size"


def check(facts: ContentFacts) -> Refusal | None:
    limit = facts.limits.max_message_size
    if facts.stats.total_bytes <= limit:
        return None
    return Refusal(
        NAME,
        552,
        "5.3.4",
        f"the message passes the size limit of {limit} bytes;"
        " send large files another way or split the message",
    )


RULE = Rule(NAME, check)
