"""Real key material for the tests that submit mail, made once per test process.

Every message Salus accepts is signed by its sender and encrypted for its recipients, so
a test server needs a service CA in its data dir and keys for its mailboxes. Making them
is slow (a 4096-bit root, 3072-bit mailbox keys): `KeyMaterial` makes one CA and one key
generation per address once, sealed under one service key, and `install`s them into each
test's fresh data dir and database (`issue`). The keys are real: the same code as
`salus init` and `salus keys issue` makes them. A started crypto process pool is shared
the same way (`shared_pool`).
"""

from __future__ import annotations

import asyncio
import atexit
import datetime as dt
import os
import secrets
import shutil
import tempfile
import threading
from pathlib import Path

from crypto import keystore
from crypto.at_rest import AtRestCipher
from crypto.ca import CaPaths, ServiceCa, export_chain
from crypto.keystore import NewKeys
from crypto.pool import CryptoPool
from crypto.sealing import KeySealer
from crypto.service_key import ServiceKey
from storage.base import utcnow
from storage.database import Database

POOL_WORKERS = 2


class KeyMaterial:
    """One test CA and service key; mailbox key generations made on first use."""

    def __init__(self, root: Path, domain: str = "salus.test") -> None:
        self.root = root
        self.service_key = ServiceKey(secrets.token_bytes(32))
        self.sealer = KeySealer(self.service_key)
        now = utcnow()
        self.ca = ServiceCa.create(root, self.sealer, domain, now - dt.timedelta(days=1))
        self._made: dict[str, NewKeys] = {}
        self._lock = threading.Lock()

    def at_rest(self) -> AtRestCipher:
        return AtRestCipher(self.service_key)

    def ca_chain(self) -> bytes:
        return export_chain(self.root)

    def install(self, data_dir: Path) -> None:
        """Give `data_dir` this CA and service key, as `salus init` would (a file the
        test already put there, such as its own ca/root.crt, is left as it is)."""
        source, target = CaPaths.of(self.root).directory, CaPaths.of(data_dir).directory
        target.mkdir(mode=0o700, exist_ok=True)
        for path in source.iterdir():
            if not (target / path.name).exists():
                shutil.copy2(path, target / path.name)
        keys = data_dir / "keys"
        keys.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(keys / "service.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(self.service_key.secret)

    def keys(self, address: str) -> NewKeys:
        """The key generation of `address` (made once; blocking CPU work)."""
        address = address.lower()
        with self._lock:
            made = self._made.get(address)
        if made is None:
            made = keystore.generate(self.ca, self.sealer, address, address, utcnow())
            with self._lock:
                made = self._made.setdefault(address, made)
        return made

    async def issue(self, db: Database, *addresses: str) -> None:
        """Store the key generations of `addresses` in `db` (salus keys issue)."""
        made = await asyncio.gather(*(asyncio.to_thread(self.keys, a) for a in addresses))
        async with db.write() as session:
            for keys in made:
                await keystore.store(session, keys, utcnow())


_material: KeyMaterial | None = None
_pool: CryptoPool | None = None
_guard = threading.Lock()


def key_material() -> KeyMaterial:
    """The process's KeyMaterial (made on first use, removed at exit)."""
    global _material  # noqa: PLW0603 - one per test process, like a session fixture
    with _guard:
        if _material is None:
            root = Path(tempfile.mkdtemp(prefix="salus-test-keys-"))
            atexit.register(shutil.rmtree, root, ignore_errors=True)
            _material = KeyMaterial(root)
        return _material


def shared_pool() -> CryptoPool:
    """A started crypto process pool for the whole test process (stopped at exit).
    Starting one costs most of a second; a test server borrows this one."""
    global _pool  # noqa: PLW0603 - one per test process, like a session fixture
    with _guard:
        if _pool is None:
            pool = CryptoPool(POOL_WORKERS)
            # start() needs an event loop; the caller may be inside one, so use a thread.
            starter = threading.Thread(target=asyncio.run, args=(pool.start(),))
            starter.start()
            starter.join()
            _pool = pool
        return _pool


def stop_shared_pool() -> None:
    """Stop the shared pool, if one was started (at the end of the test session)."""
    global _pool
    with _guard:
        pool, _pool = _pool, None
    if pool is not None:
        asyncio.run(pool.stop())
