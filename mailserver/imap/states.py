"""Connection states (RFC 3501 §3) as types carrying their own data. The dispatcher checks
the state once, before a handler runs; a handler returns the next state."""

from __future__ import annotations

from dataclasses import dataclass

from directory.authn import Principal
from mailserver.imap.selected import SelectedFolder


@dataclass(frozen=True, slots=True)
class NotAuthenticated:
    pass


@dataclass(frozen=True, slots=True)
class Authenticated:
    principal: Principal


@dataclass(frozen=True, slots=True)
class Selected:
    principal: Principal
    folder: SelectedFolder


@dataclass(frozen=True, slots=True)
class LoggedOut:
    pass


State = NotAuthenticated | Authenticated | Selected | LoggedOut
ANY: tuple[type, ...] = (NotAuthenticated, Authenticated, Selected)
NOT_AUTHENTICATED: tuple[type, ...] = (NotAuthenticated,)
AUTHENTICATED: tuple[type, ...] = (Authenticated, Selected)
SELECTED: tuple[type, ...] = (Selected,)


def principal_of(state: State) -> Principal:
    if isinstance(state, Authenticated | Selected):
        return state.principal
    raise TypeError("no principal before authentication")
