"""A process pool for CPU-heavy crypto, so that the event loop keeps serving sessions
(STYLE principle 5, DESIGN section 7).

Every crypto entry point the gateway calls takes and returns bytes/str (S/MIME and
OpenPGP functions, `crypto.smime.verify`'s result dataclass), so it pickles cheaply.
Workers start from a forkserver that has already imported the crypto packages (no fork
of a process holding database connections and threads); a worker that dies breaks the
pool, which is rebuilt for the next call while the failed call raises `PoolFailure`.
A worker exits as soon as the process that owns the pool is gone, even killed with
SIGKILL (`salus serve` under `kill -9`): it would otherwise wait on its task queue for
ever, and keep the forkserver and the resource tracker alive with it.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import multiprocessing.connection
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import ParamSpec, TypeVar

from crypto.errors import CryptoError

P = ParamSpec("P")
T = TypeVar("T")
# Told, after each job, which function ran and how long the round trip took (seconds).
Observer = Callable[[Callable[..., object], float], None]

PRELOAD = ["crypto.smime", "crypto.openpgp", "crypto.validation"]


class PoolFailure(CryptoError):
    """A crypto worker process died (killed, out of memory) while doing this job."""


def _ready() -> bool:
    return True


def _exit_with_owner() -> None:
    """Worker initializer: a daemon thread that ends the worker when its owner dies (the
    owner's end of the sentinel pipe closes, whatever killed it)."""
    owner = multiprocessing.parent_process()
    if owner is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([owner.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="owner-watch", daemon=True).start()


class CryptoPool:
    """`await pool.run(fn, *args)` runs `fn(*args)` in a worker process. Also a service
    (name, start, stop) for the app's life cycle. `observe`, when given, is told each
    job's function and its round trip as the caller waits it (queueing, pickling, work)."""

    name = "crypto-pool"

    def __init__(self, workers: int | None = None, *, observe: Observer | None = None) -> None:
        self.workers = workers or max(1, os.cpu_count() or 1)
        self._observe = observe
        self._executor: ProcessPoolExecutor | None = None

    def _new_executor(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return ProcessPoolExecutor(
            max_workers=self.workers, mp_context=context, initializer=_exit_with_owner
        )

    async def start(self) -> None:
        """Start the workers and wait until each has imported the crypto packages."""
        self._executor = self._new_executor()
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(loop.run_in_executor(self._executor, _ready) for _ in range(self.workers))
        )

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        executor = self._executor
        if executor is None:
            raise CryptoError("the crypto pool is not started")
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            return await loop.run_in_executor(executor, functools.partial(fn, *args, **kwargs))
        except BrokenProcessPool as exc:
            if self._executor is executor:  # the first caller to notice rebuilds it
                self._executor = self._new_executor()
                executor.shutdown(wait=False, cancel_futures=True)
            raise PoolFailure("a crypto worker process failed; the pool was restarted") from exc
        finally:
            if self._observe is not None:
                self._observe(fn, time.perf_counter() - started)

    async def stop(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
