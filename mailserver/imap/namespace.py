"""Where an IMAP name points (RFC 2342 namespaces): the login mailbox's folders are at the
top level; every other mailbox the user may use (delegated organisational mailboxes,
other mailboxes of the same practitioner) appears under "Shared/<address>/". Names are
resolved against the directory's answer for this user, so a mailbox they may not use has
no name at all."""

from __future__ import annotations

from dataclasses import dataclass

from directory.authn import Principal
from directory.repository import MailboxRef
from mailserver.imap.responses import CommandFailed
from mailserver.store import names
from mailserver.store.errors import InvalidFolderName

SHARED = "Shared"
DELIMITER = names.DELIMITER


@dataclass(frozen=True, slots=True)
class Place:
    """A folder of one directory mailbox."""

    mailbox: MailboxRef
    folder: str


class Namespace:
    def __init__(self, principal: Principal, mailboxes: list[MailboxRef]) -> None:
        own = [m for m in mailboxes if m.id == principal.mailbox_id]
        if not own:
            raise CommandFailed("Your mailbox is not available", "UNAVAILABLE")
        self.own = own[0]
        self.shared = {m.address.lower(): m for m in mailboxes if m.id != principal.mailbox_id}

    @property
    def mailboxes(self) -> list[MailboxRef]:
        return [self.own, *self.shared.values()]

    def resolve(self, name: str) -> Place:
        """The folder an IMAP name stands for; NO with the reason when there is none."""
        head, _, rest = name.partition(DELIMITER)
        if head != SHARED:
            return Place(self.own, _valid(name))
        address, _, folder = rest.partition(DELIMITER)
        mailbox = self.shared.get(address.lower())
        if mailbox is None or not folder:
            raise CommandFailed("No such mailbox", "NONEXISTENT")
        return Place(mailbox, _valid(folder))

    def display(self, mailbox: MailboxRef, folder: str) -> str:
        if mailbox.id == self.own.id:
            return folder
        return f"{SHARED}{DELIMITER}{mailbox.address}{DELIMITER}{folder}"

    def containers(self) -> list[str]:
        """Names that only hold other names (\\Noselect)."""
        if not self.shared:
            return []
        return [SHARED, *(f"{SHARED}{DELIMITER}{m.address}" for m in self.shared.values())]


def _valid(folder: str) -> str:
    try:
        return names.normalise(folder)
    except InvalidFolderName as exc:
        raise CommandFailed(str(exc).capitalize(), "CANNOT") from exc
