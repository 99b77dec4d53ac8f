"""A real redis-server for the tests, on a free 127.0.0.1 port; stopped and started again for
outages, with its data kept on disk or not."""

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from service.embedded import free_loopback_port

PACKAGE = "redis-server"
STARTUP_TIMEOUT_S = 15.0
MISSING = (
    "The Redis tests need `redis-server` on PATH: install Debian's package with "
    "`apt-get install -y redis-server` (or your system's Redis server package)."
)


def redis_server_executable() -> str:
    """redis-server from PATH; installed from Debian's package when missing and running as root."""
    found = shutil.which("redis-server")
    if found is not None:
        return found
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update"], check=True, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", PACKAGE],
            check=True,
            capture_output=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError(MISSING)
    return found


class RedisServer:
    """One redis-server on a fixed free port, stopped and started again at will (an outage).

    With `data_dir`, what it holds is kept on disk (an append-only file written at every
    command) and read back when it starts again; without, a restart starts empty.
    """

    def __init__(self, data_dir: Path | None = None) -> None:
        self.executable = redis_server_executable()
        self.port = free_loopback_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.data_dir = data_dir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.data_dir)]
            if self.data_dir is not None else ["--appendonly", "no"]
        )
        self.process = subprocess.Popen(
            [
                self.executable,
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--save", "",
                *persistence,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        _wait_until_ready(self.url, self.process)

    def stop(self) -> None:
        """Stop it as an operator would (SIGTERM: it writes its data first, if it keeps any)."""
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def redis_server(data_dir: Path | None = None) -> Iterator[str]:
    """Run redis-server until the block ends; yields its URL."""
    with running_redis_server(data_dir) as server:
        yield server.url


@contextmanager
def running_redis_server(data_dir: Path | None = None) -> Iterator[RedisServer]:
    """A `RedisServer`, started; stopped when the block ends, whatever happened to it."""
    server = RedisServer(data_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _wait_until_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited with code {process.returncode}.")
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
    finally:
        client.close()
    raise RuntimeError(f"redis-server did not answer within {STARTUP_TIMEOUT_S:.0f} s.")
