"""The vocabulary of the protect step (`gateway.protect`, `gateway.client_protected`):
what it needs from the edge, what it is given, what it returns and how it refuses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from crypto import policy
from crypto.keystore import ActiveKeys
from crypto.pool import CryptoPool
from crypto.sealing import KeyProtector
from directory.repository import MailboxRef
from gateway.policy import Refusal
from gateway.trust.remote_keys import RemoteKeys
from storage.database import Database

RULE = "protect"
OPENPGP = "openpgp"
FORMS = (policy.FORM_CBC, policy.FORM_GCM, OPENPGP)
CLIENT = "client"  # the copy the client protected itself, passed through


class ProtectionRefused(Exception):
    """The message cannot be protected as submitted; `refusal` is the SMTP reply."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


def refused(code: int, status: str, reason: str) -> ProtectionRefused:
    return ProtectionRefused(Refusal(RULE, code, status, reason))


@dataclass(frozen=True, slots=True)
class Protector:
    """What the step needs from the edge: the key store, the CA, the crypto processes."""

    db: Database
    sealer: KeyProtector
    pool: CryptoPool
    data_dir: Path


@dataclass(frozen=True, slots=True)
class Order:
    """One message to protect. `signer` is the From address (the policy made sure the
    client may send as it); `remote_keys` holds other operators' recipients' keys."""

    message: bytes
    signer: str
    recipients: Sequence[MailboxRef]
    remote_keys: Mapping[str, RemoteKeys] = field(default_factory=dict)
    # Local recipients' active keys as RCPT checked them, by address, and the sender's
    # as MAIL did (used when it is the signer's): what the protect step then does not
    # look up again.
    local_keys: Mapping[str, ActiveKeys] = field(default_factory=dict)
    signing: ActiveKeys | None = None

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(r.address for r in self.recipients)


@dataclass(frozen=True, slots=True)
class Sealed:
    """The bytes a group of recipients receives, and the form they were protected in."""

    content: bytes
    recipients: tuple[str, ...]
    form: str
