"""header-syntax: the header block is a list of fields (RFC 5322 §2.2) with exactly one
From field (§3.6)."""

from __future__ import annotations

from gateway.mime import MimeError
from gateway.policy.decision import Refusal, Rule
from gateway.policy.facts import ContentFacts

NAME = "header-syntax"


def check(facts: ContentFacts) -> Refusal | None:
    headers = facts.headers
    if isinstance(headers, MimeError):
        return Refusal(NAME, 550, "5.6.0", f"the message header is malformed: {headers.reason}")
    count = len(headers.all("From"))
    if count != 1:
        return Refusal(
            NAME, 550, "5.6.0", f"the message has {count} From fields; exactly one is required"
        )
    return None


RULE = Rule(NAME, check)
