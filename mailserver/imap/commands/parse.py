"""`parse_command`: the bytes of one complete command (literals included) to a typed
command. The tag is read first so that a syntax error can be answered with it (RFC 3501
§7.1.5 BAD); an unreadable tag is answered with the untagged "*"."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from mailserver.imap.commands import folders, login, messages, session
from mailserver.imap.grammar import atoms
from mailserver.imap.grammar.errors import ParseError
from mailserver.imap.grammar.limits import Limits
from mailserver.imap.grammar.reader import Reader

Command = (
    session.Capability
    | session.Noop
    | session.Check
    | session.Logout
    | session.Id
    | session.Enable
    | session.Namespace
    | session.Idle
    | login.StartTls
    | login.Login
    | login.Authenticate
    | folders.Select
    | folders.Create
    | folders.Delete
    | folders.Rename
    | folders.Subscribe
    | folders.ListFolders
    | folders.Status
    | folders.Append
    | messages.Close
    | messages.Unselect
    | messages.Expunge
    | messages.Search
    | messages.Fetch
    | messages.Store
    | messages.Copy
)

Parser = Callable[[str, Reader], Command]
_NAME = re.compile(rb"[A-Za-z]+")


class CommandSyntaxError(Exception):
    """A command that does not parse; `tag` is "*" when even the tag was unreadable."""

    def __init__(self, tag: str, message: str) -> None:
        super().__init__(message)
        self.tag = tag
        self.message = message


@dataclass(frozen=True, slots=True)
class CommandLimits:
    grammar: Limits
    max_message: int  # the APPEND literal


def _bare(cls: Callable[[str], Command]) -> Parser:
    return lambda tag, _r: cls(tag)


@functools.lru_cache(maxsize=8)
def _table(max_message: int) -> dict[str, Parser]:
    return {
        "CAPABILITY": _bare(session.Capability),
        "NOOP": _bare(session.Noop),
        "CHECK": _bare(session.Check),
        "LOGOUT": _bare(session.Logout),
        "ID": session.parse_id,
        "ENABLE": session.parse_enable,
        "NAMESPACE": _bare(session.Namespace),
        "IDLE": _bare(session.Idle),
        "STARTTLS": _bare(login.StartTls),
        "LOGIN": login.parse_login,
        "AUTHENTICATE": login.parse_authenticate,
        "SELECT": partial(folders.parse_select, readonly=False),
        "EXAMINE": partial(folders.parse_select, readonly=True),
        "CREATE": folders.parse_create,
        "DELETE": folders.parse_delete,
        "RENAME": folders.parse_rename,
        "SUBSCRIBE": partial(folders.parse_subscribe, subscribe=True),
        "UNSUBSCRIBE": partial(folders.parse_subscribe, subscribe=False),
        "LIST": folders.parse_list,
        "LSUB": folders.parse_lsub,
        "STATUS": folders.parse_status,
        "APPEND": partial(folders.parse_append, max_message=max_message),
        "CLOSE": _bare(messages.Close),
        "UNSELECT": _bare(messages.Unselect),
        "EXPUNGE": _bare(messages.Expunge),
        "SEARCH": partial(messages.parse_search, uid=False),
        "FETCH": partial(messages.parse_fetch, uid=False),
        "STORE": partial(messages.parse_store, uid=False),
        "COPY": partial(messages.parse_copy, uid=False, move=False),
        "MOVE": partial(messages.parse_copy, uid=False, move=True),
    }


_UID_TABLE: dict[str, Parser] = {
    "SEARCH": partial(messages.parse_search, uid=True),
    "FETCH": partial(messages.parse_fetch, uid=True),
    "STORE": partial(messages.parse_store, uid=True),
    "COPY": partial(messages.parse_copy, uid=True, move=False),
    "MOVE": partial(messages.parse_copy, uid=True, move=True),
    "EXPUNGE": messages.parse_uid_expunge,
}


def command_name(line: bytes) -> tuple[str, str]:
    """(tag, upper-case command name) read from the start of a command line, or ("*", "")
    when there is none; used by the framing layer to pick the literal limit."""
    r = Reader(line)
    try:
        tag = atoms.tag(r)
        r.sp()
        name = r.take(_NAME, "a command name").decode().upper()
    except ParseError:
        return "*", ""
    return tag, name


def parse_command(buf: bytes, limits: CommandLimits) -> Command:
    """Parse one command (without its final CRLF)."""
    r = Reader(buf, limits=limits.grammar)
    try:
        tag = atoms.tag(r)
    except ParseError as exc:
        raise CommandSyntaxError("*", "a command starts with a tag") from exc
    try:
        command = _after_tag(tag, r, limits)
    except ParseError as exc:
        raise CommandSyntaxError(tag, str(exc)) from exc
    return command


def _after_tag(tag: str, r: Reader, limits: CommandLimits) -> Command:
    r.sp()
    name = r.take(_NAME, "a command name").decode().upper()
    table = _table(limits.max_message)
    if name == "UID":
        r.sp()
        name = r.take(_NAME, "a UID command").decode().upper()
        table = _UID_TABLE
    parser = table.get(name)
    if parser is None:
        raise ParseError("unknown command")
    command = parser(tag, r)
    r.end()
    return command
