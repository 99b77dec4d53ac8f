"""A redis-server of the harness's own on 127.0.0.1, for the cases run through Redis.

Started from PATH only (never installed by the harness); `None` when it is not there, so that a
case can skip its Redis variant and say why.
"""

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from bench.processes import ServerError
from service.embedded import free_loopback_port

STARTUP_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
MISSING = (
    "redis-server is not installed (not on PATH), so the Redis variant was not run; install it "
    "(Debian: `apt-get install redis-server`) to measure it"
)


def redis_server_path() -> str | None:
    return shutil.which("redis-server")


@asynccontextmanager
async def redis_server(executable: str, log_path: Path) -> AsyncIterator[str]:
    """redis-server on a free 127.0.0.1 port, keeping nothing on disk; yields its URL."""
    port = free_loopback_port()
    url = f"redis://127.0.0.1:{port}/0"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as output:
        process = await asyncio.create_subprocess_exec(
            executable, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
            "--appendonly", "no",
            stdin=subprocess.DEVNULL, stdout=output, stderr=output,
        )
    try:
        await _wait_until_ready(url, process, log_path)
        yield url
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _wait_until_ready(
    url: str, process: asyncio.subprocess.Process, log_path: Path
) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    client = Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise ServerError(
                    f"redis-server exited with {process.returncode}; see {log_path}"
                )
            try:
                await client.ping()
                return
            except RedisConnectionError:
                await asyncio.sleep(0.05)
    finally:
        await client.aclose()
    raise ServerError(f"redis-server did not answer within {STARTUP_TIMEOUT_S:.0f} s.")
