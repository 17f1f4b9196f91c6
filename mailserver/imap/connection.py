"""One client connection: greeting, then read a command, parse it, dispatch it, answer,
until LOGOUT, a timeout, a fatal framing error or the client going away.

Nothing a client sends reaches a handler unparsed; no exception text reaches a client
(an unexpected failure is logged by class and place and answered NO [SERVERBUG])."""

from __future__ import annotations

import asyncio
import ssl

from config.logging import Event
from mailserver.imap import framing, responses
from mailserver.imap.commands.parse import CommandSyntaxError, parse_command
from mailserver.imap.dispatch import dispatch
from mailserver.imap.framing import ClientGone, FatalFraming, LiteralRefused
from mailserver.imap.grammar.search_keys import SUPPORTED_CHARSETS, BadCharset
from mailserver.imap.outcome import After, Outcome
from mailserver.imap.output import WriteStalled
from mailserver.imap.responses import CommandFailed, Status, Tagged
from mailserver.imap.selected import FolderGone
from mailserver.imap.session import Session
from mailserver.imap.states import LoggedOut
from storage.errors import StorageUnavailable

TLS_HANDSHAKE_SECONDS = 30.0


def greeting(session: Session) -> bytes:
    caps = " ".join(session.capabilities())
    return responses.untagged_status(Status.OK, "Salus IMAP4rev1 ready", f"CAPABILITY {caps}")


async def serve(session: Session) -> None:
    """Run the session to its end; the caller closes the transport."""
    try:
        await session.send(greeting(session))
        while not isinstance(session.state, LoggedOut):
            outcome = await _next_command(session)
            if outcome is None:
                return
            await session.send(outcome.response.render())
            if outcome.state is not None:
                session.set_state(outcome.state)
            if outcome.after is After.CLOSE:
                return
            if outcome.after is After.STARTTLS and not await _start_tls(session):
                return
    except FolderGone:
        await _bye(session, "The selected mailbox was deleted")
    except (WriteStalled, ClientGone):
        session.output.abort()
    finally:
        session.set_state(LoggedOut())


async def _next_command(session: Session) -> Outcome | None:
    """The outcome of the next command, or None when the connection must end."""
    limits = session.ctx.framing_limits

    async def ask_for_literal() -> None:
        await session.send(responses.continuation("Ready for literal data"))

    try:
        raw = await asyncio.wait_for(
            framing.read_command(session.reader, limits, ask_for_literal),
            session.ctx.settings.idle_timeout,
        )
    except TimeoutError:
        session.log.info(Event.IMAP_SESSION_TIMEOUT)
        await _bye(session, "Autologout: idle for too long")
        return None
    except LiteralRefused as exc:
        return Outcome(Tagged(exc.tag, Status.NO, "Literal too large", "TOOBIG"))
    except FatalFraming as exc:
        await _bye(session, str(exc))
        return None
    return await run_command(session, raw)


async def run_command(session: Session, raw: bytes) -> Outcome:
    try:
        command = parse_command(raw, session.ctx.command_limits)
    except CommandSyntaxError as exc:
        if isinstance(exc.__cause__, BadCharset):
            code = "BADCHARSET (" + " ".join(SUPPORTED_CHARSETS) + ")"
            return Outcome(Tagged(exc.tag, Status.NO, "Unsupported charset", code))
        return Outcome(Tagged(exc.tag, Status.BAD, f"Syntax error: {exc.message}"))
    try:
        return await dispatch(command, session)
    except CommandFailed as exc:
        return Outcome(exc.response(command.tag))
    except StorageUnavailable:
        session.log.warning(Event.STORAGE_UNAVAILABLE, operation=type(command).__name__)
        return Outcome(
            Tagged(command.tag, Status.NO, "Storage temporarily unavailable", "UNAVAILABLE")
        )
    except (FolderGone, WriteStalled, ClientGone, FatalFraming, TimeoutError):
        raise
    except Exception:
        session.log.exception(Event.IMAP_COMMAND_FAILED, operation=type(command).__name__)
        return Outcome(Tagged(command.tag, Status.NO, "Internal server error", "SERVERBUG"))


async def _start_tls(session: Session) -> bool:
    writer = session.output.writer
    try:
        await asyncio.wait_for(
            writer.start_tls(session.ctx.starttls_context), TLS_HANDSHAKE_SECONDS
        )
    except (ssl.SSLError, ConnectionError, TimeoutError, OSError):
        session.log.info(Event.IMAP_TLS_FAILED)
        session.output.abort()
        return False
    session.tls = True
    session.log = session.log.bind(tls=True)
    return True


async def _bye(session: Session, text: str) -> None:
    try:
        await session.send(responses.untagged_status(Status.BYE, text))
    except (WriteStalled, ClientGone):
        session.output.abort()
