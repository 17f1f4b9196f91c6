"""Rules, refusals and decisions: the vocabulary of the policy chains (Mailman 3 style).

A rule is a name and a pure check of one kind of facts. A chain runs its rules in order
and stops at the first refusal; the decision records which rules ran and which hit, and
that record is what goes to the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

F = TypeVar("F")


@dataclass(frozen=True, slots=True)
class Refusal:
    """A rule's verdict against a message, as the SMTP reply the sender sees.

    `status` is the enhanced status code (RFC 3463); `reason` is a sentence the sender can
    act on. The reply names the rule, so a support desk can find it in the audit trail.
    """

    rule: str
    code: int
    status: str
    reason: str

    @property
    def temporary(self) -> bool:
        return self.code < 500

    def reply(self) -> str:
        return f"{self.code} {self.status} {_printable(self.reason)} [{self.rule}]"


def _printable(text: str) -> str:
    # A reply is one ASCII line (RFC 5321 §4.2): no CR/LF from content can split it.
    return text.encode("ascii", "backslashreplace").decode("ascii").replace("\r", " ").replace("\n", " ")


@dataclass(frozen=True, slots=True)
class Rule(Generic[F]):
    name: str
    check: Callable[[F], Refusal | None]


@dataclass(frozen=True, slots=True)
class Decision:
    """What a chain decided: the rules it ran, in order, and the ones that hit."""

    stage: str
    checked: tuple[str, ...]
    hits: tuple[Refusal, ...]

    @property
    def accepted(self) -> bool:
        return not self.hits

    @property
    def refusal(self) -> Refusal | None:
        return self.hits[0] if self.hits else None

    def audit_detail(self) -> Mapping[str, Any]:
        """Rule names and reasons only: never message content."""
        detail: dict[str, Any] = {"stage": self.stage, "rules": list(self.checked)}
        if self.hits:
            detail["hits"] = [
                {"rule": h.rule, "code": h.code, "status": h.status, "reason": h.reason}
                for h in self.hits
            ]
        return detail


def run_chain(stage: str, rules: Sequence[Rule[F]], facts: F) -> Decision:
    """Run `rules` in order on `facts`; stop at the first refusal."""
    checked: list[str] = []
    for rule in rules:
        checked.append(rule.name)
        refusal = rule.check(facts)
        if refusal is not None:
            return Decision(stage, tuple(checked), (refusal,))
    return Decision(stage, tuple(checked), ())
