"""nul-bytes: no NUL octet in the message (RFC 5322 §2.3, RFC 6152 §3: not even in
8BITMIME); binary content travels base64-encoded in a MIME part."""

from __future__ import annotations

from gateway.policy.decision import Refusal, Rule
from gateway.policy.facts import ContentFacts

NAME = "nul-bytes"


def check(facts: ContentFacts) -> Refusal | None:
    position = facts.raw.find(b"\x00")
    if position < 0:
        return None
    line = facts.raw.count(b"\n", 0, position) + 1
    return Refusal(
        NAME,
        550,
        "5.6.0",
        f"the message contains a NUL byte (line {line}); attach binary content as a"
        " base64-encoded MIME part",
    )


RULE = Rule(NAME, check)
