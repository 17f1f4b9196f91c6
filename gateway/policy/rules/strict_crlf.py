"""strict-crlf: every line ends with CRLF; a bare LF or CR is refused, never taken as a
line end or as the end of data (RFC 5321 §2.3.8 and §4.1.1.4; SMTP smuggling)."""

from __future__ import annotations

from gateway.policy.decision import Refusal, Rule
from gateway.policy.facts import ContentFacts

NAME = "strict-crlf"


def check(facts: ContentFacts) -> Refusal | None:
    raw = facts.raw
    pairs = raw.count(b"\r\n")
    if raw.count(b"\n") == pairs and raw.count(b"\r") == pairs:
        return None
    kind, position = first_bare_line_end(raw)
    line = raw.count(b"\r\n", 0, position) + 1
    return Refusal(
        NAME,
        550,
        "5.6.0",
        f"line {line} contains a bare {kind}; every line must end with CRLF",
    )


def first_bare_line_end(raw: bytes) -> tuple[str, int]:
    """("LF" or "CR", offset) of the first line-end character not part of a CRLF."""
    position = 0
    while True:
        lf = raw.find(b"\n", position)
        cr = raw.find(b"\r", position)
        if lf >= 0 and (cr < 0 or lf < cr):
            return "LF", lf
        if cr < 0:
            return "LF", len(raw)  # unreachable when counts differ; keeps the type total
        if raw[cr + 1 : cr + 2] != b"\n":
            return "CR", cr
        position = cr + 2


RULE = Rule(NAME, check)
