"""A process pool for CPU-heavy crypto, so that the event loop keeps serving sessions
(STYLE principle 5, DESIGN section 7).

Every crypto entry point the gateway calls takes and returns bytes/str (S/MIME and
OpenPGP functions, `crypto.smime.verify`'s result dataclass), so it pickles cheaply.
Workers start from a forkserver that has already imported the crypto packages (no fork
of a process holding database connections and threads).

The event loop talks to each worker over its own socket pair, non-blocking, with
`add_reader`/`add_writer`: a job is pickled and framed on the loop, and the loop reads
the result when it arrives. `concurrent.futures.ProcessPoolExecutor` did the same
through two threads of its own (a manager and a queue feeder), which woke for every job
and took the GIL from the loop at each of its pipe writes: in the submission benchmark
the loop spent more time waiting for the GIL around a job than pickling it.

A worker that dies (killed, out of memory) fails the job it was doing with
`PoolFailure` and is replaced; the other jobs go on. A worker exits as soon as the
process that owns the pool is gone, even killed with SIGKILL (`salus serve` under
`kill -9`): its end of the socket pair reads end-of-file.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any, ParamSpec, TypeVar, cast

from config.logging import Event, get_logger
from crypto.errors import CryptoError

P = ParamSpec("P")
T = TypeVar("T")
# Told, after each job, which function ran and how long the round trip took (seconds).
Observer = Callable[[Callable[..., object], float], None]

PRELOAD = ["crypto.smime", "crypto.openpgp", "crypto.validation"]
_HEADER = struct.Struct("!Q")
_READY = b"ready"
_CHUNK = 256 * 1024
START_SECONDS = 60.0  # a worker not ready by then is a failure to start
RESPAWN_BACKOFF = (0.0, 0.5, 2.0, 10.0)  # after consecutive failures to start
log = get_logger(__name__)


class PoolFailure(CryptoError):
    """A crypto worker process died (killed, out of memory) while doing this job."""


# ---- the worker process ------------------------------------------------------------------
def _read_exact(fd: int, count: int) -> bytes:
    parts, left = [], count
    while left:
        part = os.read(fd, min(left, _CHUNK))
        if not part:
            raise EOFError
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _serve(conn: multiprocessing.connection.Connection) -> None:
    """A worker's life: jobs in, results out, until the owner's end closes."""
    # Ctrl-C on `salus serve` reaches the whole process group: the owner drains and
    # closes its ends, which ends the workers; a worker must not die under a job first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fd = conn.fileno()
    os.set_blocking(fd, True)
    # What the forkserver preloaded (the crypto packages, pgpy's among them) lives as
    # long as the worker: out of the collector's walks, a full collection no longer
    # holds up the job in hand for tens of milliseconds (mailserver.app.settle_heap).
    gc.freeze()
    try:
        _write_all(fd, _HEADER.pack(len(_READY)) + _READY)
        while True:
            (size,) = _HEADER.unpack(_read_exact(fd, _HEADER.size))
            fn, args, kwargs = pickle.loads(_read_exact(fd, size))  # noqa: S301 - our own
            try:
                outcome: tuple[bool, object] = (True, fn(*args, **kwargs))
            except Exception as exc:  # returned to the caller, typed
                outcome = (False, exc)
            try:
                data = pickle.dumps(outcome, pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # an unpicklable result or exception
                error = CryptoError(f"the crypto job's result cannot be returned: {exc}")
                data = pickle.dumps((False, error), pickle.HIGHEST_PROTOCOL)
            _write_all(fd, _HEADER.pack(len(data)) + data)
    except (EOFError, BrokenPipeError, ConnectionResetError):
        pass  # the owner is gone (or stopped the pool)
    finally:
        os._exit(0)


# ---- the owner's side ----------------------------------------------------------------------
@dataclass(eq=False)
class _Job:
    fn: Callable[..., object]
    payload: bytes
    done: asyncio.Future[Any]


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    fd: int
    conn: multiprocessing.connection.Connection
    ready: asyncio.Future[None]
    job: _Job | None = None
    inbox: bytearray = field(default_factory=bytearray)
    outbox: memoryview | None = None


class CryptoPool:
    """`await pool.run(fn, *args)` runs `fn(*args)` in a worker process. Also a service
    (name, start, stop) for the app's life cycle. `observe`, when given, is told each
    job's function and its round trip as the caller waits it (queueing, pickling, work)."""

    name = "crypto-pool"

    def __init__(self, workers: int | None = None, *, observe: Observer | None = None) -> None:
        self.workers = workers or max(1, os.cpu_count() or 1)
        self._observe = observe
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(PRELOAD)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: list[_Worker] = []
        self._queue: collections.deque[_Job] = collections.deque()
        self._starting = 0  # replacements on their way
        self._start_failures = 0  # consecutive

    async def start(self) -> None:
        """Start the workers and wait until each has imported the crypto packages."""
        self._loop = asyncio.get_running_loop()
        starting = [await self._spawn() for _ in range(self.workers)]
        try:
            await asyncio.wait_for(asyncio.gather(*(w.ready for w in starting)), START_SECONDS)
        except TimeoutError:
            raise CryptoError(
                f"the crypto workers did not start within {START_SECONDS:.0f} s"
            ) from None

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._loop is None:
            raise CryptoError("the crypto pool is not started")
        if asyncio.get_running_loop() is not self._loop:
            self._move_to(asyncio.get_running_loop())
        started = time.perf_counter()
        payload = pickle.dumps((fn, args, kwargs), pickle.HIGHEST_PROTOCOL)
        job = _Job(fn, payload, self._loop.create_future())
        self._queue.append(job)
        self._dispatch()
        try:
            return cast(T, await job.done)
        finally:
            if self._observe is not None:
                self._observe(fn, time.perf_counter() - started)

    async def stop(self) -> None:
        loop, self._loop = self._loop, None
        workers, self._pool = self._pool, []
        for job in self._queue:
            if not job.done.done():
                job.done.set_exception(CryptoError("the crypto pool is stopping"))
        self._queue.clear()
        for worker in workers:
            self._close(worker, loop)
            if worker.job is not None and not worker.job.done.done():
                worker.job.done.set_exception(CryptoError("the crypto pool is stopping"))
        await asyncio.to_thread(_join, [w.process for w in workers])

    def _move_to(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve from `loop` from now on (a pool started in one event loop and used in
        another, as the tests' shared pool is): the workers' sockets are watched there,
        and the jobs waiting in the old loop fail."""
        old, self._loop = self._loop, loop
        for worker in list(self._pool):
            if old is not None and not old.is_closed():
                old.remove_reader(worker.fd)
                old.remove_writer(worker.fd)
            job, worker.job = worker.job, None
            if job is not None or worker.outbox is not None or worker.inbox:
                self._pool.remove(worker)  # halfway through a job: its stream is unusable
                self._close(worker, None)
                if job is not None:
                    _fail_quietly(job, CryptoError("the crypto pool moved to another event loop"))
                continue
            if not worker.ready.done():
                self._pool.remove(worker)
                self._close(worker, None)
                continue
            worker.ready = loop.create_future()
            worker.ready.set_result(None)
            loop.add_reader(worker.fd, self._readable, worker)
        for job in self._queue:
            _fail_quietly(job, CryptoError("the crypto pool moved to another event loop"))
        self._queue.clear()
        # Replacements started in the old loop died with it: start the missing ones here.
        self._starting = 0
        for _ in range(self.workers - len(self._pool)):
            self._start_replacement()

    # -- workers --
    async def _spawn(self) -> _Worker:
        loop = self._loop
        if loop is None:
            raise CryptoError("the crypto pool is not started")
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(target=_serve, args=(theirs,), daemon=True)
        await asyncio.to_thread(process.start)  # the forkserver's first start takes a while
        theirs.close()
        if self._loop is not loop:  # stopped meanwhile
            ours.close()
            await asyncio.to_thread(_join, [process])
            raise CryptoError("the crypto pool stopped while a worker started")
        fd = ours.fileno()
        os.set_blocking(fd, False)
        worker = _Worker(process, fd, ours, loop.create_future())
        self._pool.append(worker)
        loop.add_reader(fd, self._readable, worker)
        return worker

    def _replace(self, worker: _Worker, reason: str) -> None:
        """`worker` died: fail its job, start another in its place."""
        if worker in self._pool:
            self._pool.remove(worker)
        self._close(worker, self._loop)
        job, worker.job = worker.job, None
        if job is not None and not job.done.done():
            job.done.set_exception(
                PoolFailure(f"a crypto worker process failed ({reason}); it was replaced")
            )
        if not worker.ready.done():  # whoever started it (start, _replacement) sees this
            worker.ready.set_exception(PoolFailure(f"a crypto worker did not start ({reason})"))
        else:
            self._start_replacement()

    def _start_replacement(self) -> None:
        if self._loop is None:
            return
        self._starting += 1
        self._loop.create_task(self._replacement())

    async def _replacement(self) -> None:
        """Start a worker in place of a dead one, after a pause that grows while workers
        keep failing to start; the jobs waiting fail while no worker is left at all."""
        backoff = RESPAWN_BACKOFF[min(self._start_failures, len(RESPAWN_BACKOFF) - 1)]
        worker: _Worker | None = None
        try:
            if backoff:
                await asyncio.sleep(backoff)
            worker = await self._spawn()
            await asyncio.wait_for(asyncio.shield(worker.ready), START_SECONDS)
        except Exception as exc:  # the forkserver gone, no memory, a worker dying at start
            self._start_failures += 1
            log.warning(Event.CRYPTO_PROTECT_FAILED, reason=f"a crypto worker did not start: {exc}")
            if worker is not None and worker in self._pool:  # never ready: put it down
                self._pool.remove(worker)
                self._close(worker, self._loop)
                worker.process.kill()
            self._starting -= 1
            if not self._pool and not self._starting:
                self._fail_waiting(PoolFailure("no crypto worker is running; try again later"))
            self._start_replacement()
            return
        self._start_failures = 0
        self._starting -= 1

    def _fail_waiting(self, error: CryptoError) -> None:
        while self._queue:
            job = self._queue.popleft()
            if not job.done.done():
                job.done.set_exception(error)

    def _close(self, worker: _Worker, loop: asyncio.AbstractEventLoop | None) -> None:
        if loop is not None and not loop.is_closed():
            loop.remove_reader(worker.fd)
            loop.remove_writer(worker.fd)
        worker.conn.close()

    # -- jobs --
    def _dispatch(self) -> None:
        while self._queue and self._queue[0].done.done():  # its caller gave up
            self._queue.popleft()
        for worker in self._pool:
            if not self._queue:
                return
            if worker.job is None and worker.ready.done() and not worker.ready.exception():
                self._send(worker, self._queue.popleft())
                while self._queue and self._queue[0].done.done():
                    self._queue.popleft()

    def _send(self, worker: _Worker, job: _Job) -> None:
        worker.job = job
        worker.outbox = memoryview(_HEADER.pack(len(job.payload)) + job.payload)
        self._writable(worker)

    def _writable(self, worker: _Worker) -> None:
        loop = self._loop
        try:
            while worker.outbox:
                worker.outbox = worker.outbox[os.write(worker.fd, worker.outbox) :]
        except BlockingIOError:
            if loop is not None:
                loop.add_writer(worker.fd, self._writable, worker)
            return
        except OSError as exc:
            self._replace(worker, type(exc).__name__)
            return
        worker.outbox = None
        if loop is not None:
            loop.remove_writer(worker.fd)

    def _readable(self, worker: _Worker) -> None:
        try:
            while True:
                part = os.read(worker.fd, _CHUNK)
                if not part:
                    self._replace(worker, "exited")
                    return
                worker.inbox += part
                if len(part) < _CHUNK:
                    break
        except BlockingIOError:
            pass
        except OSError as exc:
            self._replace(worker, type(exc).__name__)
            return
        while len(worker.inbox) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(worker.inbox)
            end = _HEADER.size + size
            if len(worker.inbox) < end:
                return
            message = bytes(worker.inbox[_HEADER.size : end])
            del worker.inbox[:end]
            self._received(worker, message)

    def _received(self, worker: _Worker, message: bytes) -> None:
        if not worker.ready.done():
            worker.ready.set_result(None)  # its first message says it is ready
            self._dispatch()
            return
        job, worker.job = worker.job, None
        try:
            ok, value = pickle.loads(message)  # noqa: S301 - from our own worker
        except Exception as exc:  # pickled in the worker, not rebuilt here
            ok, value = False, CryptoError(f"the crypto job's result cannot be read: {exc}")
        try:
            if job is not None and not job.done.done():  # a cancelled caller drops it
                if ok:
                    job.done.set_result(value)
                else:
                    job.done.set_exception(
                        value if isinstance(value, BaseException) else CryptoError(str(value))
                    )
        finally:
            self._dispatch()


def _join(processes: list[BaseProcess]) -> None:
    for process in processes:
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join(5)


def _fail_quietly(job: _Job, error: CryptoError) -> None:
    """Fail a job of another (maybe closed) event loop."""
    if job.done.done():
        return
    with contextlib.suppress(RuntimeError):  # its loop is closed: nobody waits any more
        job.done.set_exception(error)
