"""The mailbox store: folders and messages of every local mailbox, bodies sealed at rest.

Delivery calls `deliver` inside its write transaction and `MailboxEvents.publish` after
the commit; the IMAP server reads and changes folders through `reads`, `writes` and
`folders`. Nothing here knows IMAP syntax.
"""

from mailserver.store.deliver import StoredMessage, deliver
from mailserver.store.errors import QuotaExceeded, StoreError
from mailserver.store.events import MailboxEvents

__all__ = ["MailboxEvents", "QuotaExceeded", "StoreError", "StoredMessage", "deliver"]
