"""IDLE (RFC 2177): untagged updates as they happen until the client says DONE.

The session waits on the mailbox's wake-ups (in process, or from another node through
PostgreSQL NOTIFY) and, as a safety net for a lost notification, re-reads the folder
every POLL_SECONDS. A client idle longer than imap.idle_timeout is logged out (RFC 2177
§3 lets the server do so after 30 minutes)."""

from __future__ import annotations

import asyncio
import contextlib

from mailserver.imap import framing, responses
from mailserver.imap.commands import session as commands
from mailserver.imap.outcome import After, Outcome
from mailserver.imap.responses import Status, bad
from mailserver.imap.session import Session
from mailserver.imap.states import LoggedOut, Selected, State

POLL_SECONDS = 30.0


async def _woken(state: State, within: float) -> None:
    """Return on the selected mailbox's next wake-up, or after `within` seconds."""
    watch = state.folder.watch if isinstance(state, Selected) else None
    if watch is None:
        await asyncio.sleep(within)
    else:
        await watch.wait(within)


async def idle(cmd: commands.Idle, session: Session, state: State) -> Outcome:
    await session.send(responses.continuation("idling"))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + session.ctx.settings.idle_timeout
    done = asyncio.ensure_future(framing.read_line(session.reader))
    try:
        while not done.done():
            left = deadline - loop.time()
            if left <= 0:
                await session.send(responses.untagged_status(Status.BYE, "Idle for too long"))
                return Outcome(responses.ok(cmd.tag, "Idle ended"), LoggedOut(), After.CLOSE)
            woken = asyncio.ensure_future(_woken(state, min(POLL_SECONDS, left)))
            await asyncio.wait({done, woken}, return_when=asyncio.FIRST_COMPLETED)
            woken.cancel()
            if isinstance(state, Selected):
                updates = await state.folder.refresh(session.ctx.reader, expunges=True, force=True)
                await session.send_all(updates)
        line = done.result()
    finally:
        if not done.done():
            done.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await done
    if line[:-2].upper() != b"DONE":
        raise bad("Expected DONE")
    return Outcome(responses.ok(cmd.tag, "Idle completed"))
