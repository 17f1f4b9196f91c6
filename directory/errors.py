"""The directory's error tree.

Each error carries one sentence an administrator can act on (it names the input and the
fault); the CLI prints it as is. Authentication errors live in `directory.authn` and say
deliberately less.
"""

from __future__ import annotations


class DirectoryError(Exception):
    """Root of the directory errors: the message is the whole explanation."""


class NotFound(DirectoryError):
    """The practitioner, organisation, mailbox or trust domain named does not exist."""


class AlreadyExists(DirectoryError):
    """An object with this key (address, national identifier, domain, label) exists."""


class InvalidInput(DirectoryError):
    """A value that cannot be accepted (malformed identifier, address, certificate...)."""
