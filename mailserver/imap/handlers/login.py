"""STARTTLS, LOGIN and AUTHENTICATE (PLAIN, EXTERNAL).

Before TLS on the plain port nothing authenticates (LOGINDISABLED, no AUTH=, RFC 3501
§6.2.3 and RFC 9051 §11.1). Passwords and app passwords go to the directory with the
same throttling as SMTP; the directory writes the auth.* audit entries. AUTHENTICATE
PLAIN refuses an authorisation identity other than the authentication one (RFC 4616 §2
allows it; Salus has no proxy authorisation). EXTERNAL logs in with the TLS client
certificate bound to a mailbox (RFC 4422 Appendix A).
"""

from __future__ import annotations

import base64
import binascii

from config.logging import Event
from directory.authn import AuthFailed, AuthThrottled, Principal, authenticate
from directory.authn import authenticate_certificate as authenticate_by_certificate
from mailserver import metrics
from mailserver.imap import responses
from mailserver.imap.commands import login as commands
from mailserver.imap.outcome import After, Outcome
from mailserver.imap.responses import CommandFailed, bad
from mailserver.imap.session import Session
from mailserver.imap.states import Authenticated, State
from mailserver.store.mailboxes import ensure_mailbox, without_store

PROTOCOL = "imap"


async def starttls(cmd: commands.StartTls, session: Session, _state: State) -> Outcome:
    if session.tls:
        raise bad("TLS is already active")
    if session.pending_input():
        # Commands pipelined after STARTTLS were sent in clear: refusing them closes the
        # STARTTLS command-injection hole (RFC 3501 §11.1, CVE-2011-0411 for SMTP).
        return Outcome(
            responses.Tagged(cmd.tag, responses.Status.BAD, "Nothing may follow STARTTLS"),
            after=After.CLOSE,
        )
    return Outcome(responses.ok(cmd.tag, "Begin TLS negotiation now"), after=After.STARTTLS)


def _require_tls(session: Session) -> None:
    if not session.tls:
        raise CommandFailed("Use STARTTLS or the TLS port first", "PRIVACYREQUIRED")


async def login(cmd: commands.Login, session: Session, _state: State) -> Outcome:
    _require_tls(session)
    return await _logged_in(cmd.tag, session, await _by_password(session, cmd.user, cmd.password))


async def authenticate_command(
    cmd: commands.Authenticate, session: Session, _state: State
) -> Outcome:
    _require_tls(session)
    if cmd.mechanism == "PLAIN":
        principal = await _plain(session, await _response(session, cmd.initial))
    elif cmd.mechanism == "EXTERNAL":
        principal = await _external(session, await _response(session, cmd.initial))
    else:
        raise CommandFailed("Unsupported authentication mechanism", "CANNOT")
    return await _logged_in(cmd.tag, session, principal)


async def _response(session: Session, initial: bytes | None) -> bytes:
    """The client's SASL response: the RFC 4959 initial response or one continuation."""
    if initial is None:
        await session.send(b"+ \r\n")
        initial = await session.read_line()
        if initial == b"*":
            raise bad("Authentication cancelled")
    if initial == b"=":
        return b""
    try:
        return base64.b64decode(initial, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise bad("The response is not base64") from exc


async def _plain(session: Session, message: bytes) -> Principal:
    parts = message.split(b"\x00")
    if len(parts) != 3:
        raise bad("Malformed PLAIN response")
    try:
        authzid, authcid, password = (p.decode("utf-8") for p in parts)
    except UnicodeDecodeError as exc:
        raise bad("The PLAIN response is not UTF-8") from exc
    if authzid and authzid.lower() != authcid.lower():
        raise CommandFailed("You may only log in as yourself", "AUTHORIZATIONFAILED")
    return await _by_password(session, authcid, password)


async def _external(session: Session, message: bytes) -> Principal:
    certificate = session.peer_certificate()
    if certificate is None:
        raise CommandFailed("No client certificate was presented", "AUTHENTICATIONFAILED")
    try:
        principal = await authenticate_by_certificate(
            session.ctx.db,
            certificate,
            client=session.client,
            protocol=PROTOCOL,
            policy=session.ctx.policy,
        )
    except AuthThrottled as exc:
        raise _throttled(exc) from exc
    except AuthFailed as exc:
        session.log.info(Event.IMAP_AUTH_FAILED, mechanism="EXTERNAL")
        metrics.AUTH_FAILURES.labels(protocol=PROTOCOL).inc()
        raise CommandFailed("Authentication failed", "AUTHENTICATIONFAILED") from exc
    authzid = message.decode("utf-8", "replace")
    if authzid and authzid.lower() != principal.address:
        raise CommandFailed("This certificate logs in to another mailbox", "AUTHORIZATIONFAILED")
    return principal


async def _by_password(session: Session, user: str, password: str) -> Principal:
    try:
        return await authenticate(
            session.ctx.db,
            user,
            password,
            client=session.client,
            protocol=PROTOCOL,
            policy=session.ctx.policy,
        )
    except AuthThrottled as exc:
        raise _throttled(exc) from exc
    except AuthFailed as exc:
        session.log.info(Event.IMAP_AUTH_FAILED, mechanism="password")
        metrics.AUTH_FAILURES.labels(protocol=PROTOCOL).inc()
        raise CommandFailed("Authentication failed", "AUTHENTICATIONFAILED") from exc


def _throttled(exc: AuthThrottled) -> CommandFailed:
    metrics.AUTH_FAILURES.labels(protocol=PROTOCOL).inc()
    return CommandFailed(
        f"Too many failed attempts: try again in {exc.retry_after} seconds", "UNAVAILABLE"
    )


async def _logged_in(tag: str, session: Session, principal: Principal) -> Outcome:
    names = await session.namespace(principal)
    ids = [m.id for m in names.mailboxes]
    async with session.ctx.db.lookup() as db_session:
        unused = await without_store(db_session, ids)
    if unused:
        async with session.ctx.db.write() as db_session:
            for mailbox_id in unused:
                await ensure_mailbox(db_session, mailbox_id)
    session.log.info(Event.IMAP_AUTH_SUCCEEDED, login=principal.address, method=principal.method)
    session.set_state(Authenticated(principal))
    caps = " ".join(session.capabilities())
    return Outcome(responses.ok(tag, "Logged in", f"CAPABILITY {caps}"), Authenticated(principal))
