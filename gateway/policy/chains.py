"""The three chains, one per SMTP stage, in the order their rules run: cheap and
structural rules first, so that later rules only see input the earlier ones vouched for."""

from __future__ import annotations

from gateway.policy.decision import Rule
from gateway.policy.facts import ContentFacts, RecipientFacts, SenderFacts
from gateway.policy.rules import (
    declared_size,
    header_limits,
    header_syntax,
    line_length,
    message_size,
    mime_structure,
    nul_bytes,
    recipient_count,
    recipient_has_key,
    recipient_is_local,
    recipient_syntax,
    sender_has_key,
    sender_owns_envelope,
    sender_owns_from,
    strict_crlf,
)

MAIL_SHAPE: tuple[Rule[SenderFacts], ...] = (declared_size.RULE, sender_owns_envelope.RULE)
# The key look-up runs only for a sender the client may use.
MAIL_KEY: tuple[Rule[SenderFacts], ...] = (sender_has_key.RULE,)
MAIL = MAIL_SHAPE + MAIL_KEY
# The shape rules run before the directory look-up: a relay trick costs no query.
RCPT_SHAPE: tuple[Rule[RecipientFacts], ...] = (recipient_count.RULE, recipient_syntax.RULE)
RCPT_DIRECTORY: tuple[Rule[RecipientFacts], ...] = (recipient_is_local.RULE, recipient_has_key.RULE)
RCPT = RCPT_SHAPE + RCPT_DIRECTORY
DATA: tuple[Rule[ContentFacts], ...] = (
    message_size.RULE,
    line_length.RULE,
    nul_bytes.RULE,
    strict_crlf.RULE,
    header_limits.RULE,
    header_syntax.RULE,
    sender_owns_from.RULE,
    mime_structure.RULE,
)
