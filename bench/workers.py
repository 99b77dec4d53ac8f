"""`sparring worker` processes the harness starts for the cases run through Redis."""

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bench.processes import STOP_TIMEOUT_S, ServerError

STARTUP_TIMEOUT_S = 60.0
# What a worker logs once it reads the task stream.
LISTENING = b"Worker running prompt tasks"


@asynccontextmanager
async def sparring_workers(
    count: int, environment: dict[str, str], *, cwd: Path, log_dir: Path
) -> AsyncIterator[list[int]]:
    """`count` processes of `sparring worker`, yielded (their pids) once each reads the stream.

    `environment` adds `SPARRING_*` variables to this process's own (secrets go there, never on
    the command line).
    """
    await asyncio.to_thread(log_dir.mkdir, parents=True, exist_ok=True)
    processes: list[asyncio.subprocess.Process] = []
    try:
        for number in range(count):
            log_path = log_dir / f"sparring-worker-{number}.log"
            with log_path.open("wb") as output:
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "service.cli", "worker",
                    cwd=cwd, env={**os.environ, **environment},
                    stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                )
            processes.append(process)
            await _wait_until_listening(process, log_path)
        yield [process.pid for process in processes]
    finally:
        for process in processes:
            if process.returncode is None:
                process.terminate()
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _wait_until_listening(process: asyncio.subprocess.Process, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while LISTENING not in await asyncio.to_thread(log_path.read_bytes):
        if process.returncode is not None:
            raise ServerError(f"sparring worker exited with {process.returncode}; see {log_path}")
        if time.monotonic() > deadline:
            raise ServerError(f"sparring worker did not start reading tasks; see {log_path}")
        await asyncio.sleep(0.05)
