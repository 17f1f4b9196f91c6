"""Mail addresses and domain names as the directory accepts them.

Addresses are ASCII `local@domain` (RFC 5321 §4.1.2 Mailbox with a dot-atom local part,
no quoted strings, no address literals), at most 254 octets (RFC 5321 §4.5.3.1.3 path
limit less the brackets), stored lowercase.
"""

from __future__ import annotations

import re

from directory.errors import InvalidInput

_LOCAL = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
_LABEL_TEXT = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# The common case in one match: a valid address whose parts are within their limits.
_PLAIN_ADDRESS = re.compile(
    r"(?=.{1,64}@)[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    rf"@(?:{_LABEL_TEXT}\.)+{_LABEL_TEXT}\Z"
)
MAX_ADDRESS = 254
MAX_LOCAL = 64
MAX_DOMAIN = 253


def domain_problem(domain: str) -> str | None:
    """Why `domain` (lowercase) is not a host name, or None."""
    if not domain or len(domain) > MAX_DOMAIN:
        return "a domain has 1 to 253 characters"
    labels = domain.split(".")
    if len(labels) < 2:
        return "a domain has at least two labels (example.test)"
    if not all(label.isascii() and _LABEL.match(label) for label in labels):
        return "a domain label is letters, digits and inner hyphens"
    return None


def address_problem(address: str) -> str | None:
    """Why `address` (lowercase) is not an acceptable mailbox address, or None."""
    if len(address) <= MAX_ADDRESS and address.isascii() and _PLAIN_ADDRESS.match(address):
        return None
    return address_reason(address)


def address_reason(address: str) -> str | None:
    """`address_problem` checked part by part (the slow path, which names the fault)."""
    if len(address) > MAX_ADDRESS:
        return f"an address has at most {MAX_ADDRESS} characters"
    local, at, domain = address.rpartition("@")
    if not at or not local:
        return "an address is local-part@domain"
    if len(local) > MAX_LOCAL or not local.isascii() or not _LOCAL.match(local):
        return "the local part is not a plain dot-atom of at most 64 characters"
    return domain_problem(domain)


def parse_address(text: str) -> str:
    address = text.strip().lower()
    reason = address_problem(address)
    if reason is not None:
        raise InvalidInput(f"invalid address {text.strip()!r}: {reason}")
    return address


def parse_domain(text: str) -> str:
    domain = text.strip().lower().rstrip(".")
    reason = domain_problem(domain)
    if reason is not None:
        raise InvalidInput(f"invalid domain {text.strip()!r}: {reason}")
    return domain


def domain_of(address: str) -> str:
    return address.rpartition("@")[2]
