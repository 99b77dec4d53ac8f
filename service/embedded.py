"""Runs SecantusDB as a child process: the database of the embedded default setup.

Every process of a deployment (serve, workers, admin and import commands) shares the one server
of a data directory: the first to need it starts it and records its address beside the data
(`embedded.json`); the others find that record, check the server answers, and connect to it.
Start-or-join and stop happen under an exclusive lock on the directory, so two processes never
both start a server on the same files, and none joins a server that is stopping.
"""

import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

log = logging.getLogger(__name__)

SERVER_COMMAND = "secantusd-py"
MISSING_EXTRA = (
    "The embedded database needs the 'embedded' extra: pip install 'sparring[embedded]' "
    "(or set SPARRING_MONGODB_URI to a MongoDB server)."
)
RECORD_NAME = "embedded.json"
LOCK_NAME = "embedded.lock"
LOOPBACK = "127.0.0.1"
# How long a recorded server has to answer before the record is taken for stale.
JOIN_PING_TIMEOUT_MS = 2000
STOP_TIMEOUT_S = 20.0
POLL_S = 0.1


class EmbeddedServerError(RuntimeError):
    """The embedded database could not be started."""


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def server_executable() -> str:
    # Prefer the command installed next to this interpreter, so a virtualenv works unactivated.
    beside_python = Path(sys.executable).parent / SERVER_COMMAND
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(SERVER_COMMAND)
    if found is None:
        raise EmbeddedServerError(MISSING_EXTRA)
    return found


@dataclass(frozen=True)
class ServerRecord:
    """Where a running embedded server answers, its process, and the process that runs it."""

    host: str
    port: int
    pid: int
    owner_pid: int

    @property
    def uri(self) -> str:
        # Only ever loopback, whatever the file says: the server is started on nothing else.
        return _loopback_uri(self.port)


def _loopback_uri(port: int) -> str:
    return f"mongodb://{LOOPBACK}:{port}/?directConnection=true"


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, run by another user
    return True


def _is_server_process(pid: int) -> bool:
    """Whether `pid` is a SecantusDB server (not a process that got the id of a dead one)."""
    if not _process_exists(pid):
        return False
    try:
        # Empty for a zombie; absent without /proc, where the id is all there is to go by.
        return b"secantusd" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return not Path("/proc").is_dir()


def _answers(uri: str, timeout_ms: int) -> bool:
    client: MongoClient = MongoClient(
        uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms
    )
    try:
        client.admin.command("ping")
    except PyMongoError:
        return False
    finally:
        client.close()
    return True


