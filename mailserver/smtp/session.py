"""What one submission session knows about its client, as types.

`Anonymous` until AUTH succeeds, then `Authenticated` with the mailboxes it may send as;
the transaction's accepted recipients; refusals waiting to be written to the audit trail
(they go with the next accepted message, or at the end of the session, in one write).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from crypto.keystore import ActiveKeys
from directory.authn import Principal
from directory.repository import MailboxRef
from gateway.policy import Decision
from gateway.trust.remote_keys import RemoteKeys
from storage.audit import AuditEvent

AUDIT_FLUSH_AT = 50


@dataclass(frozen=True, slots=True)
class Anonymous:
    pass


@dataclass(frozen=True, slots=True)
class Authenticated:
    principal: Principal
    mailboxes: tuple[MailboxRef, ...]
    # Worked out once per login, read at each MAIL and DATA.
    usable: frozenset[str] = field(init=False, compare=False)
    kinds: Mapping[str, str] = field(init=False, compare=False)  # lower-case address -> kind

    def __post_init__(self) -> None:
        kinds = {m.address.lower(): m.kind for m in reversed(self.mailboxes)}
        object.__setattr__(self, "usable", frozenset(kinds))
        object.__setattr__(self, "kinds", kinds)


@dataclass(slots=True)
class SessionContext:
    client_ip: str
    listener: str
    identity: Anonymous | Authenticated = field(default_factory=Anonymous)
    auth_failures: int = 0
    recipients: list[MailboxRef] = field(default_factory=list)
    # Keys other operators published for this session's remote recipients, by address.
    remote_keys: dict[str, RemoteKeys] = field(default_factory=dict)
    # The key generations this transaction's MAIL and RCPT checked (pipeline.Envelope).
    signing: ActiveKeys | None = None
    local_keys: dict[str, ActiveKeys] = field(default_factory=dict)
    pending_audit: list[AuditEvent] = field(default_factory=list)

    @property
    def actor(self) -> str:
        if isinstance(self.identity, Authenticated):
            return self.identity.principal.address
        return f"anonymous@{self.client_ip}"

    @property
    def source(self) -> str:
        return f"smtp:{self.client_ip}"

    def refused(self, stage_object: str, decision: Decision) -> None:
        """Keep a policy refusal for the audit trail (rule names and reasons, no content)."""
        self.pending_audit.append(
            AuditEvent(
                self.actor,
                "smtp.refuse",
                stage_object,
                "refused",
                self.source,
                decision.audit_detail(),
            )
        )

    def take_audit(self) -> list[AuditEvent]:
        events, self.pending_audit = self.pending_audit, []
        return events

    @property
    def audit_due(self) -> bool:
        return len(self.pending_audit) >= AUDIT_FLUSH_AT
