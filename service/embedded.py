"""Runs SecantusDB as a child process: the database of the embedded default setup."""

import logging
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

log = logging.getLogger(__name__)

SERVER_COMMAND = "secantusd-py"
MISSING_EXTRA = (
    "The embedded database needs the 'embedded' extra: pip install 'sparring[embedded]' "
    "(or set SPARRING_MONGODB_URI to a MongoDB server)."
)


class EmbeddedServerError(RuntimeError):
    """The embedded database could not be started."""


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _server_executable() -> str:
    # Prefer the command installed next to this interpreter, so a virtualenv works unactivated.
    beside_python = Path(sys.executable).parent / SERVER_COMMAND
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(SERVER_COMMAND)
    if found is None:
        raise EmbeddedServerError(MISSING_EXTRA)
    return found


class EmbeddedServer:
    """One SecantusDB process on a free 127.0.0.1 port, its files under `storage_path`."""

    def __init__(self, storage_path: Path, *, start_timeout_s: float = 60.0) -> None:
        self.storage_path = storage_path
        self.start_timeout_s = start_timeout_s
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        if self.port is None:
            raise EmbeddedServerError("The embedded server has not been started.")
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self) -> str:
        """Start the server and return its URI once it answers a ping."""
        executable = _server_executable()
        self.storage_path.mkdir(parents=True, exist_ok=True)
        self.port = free_loopback_port()
        log_file = (self.storage_path.parent / "secantusd.log").open("ab")
        self._process = subprocess.Popen(
            [
                executable,
                "--host", "127.0.0.1",
                "--port", str(self.port),
                "--storage-path", str(self.storage_path),
                "--log-level", "WARNING",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log_file.close()
        self._wait_until_ready()
        log.info(
            "Started the embedded database (SecantusDB) on 127.0.0.1:%s with data in %s",
            self.port,
            self.storage_path,
        )
        return self.uri

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise EmbeddedServerError(
                    f"The embedded database exited with code {self._process.returncode}; "
                    f"see {self.storage_path.parent / 'secantusd.log'}."
                )
            client: MongoClient = MongoClient(self.uri, serverSelectionTimeoutMS=250)
            try:
                client.admin.command("ping")
                return
            except PyMongoError:
                time.sleep(0.1)
            finally:
                client.close()
        self.stop()
        raise EmbeddedServerError(
            f"The embedded database did not answer within {self.start_timeout_s:.0f} s."
        )

    def stop(self) -> None:
        """Stop the server, politely first; its data stays on disk."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.info("Stopped the embedded database.")
