"""mime-structure: the MIME tree parses within `smtp.max_mime_depth` nesting levels and
`smtp.max_mime_parts` parts (RFC 2045/2046); multiparts carry their boundary."""

from __future__ import annotations

from gateway.mime import MimeError, MimeLimitExceeded
from gateway.policy.decision import Refusal, Rule
from gateway.policy.facts import ContentFacts

NAME = "mime-structure"


def check(facts: ContentFacts) -> Refusal | None:
    tree = facts.mime
    if isinstance(tree, MimeLimitExceeded):
        return Refusal(NAME, 552, "5.3.4", f"{tree.reason}; simplify the message and resend")
    if isinstance(tree, MimeError):
        return Refusal(NAME, 550, "5.6.0", f"the MIME structure is malformed: {tree.reason}")
    return None


RULE = Rule(NAME, check)
