"""CAPABILITY, NOOP, CHECK, LOGOUT, ID, ENABLE, NAMESPACE."""

from __future__ import annotations

from mailserver.imap import responses, wire
from mailserver.imap.commands import session as commands
from mailserver.imap.namespace import DELIMITER, SHARED
from mailserver.imap.outcome import After, Outcome
from mailserver.imap.responses import Status
from mailserver.imap.session import Session
from mailserver.imap.states import LoggedOut, State, principal_of

SERVER_ID = ("name", "Salus")


async def capability(cmd: commands.Capability, session: Session, _state: State) -> Outcome:
    await session.send(responses.untagged("CAPABILITY", " ".join(session.capabilities())))
    return Outcome(responses.ok(cmd.tag, "Capability completed"))


async def noop(cmd: commands.Noop | commands.Check, session: Session, _state: State) -> Outcome:
    # The untagged updates are sent by the dispatcher after every selected-state command.
    return Outcome(responses.ok(cmd.tag, "Completed"))


async def logout(cmd: commands.Logout, session: Session, _state: State) -> Outcome:
    await session.send(responses.untagged_status(Status.BYE, "Logging out"))
    return Outcome(responses.ok(cmd.tag, "Logout completed"), LoggedOut(), After.CLOSE)


async def identify(cmd: commands.Id, session: Session, _state: State) -> Outcome:
    """RFC 2971: our name only (no version: it helps attackers more than users)."""
    await session.send(responses.untagged("ID", wire.encode(list(SERVER_ID))))
    return Outcome(responses.ok(cmd.tag, "ID completed"))


async def enable(cmd: commands.Enable, session: Session, _state: State) -> Outcome:
    """RFC 5161: none of the extensions Salus serves needs enabling."""
    await session.send(b"* ENABLED\r\n")
    return Outcome(responses.ok(cmd.tag, "Enabled"))


async def namespace(cmd: commands.Namespace, session: Session, state: State) -> Outcome:
    """RFC 2342: personal at the top, others' mailboxes under "Shared/"."""
    names = await session.namespace(principal_of(state))
    personal: wire.Value = [["", DELIMITER]]
    shared: wire.Value = [[SHARED + DELIMITER, DELIMITER]] if names.shared else None
    await session.send(
        responses.untagged("NAMESPACE", wire.encode(personal), b"NIL", wire.encode(shared))
    )
    return Outcome(responses.ok(cmd.tag, "Namespace completed"))
