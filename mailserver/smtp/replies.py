"""Every reply the submission service writes, with its enhanced status code (RFC 3463,
RFC 2034), and the mapping that gives aiosmtpd's own replies one."""

from __future__ import annotations

import re

GREETING_IDENT = "Salus ESMTP"
ENHANCED = "ENHANCEDSTATUSCODES"

STARTTLS_FIRST = "530 5.7.0 Must issue a STARTTLS command first"
AUTH_OK = "235 2.7.0 Authentication successful"
AUTH_INVALID = "535 5.7.8 Authentication credentials invalid"
AUTH_THROTTLED = "454 4.7.0 Too many failed logins; try again in {seconds} seconds"
AUTH_UNAVAILABLE = "454 4.7.0 Temporary authentication failure; try again later"
AUTHZID_REFUSED = "535 5.7.8 The authorization identity must be empty or the login itself"
AUTH_MALFORMED = "501 5.5.2 Cannot decode the authentication exchange"
AUTH_NO_CERTIFICATE = "535 5.7.8 No client certificate bound to a mailbox was presented"
AUTH_TOO_MANY = "421 4.7.0 Too many failed logins on this connection; closing"
SENDER_OK = "250 2.1.0 Sender ok"
RECIPIENT_OK = "250 2.1.5 Recipient ok"
QUEUED = "250 2.0.0 Ok: queued as {queue_id}"
# Committed, but delivered only once an administrator releases it (gateway.consistency
# "hold"): the documents name other practitioners than the recipients.
QUEUED_HELD = (
    "250 2.0.0 Ok: queued as {queue_id}, held for review: the documents name other"
    " recipients than the envelope"
)
STORAGE_UNAVAILABLE = "451 4.3.0 Temporary storage failure; try again later"
STORAGE_FULL = "452 4.3.1 Insufficient system storage; try again later"
LOCAL_ERROR = "451 4.3.0 Local error in processing; try again later"
SHUTTING_DOWN = "421 4.3.2 Service shutting down; try again later"
SESSION_EXPIRED = "421 4.4.2 Session time limit reached; closing"
SPOKE_FIRST = "554 5.5.1 Protocol error: the client spoke before the greeting"
TOO_MANY_CONNECTIONS = "421 4.7.0 Too many connections from your address; try again later"
TOO_MANY_LONG_LINES = "421 4.7.0 Too many over-long command lines; closing"

# aiosmtpd's fixed replies, by prefix, and what we answer instead.
_REWRITES: tuple[tuple[str, str], ...] = (
    ("500 Command line too long", "500 5.5.2 Command line too long"),
    ("500 Error: bad syntax", "500 5.5.2 Syntax error"),
    ("500 Error: strict ASCII mode", "500 5.6.7 Non-ASCII characters are not accepted here"),
    ("500 Error: command", "500 5.5.1 Command not recognized"),
    ("503 Error: send", "503 5.5.1 Send EHLO first"),
    ("503 Error: need MAIL", "503 5.5.1 Send MAIL FROM first"),
    ("503 Error: need RCPT", "503 5.5.1 Send RCPT TO first"),
    ("503 Error: nested MAIL", "503 5.5.1 Nested MAIL command"),
    ("503 Already authenticated", "503 5.5.1 Already authenticated"),
    ("554 Command refused due to lack of security", "554 5.7.0 Command refused: TLS failed"),
    ("220 Ready to start TLS", "220 2.0.0 Ready to start TLS"),
    ("221 Bye", "221 2.0.0 Bye"),
    ("250 OK", "250 2.0.0 OK"),
)
_HAS_ENHANCED = re.compile(r"^[245]\d\d[ -][245]\.\d{1,3}\.\d{1,3}( |$)")
# RFC 3463 codes for the reply codes aiosmtpd writes bare, then per class.
_BY_CODE = {"501": "5.5.4", "502": "5.5.1", "503": "5.5.1", "504": "5.5.4", "555": "5.5.4"}
_BY_CLASS = {"2": "2.0.0", "4": "4.0.0", "5": "5.0.0"}


def enhance(reply: str) -> str:
    """`reply` with an enhanced status code (RFC 2034 §3). The greeting, intermediate
    replies and EHLO keyword lines are left as they are."""
    if _HAS_ENHANCED.match(reply):
        return reply
    for prefix, replacement in _REWRITES:
        if reply == prefix or reply.startswith((prefix + " ", prefix + ":")):
            return replacement
    code = reply[:3]
    if code == "220" or code.startswith("3") or reply.startswith("250-"):
        return reply  # greeting, intermediate replies (354, 334), EHLO keyword lines
    rest = reply[4:]
    if code == "250" and rest and " " not in rest:
        return reply  # the last EHLO keyword line ("250 HELP")
    if len(reply) >= 4 and code.isdigit() and reply[3] == " ":
        status = _BY_CODE.get(code) or _BY_CLASS.get(code[0], "5.0.0")
        return f"{code} {status} {rest}"
    return reply
