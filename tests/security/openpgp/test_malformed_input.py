"""Whatever bytes arrive, decrypt_and_verify answers with a result or a crypto error:
never a library exception that would escape the gateway's handling (or leak details)."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from crypto.errors import CryptoError, DecryptionError
from crypto.openpgp import decrypt_and_verify, fingerprint, sign_and_encrypt
from crypto.openpgp.armor import armor, dearmor
from crypto.openpgp.pgp_mime import build_encrypted, encrypted_payload
from tests.unit.openpgp.message_builders import as_pgp_mime, sealed

ENTITY = b"Content-Type: text/plain\r\n\r\nBlutbild normal.\r\n"
FIXTURES = [HealthCheck.function_scoped_fixture]


def _outcome(entity: bytes, secret: str, publics: list[str]) -> str:
    try:
        result = decrypt_and_verify(entity, secret, publics)
    except CryptoError as exc:
        return type(exc).__name__
    return "valid" if result.signature_valid else f"flagged {result.reason}"


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURES)
@given(
    edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), min_size=1, max_size=4)
)
def test_altered_messages_are_refused_or_read_unchanged(
    edits: list[tuple[int, int]], alice: tuple[str, str], bob: tuple[str, str]
) -> None:
    original = dearmor(encrypted_payload(sign_and_encrypt(ENTITY, alice[0], [bob[1]])), "MESSAGE")
    message = bytearray(original)
    for position, mask in edits:
        message[position % len(message)] ^= mask
    assume(message != original)
    altered = build_encrypted(armor("MESSAGE", bytes(message)))
    try:
        result = decrypt_and_verify(altered, bob[0], [alice[1]])
    except CryptoError:
        return
    # A few bits lie outside what is authenticated and change nothing (an X25519
    # point's top bit, RFC 7748 §5; a length octet pgpy does not need): then nothing
    # about the message may have changed.
    signed_by = fingerprint(alice[1])
    assert (result.content, result.signature_valid, result.signer) == (ENTITY, True, signed_by)


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURES)
@given(garbage=st.binary(max_size=300))
def test_any_packet_stream_is_refused(
    garbage: bytes, alice: tuple[str, str], bob: tuple[str, str]
) -> None:
    outcome = _outcome(build_encrypted(armor("MESSAGE", garbage)), bob[0], [alice[1]])
    assert outcome in {"DecryptionError", "MessageRefused"}


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURES)
@given(inner=st.binary(max_size=300))
def test_any_integrity_protected_content_is_read_or_refused(
    inner: bytes, alice: tuple[str, str], bob: tuple[str, str]
) -> None:
    try:
        result = decrypt_and_verify(as_pgp_mime(sealed(inner, bob[1])), bob[0], [alice[1]])
    except DecryptionError:
        return
    assert not result.signature_valid  # nobody but Alice can make her signature


@settings(max_examples=60, deadline=None, suppress_health_check=FIXTURES)
@given(entity=st.binary(max_size=400))
def test_any_entity_is_refused_or_read(
    entity: bytes, alice: tuple[str, str], bob: tuple[str, str]
) -> None:
    assert _outcome(entity, bob[0], [alice[1]]) in {"DecryptionError", "MessageRefused"}
