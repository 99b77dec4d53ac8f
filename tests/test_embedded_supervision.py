"""`sparring serve` keeps its embedded database running: restarts it when it dies, exits when
it cannot.

Real processes on loopback: `sparring serve` with its SecantusDB child, killed with SIGKILL
while clients work; the joiners of that database (this test process, an admin command).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient
from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

from service import embedded_supervisor
from service.database import embedded_server
from service.embedded import RECORD_NAME, EmbeddedServer, free_loopback_port
from service.settings import Settings
from tests.support.processes import ROOT, run_sparring, sparring_env, stop_processes

STARTUP_TIMEOUT_S = 60.0
RECOVERY_BOUND_S = 15.0
PROMPTS = 100
KILL_AFTER = 30
# Short, so that requests during the outage answer 503 quickly (the default is 5 s).
DB_WAIT_S = "2"
RESTARTING = "The embedded database exited with code -9; restarting it on 127.0.0.1:"
GIVEN_UP = "could not be restarted"


@dataclass
class Served:
    """A running `sparring serve` and where to find it."""

    process: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def record(self) -> dict:
        return json.loads((self.data_dir / RECORD_NAME).read_text())


@contextmanager
def served(tmp_path: Path, **extra: str) -> Iterator[Served]:
    """`sparring serve` on the embedded default, its stderr in a file; stopped afterwards."""
    port = free_loopback_port()
    data_dir = tmp_path / "data"
    stderr_path = tmp_path / "serve.stderr"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve"],
            cwd=ROOT,
            env=sparring_env({
                "data_dir": str(data_dir), "host": "127.0.0.1", "port": str(port),
                "db_wait_s": DB_WAIT_S, **extra,
            }),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
        )
    service = Served(process, f"http://127.0.0.1:{port}", data_dir, stderr_path)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _ready(service.url):
            assert process.poll() is None, service.stderr()
            assert time.monotonic() < deadline, service.stderr()
            time.sleep(0.1)
        yield service
    finally:
        stop_processes([process])


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def kill_database(service: Served) -> tuple[int, float]:
    """SIGKILL the SecantusDB child of the service; its pid and when it was killed."""
    pid = service.record()["pid"]
    # Its child, not some other process that reused a recorded id.
    parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert parent == service.process.pid
    os.kill(pid, signal.SIGKILL)
    return pid, time.monotonic()


def create_session(client: httpx.Client, name: str) -> str:
    endpoint = client.post(
        "/api/v1/llm-endpoints", json={"name": "echo-a", "connector_type": "echo"}
    )
    assert endpoint.status_code == 200, endpoint.text
    session = client.post(
        "/api/v1/sessions", json={"name": name, "description": "", "endpoints": ["echo-a"]}
    )
    assert session.status_code == 200, session.text
    return session.json()["session"]["session_id"]


def all_chats(client: httpx.Client, runner_id: str) -> list[dict]:
    response = client.get(f"/api/v1/sessions/{runner_id}/chats")
    assert response.status_code == 200, response.text
    return response.json()["echo-a"]


def until_records(client: httpx.Client, runner_id: str, count: int) -> list[dict]:
    """The session's records once `count` have landed (or what there is after 60 s)."""
    deadline = time.monotonic() + 60
    while True:
        response = client.get(f"/api/v1/sessions/{runner_id}/chats")
        assert response.status_code in (200, 503), response.text
        if response.status_code == 200:
            records = response.json()["echo-a"]
            if len(records) >= count or time.monotonic() > deadline:
                return records
        time.sleep(0.2)


