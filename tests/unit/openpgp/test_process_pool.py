"""The OpenPGP functions run in the crypto process pool: arguments, results and
refusals cross the process boundary intact."""

from __future__ import annotations

import pytest

from crypto.errors import DecryptionError
from crypto.openpgp import (
    KeyProblem,
    KeyRefused,
    MessageRefused,
    Refusal,
    decrypt_and_verify,
    generate_key,
    sign_and_encrypt,
)
from crypto.pool import CryptoPool
from tests.unit.openpgp.key_builders import build_key, revoke

ENTITY = b"Content-Type: text/plain\r\n\r\nim Prozesspool\r\n"


async def test_round_trip_and_refusals_through_the_pool() -> None:
    pool = CryptoPool(workers=1)
    await pool.start()
    try:
        alice = await pool.run(generate_key, "alice@praxis.test", "Alice")
        bob = await pool.run(generate_key, "bob@klinik.test", "Bob")
        protected = await pool.run(sign_and_encrypt, ENTITY, alice[0], [bob[1]])
        result = await pool.run(decrypt_and_verify, protected, bob[0], [alice[1]])
        assert (result.content, result.signature_valid) == (ENTITY, True)

        with pytest.raises(MessageRefused) as refused:
            await pool.run(decrypt_and_verify, b"Content-Type: text/plain\r\n\r\nx", bob[0], [])
        assert refused.value.reason is Refusal.NOT_PGP_MIME

        with pytest.raises(DecryptionError) as failed:
            await pool.run(decrypt_and_verify, protected, alice[0], [alice[1]])
        assert str(failed.value) == DecryptionError.message

        revoked = revoke(build_key("gone@praxis.test", "Gone"))
        with pytest.raises(KeyRefused) as key_refused:
            await pool.run(sign_and_encrypt, ENTITY, alice[0], [revoked])
        assert (key_refused.value.reason, key_refused.value.purpose) == (
            KeyProblem.REVOKED,
            "encrypt",
        )
        assert "cannot be used to encrypt: revoked" in str(key_refused.value)
    finally:
        await pool.stop()
