"""The command table: which states may run each command and which handler runs it. The
state is checked here, once; after a command that leaves a folder selected, the session
catches up with other sessions' changes (EXPUNGE held back after FETCH, STORE and SEARCH
by sequence number, RFC 3501 §7.4.1)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mailserver.imap.commands import folders, login, messages, session
from mailserver.imap.commands.parse import Command
from mailserver.imap.handlers import (
    append,
    copy_move,
    expunge,
    fetch,
    idle,
    search,
    select,
    session_commands,
    store,
)
from mailserver.imap.handlers import folders as folder_handlers
from mailserver.imap.handlers import login as login_handlers
from mailserver.imap.outcome import Outcome
from mailserver.imap.responses import CommandFailed, Status
from mailserver.imap.session import Session
from mailserver.imap.states import ANY, AUTHENTICATED, NOT_AUTHENTICATED, SELECTED, Selected

# Handlers are typed precisely (their state parameter included); the table holds them
# behind Any because the state check above the call is what makes each call sound.
Handler = Callable[[Any, Session, Any], Awaitable[Outcome]]


@dataclass(frozen=True, slots=True)
class Route:
    states: tuple[type, ...]
    handler: Handler
    catch_up: bool = True  # send untagged updates afterwards when a folder is selected
    poll: bool = False  # the client asks for updates: look even without a wake-up


ROUTES: dict[type, Route] = {
    session.Capability: Route(ANY, session_commands.capability),
    session.Noop: Route(ANY, session_commands.noop, poll=True),
    session.Logout: Route(ANY, session_commands.logout, catch_up=False),
    session.Id: Route(ANY, session_commands.identify),
    session.Enable: Route(AUTHENTICATED, session_commands.enable),
    session.Namespace: Route(AUTHENTICATED, session_commands.namespace),
    session.Idle: Route(AUTHENTICATED, idle.idle, catch_up=False),
    session.Check: Route(SELECTED, session_commands.noop, poll=True),
    login.StartTls: Route(NOT_AUTHENTICATED, login_handlers.starttls, catch_up=False),
    login.Login: Route(NOT_AUTHENTICATED, login_handlers.login, catch_up=False),
    login.Authenticate: Route(
        NOT_AUTHENTICATED, login_handlers.authenticate_command, catch_up=False
    ),
    folders.Select: Route(AUTHENTICATED, select.select, catch_up=False),
    folders.Create: Route(AUTHENTICATED, folder_handlers.create),
    folders.Delete: Route(AUTHENTICATED, folder_handlers.delete),
    folders.Rename: Route(AUTHENTICATED, folder_handlers.rename),
    folders.Subscribe: Route(AUTHENTICATED, folder_handlers.subscribe),
    folders.ListFolders: Route(AUTHENTICATED, folder_handlers.list_folders),
    folders.Status: Route(AUTHENTICATED, folder_handlers.status),
    folders.Append: Route(AUTHENTICATED, append.append),
    messages.Close: Route(SELECTED, select.close, catch_up=False),
    messages.Unselect: Route(SELECTED, select.unselect, catch_up=False),
    messages.Expunge: Route(SELECTED, expunge.expunge),
    messages.Search: Route(SELECTED, search.search),
    messages.Fetch: Route(SELECTED, fetch.fetch),
    messages.Store: Route(SELECTED, store.store),
    messages.Copy: Route(SELECTED, copy_move.copy),
}


def _expunges_allowed(command: Command) -> bool:
    if isinstance(command, messages.Fetch | messages.Store | messages.Search):
        return command.uid
    return True


async def dispatch(command: Command, session: Session) -> Outcome:
    route = ROUTES[type(command)]
    state = session.state
    if not isinstance(state, route.states):
        raise CommandFailed("Command not valid in this state", status=Status.BAD)
    outcome = await route.handler(command, session, state)
    after = outcome.state if outcome.state is not None else session.state
    if route.catch_up and isinstance(after, Selected):
        expunges = _expunges_allowed(command)
        updates = await after.folder.refresh(
            session.ctx.reader, expunges=expunges, force=route.poll
        )
        await session.send_all(updates, more=True)
    return outcome
