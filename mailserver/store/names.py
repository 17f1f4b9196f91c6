"""Folder names: validation and the INBOX rule (pure).

Names are database keys, never paths, and are checked anyway so that nothing path-like,
invisible or huge gets in: "/" is the hierarchy delimiter, no component may be empty, "."
or "..", no control character or NUL, no IMAP wildcard, at most MAX_DEPTH levels and
MAX_NAME_LENGTH characters. "INBOX" is case-insensitive (RFC 3501 §5.1), also as the first
level of a hierarchy ("inbox/x" is "INBOX/x").
"""

from __future__ import annotations

from mailserver.store.errors import InvalidFolderName

DELIMITER = "/"
INBOX = "INBOX"
MAX_NAME_LENGTH = 255
MAX_DEPTH = 16


def normalise(name: str) -> str:
    """The stored form of a valid name; raises InvalidFolderName with the reason."""
    if not name:
        raise InvalidFolderName("the folder name is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidFolderName(f"folder names are at most {MAX_NAME_LENGTH} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise InvalidFolderName("folder names cannot hold control characters")
    if "*" in name or "%" in name:
        raise InvalidFolderName("folder names cannot hold * or %")
    parts = name.split(DELIMITER)
    if len(parts) > MAX_DEPTH:
        raise InvalidFolderName(f"folders nest at most {MAX_DEPTH} levels")
    for part in parts:
        if part in ("", ".", ".."):
            raise InvalidFolderName("folder name levels cannot be empty, '.' or '..'")
    if parts[0].upper() == INBOX:
        parts[0] = INBOX
    return DELIMITER.join(parts)


def parents(name: str) -> list[str]:
    """The superior names of `name`, outermost first ("a/b/c" -> ["a", "a/b"])."""
    parts = name.split(DELIMITER)
    return [DELIMITER.join(parts[:i]) for i in range(1, len(parts))]


def is_inferior(name: str, of: str) -> bool:
    """True when `name` lies under `of` in the hierarchy."""
    return name.startswith(of + DELIMITER)
