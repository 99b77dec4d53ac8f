"""A small pool of template worker processes, so that no template runs on the event loop.

Compiling and rendering a template is untrusted work: it runs in a worker process
(`service.redteam.template_worker`), one request at a time, while the event loop only waits in a
thread. Past the time limit the worker is killed, which really stops the work, and replaced; the
worker caps its own memory. Workers start on first use; like the database connection the pool is
process state, released by `close_template_sandbox` (app lifespan, worker shutdown).

Workers are started with `subprocess` and `python -m`, not `multiprocessing`: a "spawn" child
re-imports the parent's `__main__` (for `sparring serve`, the whole app) before its target runs.
"""

import asyncio
import json
import socket
import subprocess
import sys
from collections import deque
from contextlib import suppress
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from service.redteam.template_worker import MIB, TemplateLimits

DEFAULT_LIMITS = TemplateLimits()

# The directory holding the `service` package: the worker imports the same code as its parent.
_IMPORT_ROOT = Path(__file__).resolve().parents[2]
_WORKER_MODULE = "service.redteam.template_worker"


class TemplateError(ValueError):
    """A template that does not compile, names an unknown variable, tries to escape, or goes past
    a limit (the message names it)."""


class SandboxUnavailable(RuntimeError):
    """No template worker could be started: a fault of the server, not of the template."""


class _WorkerLost(Exception):
    """The worker process ended while handling a request."""


class _Worker:
    """One worker process and its connection; blocking methods, called from a thread."""

    def __init__(self, process: subprocess.Popen[bytes], connection: Connection) -> None:
        self.process = process
        self.connection = connection

    @classmethod
    def start(cls, limits: TemplateLimits) -> "_Worker":
        ours, theirs = socket.socketpair()
        with theirs:
            process = subprocess.Popen(
                [sys.executable, "-m", _WORKER_MODULE, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                cwd=_IMPORT_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
        worker = cls(process, Connection(ours.detach()))
        try:
            worker.connection.send_bytes(limits.encode())
            ready = worker.connection.poll(limits.start_timeout_s)
            if ready:
                worker.connection.recv_bytes(64)
        except (EOFError, OSError):
            ready = False
        if not ready:
            worker.kill()
            worker.reap()
            raise SandboxUnavailable("a template worker did not start.")
        return worker

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def exchange(self, payload: bytes, timeout_s: float, max_reply_bytes: int) -> bytes | None:
        """Send one request and return the reply, or None when `timeout_s` passes first."""
        try:
            self.connection.send_bytes(payload)
            if not self.connection.poll(timeout_s):
                return None
            return self.connection.recv_bytes(max_reply_bytes)
        except (EOFError, OSError) as error:
            # Nobody else uses the connection while a request holds the worker.
            self.connection.close()
            raise _WorkerLost from error

    def kill(self) -> None:
        """SIGKILL: the work stops now, whatever it is doing (non-blocking)."""
        with suppress(ProcessLookupError):
            self.process.kill()

    def reap(self) -> None:
        """Wait for the killed process and release its connection."""
        self.process.wait()
        self.connection.close()


class TemplateSandbox:
    """Checks and renders templates in at most `limits.workers` processes, under `limits`."""

    def __init__(self, limits: TemplateLimits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._workers: set[_Worker] = set()
        self._idle: list[_Worker] = []
        self._starting = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._closed = False
        # A reply holds at most the output limit in characters, each at most 6 bytes of JSON.
        self._max_reply_bytes = 6 * limits.max_output_chars + 64 * 1024

    @property
    def pids(self) -> list[int]:
        """Process ids of the running workers (for operators and tests)."""
        return sorted(worker.pid for worker in self._workers)

    async def check(self, source: str) -> None:
        """Raise TemplateError unless `source` compiles, uses `prompt`, and a sample prompt
        renders within the limits."""
        await self._request({"op": "check", "source": source})

    async def render(self, source: str, prompt: str) -> str:
        return await self._request({"op": "render", "source": source, "prompt": prompt})

    async def close(self) -> None:
        """Stop every worker; a request still running fails with TemplateError."""
        self._closed = True
        idle, self._idle = self._idle, []
        for worker in self._workers:
            worker.kill()
        # A busy worker is reaped by the request holding it, once its thread lets go.
        self._workers.difference_update(idle)
        for worker in idle:
            await asyncio.to_thread(worker.reap)
        while self._waiters:
            self._wake()

    async def _request(self, request: dict[str, str]) -> str:
        payload = json.dumps(request).encode()
        # A worker that ends while handling a request may have been ended from outside (or have
        # ended just before): the request gets one fresh worker before it is blamed.
        for _attempt in range(2):
            worker = await self._acquire()
            try:
                reply = await asyncio.to_thread(
                    worker.exchange, payload, self.limits.timeout_s, self._max_reply_bytes
                )
            except _WorkerLost:
                await self._discard(worker)
                continue
            except asyncio.CancelledError:
                # The caller is gone: stop the work; the thread sees the end and lets go.
                worker.kill()
                self._forget(worker)
                raise
            if reply is None:
                await self._discard(worker)
                raise TemplateError(
                    f"template exceeded the time limit ({self.limits.timeout_s:g} s)."
                )
            return await self._answer(worker, reply)
        raise TemplateError(
            "template stopped its worker process: it exceeded the memory limit "
            f"({self.limits.memory_bytes // MIB} MiB) or crashed it."
        )

    async def _answer(self, worker: _Worker, reply: bytes) -> str:
        # Only JSON crosses back: what a template touched is never unpickled in this process.
        answer: dict[str, Any] = json.loads(reply)
        if answer.get("retire"):
            # After a MemoryError or RecursionError a fresh process is the safer one to keep.
            await self._discard(worker)
        else:
            self._release(worker)
        if "error" in answer:
            raise TemplateError(str(answer["error"]))
        return str(answer["text"])

    async def _acquire(self) -> _Worker:
        while True:
            if self._closed:
                raise TemplateError("the template sandbox is closed.")
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    return worker
                await self._discard(worker)
            if len(self._workers) + self._starting < self.limits.workers:
                return await self._start()
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # this turn was ours: pass it on
                raise
            finally:
                with suppress(ValueError):
                    self._waiters.remove(waiter)

    async def _start(self) -> _Worker:
        self._starting += 1
        try:
            worker = await asyncio.to_thread(_Worker.start, self.limits)
        except BaseException:
            self._wake()
            raise
        finally:
            self._starting -= 1
        self._workers.add(worker)
        if self._closed:
            await self._discard(worker)
            raise TemplateError("the template sandbox is closed.")
        return worker

    def _release(self, worker: _Worker) -> None:
        self._idle.append(worker)
        self._wake()

    def _forget(self, worker: _Worker) -> None:
        self._workers.discard(worker)
        self._wake()

    async def _discard(self, worker: _Worker) -> None:
        worker.kill()
        self._forget(worker)
        await asyncio.to_thread(worker.reap)

    def _wake(self) -> None:
        """Let the longest waiting request try again."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done() and not waiter.get_loop().is_closed():
                waiter.set_result(None)
                return


_current: TemplateSandbox | None = None


def template_sandbox() -> TemplateSandbox:
    """The process's template sandbox, made on first use (its workers start when needed)."""
    global _current
    if _current is None:
        _current = TemplateSandbox()
    return _current


async def close_template_sandbox() -> None:
    """Stop the process's template workers; a later template starts a new pool."""
    global _current
    sandbox, _current = _current, None
    if sandbox is not None:
        await sandbox.close()