class TestTheEmbeddedDatabaseIsRestarted:
    def test_a_killed_database_costs_a_wait_never_a_record_or_a_500(self, tmp_path: Path):
        statuses: list[int] = []
        with served(tmp_path) as service, httpx.Client(base_url=service.url, timeout=30) as client:
            runner_id = create_session(client, "Outage")
            port = service.record()["port"]
            # A joiner of the server (as a worker or admin command is), connected before the kill.
            joiner = EmbeddedServer(service.data_dir / "db")
            joiner_uri = joiner.start()
            assert not joiner.owned
            recovered_after: float | None = None
            killed_at: float | None = None
            joined: MongoClient[dict[str, Any]]
            with MongoClient(joiner_uri, serverSelectionTimeoutMS=30_000) as joined:
                joined.sparring_joiner.marks.insert_one({"_id": "before"})
                for number in range(PROMPTS):
                    if number == KILL_AFTER:
                        old_pid, killed_at = kill_database(service)
                    # Each prompt is sent until it is taken, as a client honouring 503 would.
                    while True:
                        response = client.post(
                            f"/api/v1/sessions/{runner_id}/prompt?wait=false",
                            json={"user_prompt": f"prompt-{number:03d}"},
                        )
                        statuses.append(response.status_code)
                        assert response.status_code in (200, 202, 503), response.text
                        if response.status_code != 503:
                            break
                        assert response.json() == {
                            "detail": "Database unavailable; retry shortly."
                        }
                        assert "retry-after" in response.headers
                        time.sleep(0.2)
                    if killed_at is not None and recovered_after is None:
                        recovered_after = time.monotonic() - killed_at
                # The joiner's client reconnected by itself, with the address and login it had.
                joined.sparring_joiner.marks.insert_one({"_id": "after"})
                assert joined.sparring_joiner.marks.count_documents({}) == 2

            assert recovered_after is not None and recovered_after < RECOVERY_BOUND_S
            records = until_records(client, runner_id, PROMPTS)
            prompts = [record["prompt"] for record in records]
            assert sorted(prompts) == [f"prompt-{number:03d}" for number in range(PROMPTS)]
            ids = [record["chat_record_id"] for record in records]
            assert len(set(ids)) == len(ids) == PROMPTS
            # Everything stored before the kill is still there.
            assert client.get(f"/api/v1/sessions/{runner_id}").status_code == 200
            assert [item["id"] for item in client.get("/api/v1/llm-endpoints").json()] == [
                "echo-a"
            ]

            # Restarted once, on the same port, by the same service, logged once with the code.
            record = service.record()
            assert record["port"] == port and record["pid"] != old_pid
            assert record["owner_pid"] == service.process.pid
            log = service.stderr()
            assert log.count(RESTARTING) == 1, log
            assert f"WARNING service.embedded_supervisor: {RESTARTING}{port} " in log
            # A process joining after the restart finds the same server.
            joined_later = run_sparring(
                "admin", "create-user", "bob", settings={"data_dir": str(service.data_dir)}
            )
            assert joined_later.returncode == 0, joined_later.stderr
            assert f"on 127.0.0.1:{port} (process {service.process.pid})" in joined_later.stderr
            assert service.process.poll() is None

    def test_a_process_joining_during_the_outage_waits_for_the_restart(self, tmp_path: Path):
        with served(tmp_path) as service:
            port = service.record()["port"]
            kill_database(service)
            # Started at once: it finds the server dead and its owner alive, and waits for it
            # rather than starting a second server on the same files.
            joined = run_sparring(
                "admin", "create-user", "carol", settings={"data_dir": str(service.data_dir)}
            )
            assert joined.returncode == 0, joined.stderr
            assert f"on 127.0.0.1:{port} (process {service.process.pid})" in joined.stderr
            assert "Started the embedded database" not in joined.stderr
            assert service.record()["owner_pid"] == service.process.pid


class TestAcknowledgedWritesSurviveAKill:
    def test_every_acknowledged_write_is_there_after_the_restart(self, tmp_path: Path):
        # As the service configures it: SecantusDB without sync-on-commit loses the last ~30 ms
        # of acknowledged writes to a SIGKILL (measured: 25 to 41 updates of ~1,000).
        server = embedded_server(Settings(data_dir=tmp_path / "data"))
        uri = server.start()
        try:
            client: MongoClient[dict[str, Any]]
            with MongoClient(uri, serverSelectionTimeoutMS=30_000) as client:
                marks = client.sparring_durability.marks
                for number in range(600):
                    if number == 300:
                        assert server.pid is not None
                        os.kill(server.pid, signal.SIGKILL)
                    # Retried until taken, as PyMongo's retryable writes do once more.
                    while True:
                        try:
                            marks.update_one(
                                {"_id": number}, {"$set": {"n": number}}, upsert=True
                            )
                            break
                        except (AutoReconnect, ServerSelectionTimeoutError):
                            continue
                assert sorted(mark["_id"] for mark in marks.find()) == list(range(600))
            assert server.supervisor is not None and server.supervisor.restarts == 1
        finally:
            server.stop()


