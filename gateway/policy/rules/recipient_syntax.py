"""recipient-syntax: no address form that could make this server relay elsewhere.

Refused: source routes (RFC 5321 §3.6.1, Appendix C), the %-hack and bang paths in the
local part, quoted local parts (RFC 5321 §4.1.2 allows them; no mailbox here has one and
they hide "@"), address literals instead of a domain (§4.1.3).
"""

from __future__ import annotations

import re

from gateway.policy.decision import Refusal, Rule
from gateway.policy.facts import RecipientFacts

NAME = "recipient-syntax"
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def check(facts: RecipientFacts) -> Refusal | None:
    reason = _problem(facts.address)
    if reason is None:
        return None
    return Refusal(NAME, 553, "5.1.3", f"<{facts.address}>: {reason}")


def _problem(address: str) -> str | None:
    if address.startswith("@"):
        return "source routes are not accepted; give the final address only"
    local, at, domain = address.rpartition("@")
    checks = (
        (not at or not local, "an address needs a local part and a domain"),
        (local.startswith('"'), "quoted local parts are not accepted"),
        (
            any(c in local for c in '%!@"\\ '),
            "'%', '!' and '@' in the local part are not accepted (no relaying through this server)",
        ),
        (domain.startswith("["), "address literals are not accepted; use the mail domain"),
        (not _DOMAIN.match(domain.lower()), f"{domain!r} is not a valid domain name"),
    )
    return next((reason for failed, reason in checks if failed), None)


RULE = Rule(NAME, check)
