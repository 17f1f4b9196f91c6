"""recipient-has-key: a local recipient's mailbox has an active key to encrypt to.

A message is encrypted for each recipient (DESIGN section 5.3): a mailbox whose keys
were never issued (or were revoked, or have expired) is refused at RCPT with a reason
that names it, and nothing is ever delivered to it in the clear. Other operators'
recipients are judged by `recipient-is-local` on the keys their lookup published.
"""

from __future__ import annotations

from gateway.policy.decision import Refusal, Rule
from gateway.policy.facts import RecipientFacts

NAME = "recipient-has-key"


def check(facts: RecipientFacts) -> Refusal | None:
    if facts.domain not in facts.local_domains or facts.key_issued:
        return None
    return Refusal(
        NAME,
        550,
        "5.7.1",
        f"<{facts.address}>: the keys of this mailbox are not issued, and messages are"
        " only delivered encrypted: ask an administrator to issue them (salus keys issue)",
    )


RULE = Rule(NAME, check)