class TestAnUnrestartableDatabaseStopsTheService:
    def test_a_data_directory_replaced_by_a_file_exits_non_zero_with_one_line(
        self, tmp_path: Path
    ):
        with served(tmp_path) as service:
            storage = service.data_dir / "db"
            # Root reads any directory whatever its mode, so the directory is replaced instead.
            storage.rename(service.data_dir / "db.moved")
            storage.write_text("not a database")
            kill_database(service)
            code = service.process.wait(timeout=60)
        assert code == 1
        lines = service.stderr().splitlines()
        given_up = [line for line in lines if GIVEN_UP in line]
        assert len(given_up) == 1, lines
        assert f"{storage} is gone or not a readable directory" in given_up[0]
        assert " ERROR service.embedded_supervisor: " in given_up[0]
        # The one error line: no traceback, no request failing with a 500 meanwhile.
        assert [line for line in lines if " ERROR " in line or "Traceback" in line] == given_up

    def test_restarts_failing_in_a_row_give_the_database_up(self, tmp_path: Path):
        # The port taken by another program: every restart fails, then the supervisor stops.
        server = EmbeddedServer(tmp_path / "db")
        server.start()
        try:
            assert server.port is not None and server.lost is None
            assert server.pid is not None
            blocker = socket.socket()
            blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # Stopped and its port taken before the supervisor's first restart (0.25 s later).
            os.kill(server.pid, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while True:
                try:
                    blocker.bind(("127.0.0.1", server.port))
                    break
                except OSError:
                    assert time.monotonic() < deadline
                    time.sleep(0.01)
            blocker.listen()
            with blocker:
                # Failed starts back off 0.25, 0.5, 1, 2, 4 s: well within a minute.
                deadline = time.monotonic() + 60
                while server.lost is None:
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
            assert server.lost == (
                f"The embedded database on 127.0.0.1:{server.port} could not be restarted: "
                f"{embedded_supervisor.MAX_FAILED_RESTARTS} restarts in a row failed."
            )
        finally:
            server.stop()
        assert not (tmp_path / RECORD_NAME).exists()


class TestSupervisionLeavesAStoppedServerStopped:
    def test_stop_is_not_taken_for_a_crash(self, tmp_path: Path):
        server = EmbeddedServer(tmp_path / "db")
        server.start()
        pid, supervisor = server.pid, server.supervisor
        assert pid is not None and supervisor is not None and supervisor.watching
        server.stop()
        # The supervisor ended before the server did, so nothing can start it again.
        assert not supervisor.watching and supervisor.restarts == 0
        assert not Path(f"/proc/{pid}").exists()
        assert server.lost is None and not (tmp_path / RECORD_NAME).exists()

    def test_a_joiner_does_not_supervise(self, tmp_path: Path):
        owner = EmbeddedServer(tmp_path / "db")
        owner.start()
        try:
            joiner = EmbeddedServer(tmp_path / "db")
            assert joiner.start() == owner.uri
            assert joiner.supervisor is None and owner.supervisor is not None
            joiner.stop()
            assert owner.pid is not None and Path(f"/proc/{owner.pid}").exists()
            assert owner.supervisor.watching
        finally:
            owner.stop()

    def test_supervise_false_leaves_a_dead_server_dead(self, tmp_path: Path):
        server = EmbeddedServer(tmp_path / "db", supervise=False)
        server.start()
        try:
            assert server.supervisor is None and server.owned
        finally:
            server.stop()
