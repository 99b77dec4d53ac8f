"""HTTP servers the harness starts as child processes on 127.0.0.1, and stops again."""

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from service.embedded import free_loopback_port

READY_PATH = "/api/v1/sessions/name"
STOP_TIMEOUT_S = 15.0


class ServerError(RuntimeError):
    """A server process did not start."""


@dataclass(frozen=True)
class Server:
    name: str
    base_url: str
    pid: int


@asynccontextmanager
async def start_server(
    name: str,
    command: list[str],
    *,
    cwd: Path,
    log_path: Path,
    timeout_s: float,
    environment: dict[str, str] | None = None,
) -> AsyncIterator[Server]:
    """Run `command --port P` and yield once `GET READY_PATH` answers; stop it on exit.

    `environment` adds variables to this process's own (secrets go there, not on the command
    line, which every local user can read).
    """
    port = free_loopback_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as output:
        process = await asyncio.create_subprocess_exec(
            *command, "--port", str(port),
            cwd=cwd, stdin=subprocess.DEVNULL, stdout=output, stderr=output,
            env={**os.environ, **environment} if environment else None,
        )
    server = Server(name=name, base_url=f"http://127.0.0.1:{port}", pid=process.pid)
    try:
        await _wait_until_ready(server, process, timeout_s, log_path)
        yield server
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _wait_until_ready(
    server: Server, process: asyncio.subprocess.Process, timeout_s: float, log_path: Path
) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=server.base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise ServerError(
                    f"The {server.name} server exited with {process.returncode}; see {log_path}"
                )
            try:
                response = await client.get(READY_PATH)
            except httpx.TransportError:
                await asyncio.sleep(0.1)
                continue
            if response.status_code < 500:
                return
            await asyncio.sleep(0.1)
    raise ServerError(f"The {server.name} server did not answer within {timeout_s:.0f} s.")
