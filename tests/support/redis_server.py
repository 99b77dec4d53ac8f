"""A real redis-server for the tests, on a free 127.0.0.1 port, with nothing kept on disk."""

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

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


@contextmanager
def redis_server() -> Iterator[str]:
    """Run redis-server until the block ends; yields its URL."""
    executable = redis_server_executable()
    port = free_loopback_port()
    process = subprocess.Popen(
        [
            executable,
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--save", "",
            "--appendonly", "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_until_ready(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