class EmbeddedServer:
    """The SecantusDB server of the files under `storage_path`, on a 127.0.0.1 port.

    `start` joins the server another process started for the same files when it answers, and
    starts one otherwise; `stop` stops it only if this process runs it.
    """

    def __init__(self, storage_path: Path, *, start_timeout_s: float = 60.0) -> None:
        self.storage_path = storage_path
        self.start_timeout_s = start_timeout_s
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        # The server this process runs: started here, or taken over from a process that died.
        self._owned_pid: int | None = None

    @property
    def uri(self) -> str:
        if self.port is None:
            raise EmbeddedServerError("The embedded server has not been started.")
        return _loopback_uri(self.port)

    @property
    def owned(self) -> bool:
        """Whether this process runs the server (and stops it), rather than joined it."""
        return self._owned_pid is not None

    @property
    def record_path(self) -> Path:
        return self.storage_path.parent / RECORD_NAME

    @property
    def _lock_path(self) -> Path:
        return self.storage_path.parent / LOCK_NAME

    def start(self) -> str:
        """Join the running server of these files, or start one; its URI once it answers."""
        self.storage_path.mkdir(parents=True, exist_ok=True)
        with self._locked():
            record = self._running_record()
            if record is None:
                self._start_process()
                return self.uri
            self.port = record.port
            if _process_exists(record.owner_pid):
                log.info(
                    "Using the embedded database started by another sparring process on "
                    "%s:%s (process %s), data in %s",
                    record.host, record.port, record.owner_pid, self.storage_path,
                )
            else:
                # Its process died without stopping it: run it from here, and stop it at the end.
                self._owned_pid = record.pid
                self._write_record(record.pid, record.port)
                log.info(
                    "Took over the embedded database on %s:%s with data in %s: the sparring "
                    "process that started it (%s) is gone.",
                    record.host, record.port, self.storage_path, record.owner_pid,
                )
        return self.uri

    def stop(self) -> None:
        """Stop the server if this process runs it, politely first; its data stays on disk."""
        pid, self._owned_pid = self._owned_pid, None
        process, self._process = self._process, None
        if pid is None:
            return
        with self._locked():
            # Under the lock, so no process joins it while it stops or starts another meanwhile.
            if process is not None:
                _stop_child(process)
            else:
                _stop_adopted(pid)
            record = self._read_record()
            if record is not None and record.pid == pid:
                self.record_path.unlink(missing_ok=True)
        log.info("Stopped the embedded database.")

    def _start_process(self) -> None:
        executable = server_executable()
        port = self.port = free_loopback_port()
        log_file = (self.storage_path.parent / "secantusd.log").open("ab")
        process = self._process = subprocess.Popen(
            [
                executable,
                "--host", LOOPBACK,
                "--port", str(port),
                "--storage-path", str(self.storage_path),
                "--log-level", "WARNING",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log_file.close()
        try:
            self._wait_until_ready()
        except BaseException:
            self._process = None
            _stop_child(process)
            raise
        self._owned_pid = process.pid
        self._write_record(process.pid, port)
        log.info(
            "Started the embedded database (SecantusDB) on %s:%s with data in %s",
            LOOPBACK, port, self.storage_path,
        )

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise EmbeddedServerError(
                    f"The embedded database exited with code {self._process.returncode}; "
                    f"see {self.storage_path.parent / 'secantusd.log'}."
                )
            if _answers(self.uri, 250):
                return
            time.sleep(POLL_S)
        raise EmbeddedServerError(
            f"The embedded database did not answer within {self.start_timeout_s:.0f} s."
        )

    def _running_record(self) -> ServerRecord | None:
        """The recorded server if it still runs and answers; a stale record is dropped."""
        record = self._read_record()
        if record is None:
            return None
        if _is_server_process(record.pid) and _answers(record.uri, JOIN_PING_TIMEOUT_MS):
            return record
        log.info(
            "Ignoring the record of an embedded database on %s:%s that no longer answers.",
            record.host, record.port,
        )
        self.record_path.unlink(missing_ok=True)
        return None

    def _read_record(self) -> ServerRecord | None:
        try:
            fields = json.loads(self.record_path.read_text())
            return ServerRecord(
                host=str(fields["host"]),
                port=int(fields["port"]),
                pid=int(fields["pid"]),
                owner_pid=int(fields["owner_pid"]),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("Ignoring an unreadable %s.", self.record_path)
            return None

    def _write_record(self, pid: int, port: int) -> None:
        """Record where the server answers, atomically, readable by this user only."""
        record = ServerRecord(LOOPBACK, port, pid, os.getpid())
        partial = self.record_path.with_name(f".{RECORD_NAME}.{os.getpid()}")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(asdict(record), file)
        os.replace(partial, self.record_path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the directory's lock (the kernel drops it if this process dies)."""
        descriptor = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            # Bounded: a holder starts (start timeout) or stops (stop timeout) a server.
            deadline = time.monotonic() + self.start_timeout_s + STOP_TIMEOUT_S
            while True:
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise EmbeddedServerError(
                            f"Another process kept {self._lock_path} locked for too long."
                        ) from None
                    time.sleep(POLL_S)
            yield
        finally:
            os.close(descriptor)


def _stop_child(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _stop_adopted(pid: int) -> None:
    """Stop a server this process took over: not its child, so it is polled, not waited for."""
    if not _is_server_process(pid):
        return
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    # A process that ended is a server no more, even while a zombie not yet reaped.
    while _is_server_process(pid):
        if time.monotonic() > deadline:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            break
        time.sleep(POLL_S)
