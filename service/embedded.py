"""Runs SecantusDB as a child process: the database of the embedded default setup.

Every process of a deployment (serve, workers, admin and import commands) shares the one server
of a data directory: the first to need it starts it and records its address beside the data
(`embedded.json`); the others find that record, check the server answers, and connect to it.
Start-or-join and stop happen under an exclusive lock on the directory, so two processes never
both start a server on the same files, and none joins a server that is stopping.

The server always requires a login (`--auth`): the first start provisions one into the data
directory (`service.embedded_credentials`) and every process reads it from there.

The process that runs the server also keeps it running (`service.embedded_supervisor`): when it
exits it is started again on the same port, so the processes that joined it keep their address.
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
from typing import Any

from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import OperationFailure, PyMongoError

from service.embedded_credentials import (
    AUTH_DATABASE,
    CREDENTIALS_NAME,
    ROLES,
    Credentials,
    CredentialsError,
    generate_credentials,
    read_credentials,
    write_credentials,
)
from service.embedded_supervisor import ExitStatus, RestartImpossible, Supervisor

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
# SecantusDB's own default is 1G, more than a service of this size needs.
DEFAULT_CACHE_SIZE = "256M"
AUTHENTICATION_FAILED = 18
USER_EXISTS = 51003


class EmbeddedServerError(RuntimeError):
    """The embedded database could not be started."""


class LoginRefused(EmbeddedServerError):
    """The embedded database refused the login kept in its data directory."""


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


# How every client talks to the embedded server, carried by its URI: no retryable writes.
# SecantusDB (0.7.0b3) keeps a reply for each one for 30 minutes, up to 10,000, and scans them
# all (sorts them, once full) on every write: an update by `_id` went from 2 ms to 20-25 ms
# after 10,000 writes. The service's writes are safe to send again without it (conditional
# transitions, appends whose filter refuses a record already in the bucket), and that server
# forgets the replies when it restarts anyway. The server closes a connection idle for 300 s:
# the service's own clients retire theirs after 240 s (`database.client_options`). Not here,
# for every client: retiring them every minute made the test suite's new connections to its
# busy shared server fail their handshake with `_OperationCancelled`.
CLIENT_OPTIONS = "retryWrites=false"


def _loopback_uri(port: int, credentials: Credentials | None = None) -> str:
    # Only ever loopback, whatever a record says: the server is started on nothing else.
    if credentials is None:
        return f"mongodb://{LOOPBACK}:{port}/?directConnection=true&{CLIENT_OPTIONS}"
    return f"{credentials.uri(LOOPBACK, port)}&{CLIENT_OPTIONS}"


def server_arguments(
    executable: str,
    *,
    port: int,
    storage_path: Path,
    cache_size: str,
    sync_on_commit: bool,
    auth: bool = True,
) -> list[str]:
    """The command line of a SecantusDB server on 127.0.0.1:`port` for `storage_path`."""
    arguments = [
        executable,
        "--host", LOOPBACK,
        "--port", str(port),
        "--storage-path", str(storage_path),
        "--log-level", "WARNING",
        "--cache-size", cache_size,
    ]
    if sync_on_commit:
        arguments.append("--sync-on-commit")
    if auth:
        arguments.append("--auth")
    return arguments


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


def _hello(uri: str, timeout_ms: int) -> dict[str, Any] | None:
    """The server's `hello` once it answers (after logging in, if `uri` carries a login), or
    None while it does not; a refused login is an error, not a server still starting."""
    client: MongoClient = MongoClient(
        uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms
    )
    try:
        return client.admin.command("hello")
    except OperationFailure as error:
        if error.code == AUTHENTICATION_FAILED:
            raise LoginRefused("The embedded database refused its login.") from None
        return None
    except PyMongoError:
        return None
    finally:
        client.close()


class EmbeddedServer:
    """The SecantusDB server of the files under `storage_path`, on a 127.0.0.1 port.

    `start` joins the server another process started for the same files when it answers, and
    starts one otherwise; `stop` stops it only if this process runs it.
    """

    def __init__(
        self,
        storage_path: Path,
        *,
        start_timeout_s: float = 60.0,
        cache_size: str = DEFAULT_CACHE_SIZE,
        sync_on_commit: bool = False,
        supervise: bool = True,
    ) -> None:
        self.storage_path = storage_path
        self.supervise = supervise
        self.start_timeout_s = start_timeout_s
        self.cache_size = cache_size
        self.sync_on_commit = sync_on_commit
        self.port: int | None = None
        # The login of the server; None only when joining a server started before logins were.
        self._credentials: Credentials | None = None
        self._process: subprocess.Popen[bytes] | None = None
        # The server this process runs: started here, or taken over from a process that died.
        self._owned_pid: int | None = None
        self._supervisor: Supervisor | None = None

    @property
    def uri(self) -> str:
        if self.port is None:
            raise EmbeddedServerError("The embedded server has not been started.")
        return _loopback_uri(self.port, self._credentials)

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def lost(self) -> str | None:
        """Why the server this process runs was given up (it exited and could not be
        restarted), or None while it runs."""
        return None if self._supervisor is None else self._supervisor.lost

    @property
    def pid(self) -> int | None:
        """The id of the server process this process runs, or None (joined, or stopped)."""
        return self._owned_pid

    @property
    def supervisor(self) -> Supervisor | None:
        """What restarts the server this process runs (None when joined or unsupervised)."""
        return self._supervisor

    @property
    def owned(self) -> bool:
        """Whether this process runs the server (and stops it), rather than joined it."""
        return self._owned_pid is not None

    @property
    def record_path(self) -> Path:
        return self.storage_path.parent / RECORD_NAME

    @property
    def credentials_path(self) -> Path:
        return self.storage_path.parent / CREDENTIALS_NAME

    @property
    def _lock_path(self) -> Path:
        return self.storage_path.parent / LOCK_NAME

    def arguments(self, executable: str, port: int, *, auth: bool = True) -> list[str]:
        """The command line this server is started with."""
        return server_arguments(
            executable,
            port=port,
            storage_path=self.storage_path,
            cache_size=self.cache_size,
            sync_on_commit=self.sync_on_commit,
            auth=auth,
        )

    def start(self) -> str:
        """Join the running server of these files, or start one; its URI once it answers."""
        self.storage_path.mkdir(parents=True, exist_ok=True)
        # Its files hold every session in the clear: a login is no use if others can read them.
        self.storage_path.chmod(0o700)
        deadline = time.monotonic() + self.start_timeout_s
        while not self._join_or_start(deadline):
            time.sleep(POLL_S)
        if self.owned and self.supervise:
            self._supervisor = Supervisor(self)
            self._supervisor.start()
        return self.uri

    def _join_or_start(self, deadline: float) -> bool:
        """One try at `start` under the lock; False while another process restarts the server."""
        with self._locked():
            self._credentials = self._read_credentials()
            if self._restarting_elsewhere() and time.monotonic() < deadline:
                return False
            record = self._running_record()
            if record is None:
                self._start_process()
                return True
            self.port = record.port
            if self._credentials is None:
                log.warning(
                    "The embedded database on %s:%s was started without a login (by an older "
                    "sparring); it gets one when it is next started.",
                    record.host, record.port,
                )
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
        return True

    def _restarting_elsewhere(self) -> bool:
        """Whether the recorded server has exited while the process that runs it lives: that
        process restarts it on the same port, so it is waited for, never replaced."""
        record = self._read_record()
        return (
            record is not None
            and record.owner_pid != os.getpid()
            and _process_exists(record.owner_pid)
            and not _is_server_process(record.pid)
        )

    def stop(self) -> None:
        """Stop the server if this process runs it, politely first; its data stays on disk."""
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            # First, so that stopping the server is not taken for a crash and undone.
            supervisor.stop()
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

    def exit_status(self) -> ExitStatus:
        """Whether the server this process runs has exited (for its supervisor)."""
        if self._process is not None:
            code = self._process.poll()
            return ExitStatus(exited=code is not None, code=code)
        if self._owned_pid is not None:
            # Taken over from a process that died: not a child, so no exit code to read.
            return ExitStatus(exited=not _is_server_process(self._owned_pid))
        return ExitStatus(exited=False)

    def restart(self) -> None:
        """Start the server again on its port after it exited, with the same files and login."""
        if self.port is None:
            raise EmbeddedServerError("The embedded server has not been started.")
        with self._locked():
            if not self.storage_path.is_dir() or not os.access(
                self.storage_path, os.R_OK | os.W_OK | os.X_OK
            ):
                raise RestartImpossible(
                    f"its data directory {self.storage_path} is gone or not a readable directory"
                )
            process = self._spawn(server_executable(), self.port, auth=True)
            try:
                self._wait_until_ready(process, self.uri)
            except BaseException:
                _stop_child(process)
                raise
            self._process = process
            self._owned_pid = process.pid
            self._write_record(process.pid, self.port)

    def _read_credentials(self) -> Credentials | None:
        try:
            return read_credentials(self.credentials_path)
        except CredentialsError as error:
            raise EmbeddedServerError(str(error)) from None

    def _spawn(self, executable: str, port: int, *, auth: bool) -> subprocess.Popen[bytes]:
        log_path = self.storage_path.parent / "secantusd.log"
        descriptor = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(descriptor, "ab") as log_file:
            return subprocess.Popen(
                self.arguments(executable, port, auth=auth),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def _start_process(self) -> None:
        executable = server_executable()
        if self._credentials is None:
            # A new data directory, or one from before logins: make its login first.
            self._credentials = self._provision(executable)
        port = self.port = free_loopback_port()
        process = self._process = self._spawn(executable, port, auth=True)
        try:
            self._wait_until_ready(process, self.uri)
        except LoginRefused:
            self._process = None
            _stop_child(process)
            raise LoginRefused(
                f"The embedded database refused the login kept in {self.credentials_path}. If "
                f"its files under {self.storage_path} were replaced, remove that file to "
                "provision a new login."
            ) from None
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

    def _provision(self, executable: str) -> Credentials:
        """Create the server's login in its files and keep it in the credentials file.

        SecantusDB keeps users in its files and creates the first one only without `--auth`:
        so a server runs briefly without a login, on a fresh loopback port, until the user
        exists. The file is written last, so a start interrupted before it provisions again
        (updating the user left behind).
        """
        credentials = generate_credentials()
        port = free_loopback_port()
        process = self._spawn(executable, port, auth=False)
        try:
            self._wait_until_ready(process, _loopback_uri(port))
            client: MongoClient[dict[str, Any]]
            with MongoClient(_loopback_uri(port), serverSelectionTimeoutMS=5000) as client:
                admin: Database[dict[str, Any]] = client[AUTH_DATABASE]
                try:
                    admin.command(
                        "createUser", credentials.username, pwd=credentials.password, roles=ROLES
                    )
                except OperationFailure as error:
                    if error.code != USER_EXISTS:
                        raise EmbeddedServerError(
                            f"Could not create the embedded database's login (code {error.code})."
                        ) from None
                    admin.command(
                        "updateUser", credentials.username, pwd=credentials.password, roles=ROLES
                    )
        finally:
            _stop_child(process)
        write_credentials(self.credentials_path, credentials)
        log.info(
            "Provisioned the embedded database's login, kept in %s (readable by its owner only).",
            self.credentials_path,
        )
        return credentials

    def _wait_until_ready(self, process: subprocess.Popen[bytes], uri: str) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise EmbeddedServerError(
                    f"The embedded database exited with code {process.returncode}; "
                    f"see {self.storage_path.parent / 'secantusd.log'}."
                )
            if _hello(uri, 250) is not None:
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
        if _is_server_process(record.pid):
            try:
                hello = _hello(_loopback_uri(record.port, self._credentials), JOIN_PING_TIMEOUT_MS)
            except LoginRefused:
                raise LoginRefused(
                    f"The embedded database on {LOOPBACK}:{record.port} refused the login kept "
                    f"in {self.credentials_path}."
                ) from None
            if hello is not None:
                if self._credentials is None and hello.get("accessControlEnabled"):
                    raise EmbeddedServerError(
                        f"The embedded database on {LOOPBACK}:{record.port} requires a login, "
                        f"but {self.credentials_path} is missing."
                    )
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
            # Bounded: a holder provisions a login (a start and a stop), then starts a server,
            # or stops one.
            deadline = time.monotonic() + 2 * (self.start_timeout_s + STOP_TIMEOUT_S)
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
