"""AUTH PLAIN, LOGIN and EXTERNAL for submission, checked against the directory.

These are handler methods (aiosmtpd's `authenticator` callback is synchronous and cannot
await the directory: PITFALLS "aiosmtpd"). The directory verifies argon2id off the event
loop, counts failures per account and per client, and audits each attempt itself; this
module maps its answers to replies: one reply for an unknown user and a wrong password,
`454 4.7.0` while locked out, and the connection closed after a few failures.
"""

from __future__ import annotations

from aiosmtpd.smtp import MISSING, AuthResult, auth_mechanism

from directory import authn
from directory.authn import AuthFailed, AuthThrottled, Principal
from directory.throttle import ThrottlePolicy
from mailserver import metrics
from mailserver.smtp import replies
from mailserver.smtp.protocol import SubmissionProtocol
from mailserver.smtp.sasl import SaslError, decode_response, parse_plain, utf8_field
from mailserver.smtp.session import Authenticated
from storage.database import Database
from storage.errors import StorageUnavailable

FAILURES_BEFORE_CLOSE = 3
USERNAME_CHALLENGE = "Username:"
PASSWORD_CHALLENGE = "Password:"  # noqa: S105 - the RFC 4954 prompt, not a secret


class SaslMechanisms:
    """The `auth_*` methods aiosmtpd calls as `method(server, args)`."""

    db: Database
    throttle: ThrottlePolicy

    async def auth_PLAIN(self, server: SubmissionProtocol, args: list[str]) -> AuthResult:  # noqa: N802
        message = await _initial_or_challenge(server, args, "")
        if message is None:
            return _handled()
        try:
            creds = parse_plain(message)
        except SaslError:
            await server.push(replies.AUTH_MALFORMED)
            return _handled()
        if creds.authorizes_other:
            await server.push(replies.AUTHZID_REFUSED)
            return _handled()
        return await self._password_login(server, creds.authcid, creds.password)

    async def auth_LOGIN(self, server: SubmissionProtocol, args: list[str]) -> AuthResult:  # noqa: N802
        login = await _initial_or_challenge(server, args, USERNAME_CHALLENGE)
        if login is None:
            return _handled()
        password = await _challenge(server, PASSWORD_CHALLENGE)
        if password is None:
            return _handled()
        try:
            user, secret = utf8_field(login), utf8_field(password)
        except SaslError:
            await server.push(replies.AUTH_MALFORMED)
            return _handled()
        return await self._password_login(server, user, secret)

    @auth_mechanism("EXTERNAL")
    async def auth_EXTERNAL(self, server: SubmissionProtocol, args: list[str]) -> AuthResult:  # noqa: N802
        """RFC 4422 appendix A: the identity is the TLS client certificate's binding."""
        message = await _initial_or_challenge(server, args, "")
        if message is None:
            return _handled()
        certificate = server.peer_certificate()
        if certificate is None:
            await server.push(replies.AUTH_NO_CERTIFICATE)
            return _handled()
        try:
            authzid = utf8_field(message)
        except SaslError:
            await server.push(replies.AUTH_MALFORMED)
            return _handled()
        ctx = server.context
        try:
            principal = await authn.authenticate_certificate(
                self.db, certificate, client=ctx.client_ip, protocol="smtp", policy=self.throttle
            )
        except (AuthFailed, AuthThrottled, StorageUnavailable) as exc:
            return await _refused(server, exc)
        if authzid and authzid.lower() != principal.address:
            await server.push(replies.AUTHZID_REFUSED)
            return _handled()
        return await self._logged_in(server, principal)

    async def _password_login(
        self, server: SubmissionProtocol, login: str, secret: str
    ) -> AuthResult:
        ctx = server.context
        try:
            principal = await authn.authenticate(
                self.db, login, secret, client=ctx.client_ip, protocol="smtp", policy=self.throttle
            )
        except (AuthFailed, AuthThrottled, StorageUnavailable) as exc:
            return await _refused(server, exc)
        return await self._logged_in(server, principal)

    async def _logged_in(self, server: SubmissionProtocol, principal: Principal) -> AuthResult:
        try:
            mailboxes = await authn.usable_mailboxes(self.db, principal)
        except StorageUnavailable:
            await server.push(replies.AUTH_UNAVAILABLE)
            return _handled()
        server.context.identity = Authenticated(principal, tuple(mailboxes))
        return AuthResult(success=True, auth_data=principal, message=replies.AUTH_OK)


async def _refused(server: SubmissionProtocol, exc: Exception) -> AuthResult:
    if not isinstance(exc, StorageUnavailable):  # refused by the directory, not unavailable
        metrics.AUTH_FAILURES.labels(protocol="smtp").inc()
    if isinstance(exc, AuthThrottled):
        await server.push(replies.AUTH_THROTTLED.format(seconds=exc.retry_after))
        return _handled()
    if isinstance(exc, StorageUnavailable):
        await server.push(replies.AUTH_UNAVAILABLE)
        return _handled()
    ctx = server.context
    ctx.auth_failures += 1
    if ctx.auth_failures >= FAILURES_BEFORE_CLOSE:
        await server.push(replies.AUTH_INVALID)
        server.close_with(replies.AUTH_TOO_MANY)
        return _handled()
    await server.push(replies.AUTH_INVALID)
    return _handled()


def _handled() -> AuthResult:
    """A failure whose reply is already written."""
    return AuthResult(success=False, handled=True)


async def _initial_or_challenge(
    server: SubmissionProtocol, args: list[str], prompt: str
) -> bytes | None:
    """The initial response given with AUTH, or the answer to one challenge."""
    if len(args) > 1:
        try:
            return decode_response(args[1])
        except SaslError:
            await server.push(replies.AUTH_MALFORMED)
            return None
    return await _challenge(server, prompt)


async def _challenge(server: SubmissionProtocol, prompt: str) -> bytes | None:
    answer = await server.challenge_auth(prompt)
    if answer is MISSING:  # "*" or bad base64: aiosmtpd has answered already
        return None
    return bytes(answer)
