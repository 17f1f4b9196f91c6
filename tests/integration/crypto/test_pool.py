"""The crypto process pool: S/MIME runs in worker processes with bytes in and out,
refusals come back as the same typed errors, and a worker that dies does not take the
pool down for the next message."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
from pathlib import Path

import pytest

from crypto import policy, smime
from crypto.errors import CryptoError, DecryptionError, EnvelopeRefused, Reason
from crypto.pool import CryptoPool, PoolFailure
from tests.unit.crypto.pki import NOW, Pki

ENTITY = b"Content-Type: text/plain\r\n\r\nHbA1c 6.1 %\r\n"


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _refuse() -> None:
    raise EnvelopeRefused(
        Reason.WEAK_CIPHER, "the message is encrypted with rc2, which the algorithm policy refuses"
    )


async def test_protect_and_unprotect_in_worker_processes() -> None:
    pki = Pki.make()
    alice, bob = pki.mailbox("alice@salus.test"), pki.mailbox("bob@salus.test")
    pool = CryptoPool(workers=2)
    await pool.start()
    try:
        protected = await pool.run(
            smime.sign_and_encrypt,
            ENTITY,
            alice.key_pem,
            alice.chain_pem,
            [bob.cert_pem],
            policy.FORM_GCM,
        )
        result = await pool.run(
            smime.unprotect,
            protected,
            [(bob.key_pem, bob.cert_pem)],
            [pki.anchors_pem],
            NOW,
            sender="alice@salus.test",
        )
        assert result.valid and result.content == ENTITY
        with pytest.raises(DecryptionError) as caught:
            await pool.run(smime.decrypt, protected, alice.key_pem, alice.cert_pem)
        assert str(caught.value) == "the message cannot be decrypted"
        with pytest.raises(EnvelopeRefused) as refused:
            await pool.run(_refuse)
        assert refused.value.reason is Reason.WEAK_CIPHER
    finally:
        await pool.stop()


async def test_a_dead_worker_fails_one_call_and_the_pool_recovers() -> None:
    pool = CryptoPool(workers=1)
    await pool.start()
    try:
        with pytest.raises(PoolFailure):
            await pool.run(_die)
        pki = Pki.make()
        alice = pki.mailbox("alice@salus.test")
        signed = await pool.run(smime.sign, ENTITY, alice.key_pem, alice.chain_pem)
        assert smime.verify(signed, [pki.anchors_pem], NOW).valid
    finally:
        await pool.stop()


def _echo_reversed(data: bytes) -> bytes:
    return data[::-1]


def _slow(seconds: float) -> str:
    import time  # noqa: PLC0415 - runs in the worker

    time.sleep(seconds)
    return "slept"


def _unpicklable() -> object:
    return lambda: None


async def test_more_jobs_than_workers_large_payloads_and_cancelled_callers() -> None:
    """Jobs queue behind busy workers and each gets its own result; payloads larger
    than a socket buffer go both ways whole; a caller that gives up does not leave the
    worker's next result to the wrong caller."""
    pool = CryptoPool(workers=2)
    await pool.start()
    try:
        blobs = [os.urandom(3 * 1024 * 1024 + n) for n in range(5)]
        results = await asyncio.gather(*(pool.run(_echo_reversed, b) for b in blobs))
        assert results == [b[::-1] for b in blobs]
        slow = asyncio.ensure_future(pool.run(_slow, 0.3))
        await asyncio.sleep(0.05)
        slow.cancel()
        answers = await asyncio.gather(
            *(pool.run(_echo_reversed, b"%d" % n) for n in range(10, 16))
        )
        assert answers == [(b"%d" % n)[::-1] for n in range(10, 16)]
        with pytest.raises(CryptoError, match="cannot be returned"):
            await pool.run(_unpicklable)
        assert await pool.run(_slow, 0) == "slept"
    finally:
        await pool.stop()


def test_a_pool_started_in_one_event_loop_serves_the_next() -> None:
    """As the tests' shared pool is used: started by one `asyncio.run`, then used by
    other loops in turn."""
    pool = CryptoPool(workers=1)
    asyncio.run(pool.start())
    try:
        assert asyncio.run(pool.run(_echo_reversed, b"abc")) == b"cba"
        assert asyncio.run(pool.run(_echo_reversed, b"xyz")) == b"zyx"
    finally:
        asyncio.run(pool.stop())


class _TwoArgumentError(Exception):
    """Pickles in the worker, cannot be rebuilt by the owner (pickle calls cls(*args))."""

    def __init__(self, first: str, second: str) -> None:
        super().__init__(f"{first} {second}")


def _raise_two_argument_error() -> None:
    raise _TwoArgumentError("a", "b")


def _append_to(path: str, text: str) -> None:
    with open(path, "a") as out:
        out.write(text)


async def test_results_the_owner_cannot_read_cancelled_jobs_and_ctrl_c(tmp_path: Path) -> None:
    """A result or exception that does not unpickle fails its own call only; a queued
    job whose caller gave up never runs; SIGINT to a busy worker (Ctrl-C reaches the
    process group) does not kill it under its job."""
    pool = CryptoPool(workers=1)
    await pool.start()
    try:
        with pytest.raises(CryptoError, match="cannot be read"):
            await asyncio.wait_for(pool.run(_raise_two_argument_error), 10)
        assert await pool.run(_echo_reversed, b"ok") == b"ko"

        marks = tmp_path / "ran"
        busy = asyncio.ensure_future(pool.run(_slow, 0.3))
        queued = [asyncio.ensure_future(pool.run(_append_to, str(marks), "x")) for _ in range(3)]
        await asyncio.sleep(0.05)
        for job in queued:
            job.cancel()
        assert await busy == "slept"
        assert await pool.run(_echo_reversed, b"after") == b"retfa"
        assert not marks.exists()  # none of the cancelled jobs ran

        (worker,) = pool._pool
        signalled = asyncio.ensure_future(pool.run(_slow, 0.3))
        await asyncio.sleep(0.1)
        os.kill(worker.process.pid or 0, signal.SIGINT)
        assert await signalled == "slept"
    finally:
        await pool.stop()


async def test_workers_keep_their_preloaded_objects_out_of_collections() -> None:
    """A full collection in a worker walks only what its jobs left alive, not the
    crypto packages it started with."""
    pool = CryptoPool(workers=1)
    await pool.start()
    try:
        assert await pool.run(gc.get_freeze_count) > 10_000
    finally:
        await pool.stop()
