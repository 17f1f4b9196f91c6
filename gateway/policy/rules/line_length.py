"""line-length: no line longer than `smtp.max_line_length` octets without its CRLF
(RFC 5322 §2.1.1: 998; RFC 5321 §4.5.3.1.6: 1000 with the CRLF)."""

from __future__ import annotations

from gateway.policy.decision import Refusal, Rule
from gateway.policy.facts import ContentFacts

NAME = "line-length"


def check(facts: ContentFacts) -> Refusal | None:
    limit = facts.limits.max_line_length
    if facts.stats.longest_line <= limit:
        return None
    return Refusal(
        NAME,
        550,
        "5.6.0",
        f"a line is longer than {limit} characters; the mail client must encode long lines"
        " (quoted-printable or base64)",
    )


RULE = Rule(NAME, check)
