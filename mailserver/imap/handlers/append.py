"""APPEND (RFC 3501 §6.3.11) with APPENDUID (RFC 4315) and [OVERQUOTA] (RFC 5530): the
copy a client keeps of what it sent, drafts, and imports. Goes through the same `deliver`
as local delivery (quota, sealing, first-use folders)."""

from __future__ import annotations

from mailserver.imap import responses
from mailserver.imap.commands import folders as commands
from mailserver.imap.outcome import Outcome
from mailserver.imap.session import Session
from mailserver.imap.states import State, principal_of
from mailserver.imap.store_errors import failure, flag_failure
from mailserver.store import deliver
from mailserver.store.errors import StoreError
from mailserver.store.flags import FlagError


async def append(cmd: commands.Append, session: Session, state: State) -> Outcome:
    target = (await session.namespace(principal_of(state))).resolve(cmd.mailbox)
    try:
        # Committed with the other sessions' small writes (group commit) before OK.
        stored = await session.ctx.writes.run(
            lambda db_session: deliver(
                db_session,
                session.ctx.at_rest,
                target.mailbox.id,
                cmd.message,
                folder=target.folder,
                flags=cmd.flags,
                internal_date=cmd.date,
            )
        )
    except FlagError as exc:
        raise flag_failure(exc) from exc
    except StoreError as exc:
        raise failure(exc, missing_code="TRYCREATE") from exc
    session.publish(target.mailbox.id)
    code = f"APPENDUID {stored.uidvalidity} {stored.uid}"
    return Outcome(responses.ok(cmd.tag, "Append completed", code))
