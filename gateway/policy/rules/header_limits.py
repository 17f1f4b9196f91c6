"""header-limits: at most `smtp.max_header_count` header fields in at most
`smtp.max_header_bytes` bytes, checked before anything else parses the header block."""

from __future__ import annotations

from gateway.mime import HeaderLimitExceeded
from gateway.policy.decision import Refusal, Rule
from gateway.policy.facts import ContentFacts

NAME = "header-limits"


def check(facts: ContentFacts) -> Refusal | None:
    headers = facts.headers
    if isinstance(headers, HeaderLimitExceeded):
        return Refusal(NAME, 552, "5.3.4", f"{headers.reason}; remove header fields and resend")
    return None


RULE = Rule(NAME, check)
