"""A MongoDB given by URI may restart under the service: it reconnects without a restart, and an
unreachable database fails a call after SPARRING_DB_WAIT_S, not PyMongo's 30 s.

The "given" server is a SecantusDB this test runs itself on a fixed loopback port (stopped and
started again on the same port and files, as an operator restarts a mongod); the service is a
real `sparring serve` process pointed at it with SPARRING_MONGODB_URI.
"""

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from pymongo.errors import ServerSelectionTimeoutError
from secantus.server import DEFAULT_CLIENT_IDLE_TIMEOUT_S as SERVER_IDLE_TIMEOUT_S

from service.database import client_options, open_database
from service.embedded import (
    DEFAULT_CACHE_SIZE,
    EmbeddedServer,
    free_loopback_port,
    server_arguments,
    server_executable,
)
from service.embedded_credentials import CREDENTIALS_NAME, read_credentials
from service.settings import Settings
from tests.support.processes import ROOT, sparring_env, stop_processes

STARTUP_TIMEOUT_S = 60.0
RECOVERY_BOUND_S = 15.0


class GivenServer:
    """A SecantusDB with a login on a fixed 127.0.0.1 port: stop and start it as you like."""

    def __init__(self, root: Path) -> None:
        self.storage = root / "db"
        # Provisions the login into the files (and the credentials file beside them).
        provisioner = EmbeddedServer(self.storage, supervise=False)
        provisioner.start()
        provisioner.stop()
        credentials = read_credentials(root / CREDENTIALS_NAME)
        assert credentials is not None
        self.port = free_loopback_port()
        self.uri = credentials.uri("127.0.0.1", self.port)
        self.log = root / "given.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                server_arguments(
                    server_executable(), port=self.port, storage_path=self.storage,
                    cache_size=DEFAULT_CACHE_SIZE, sync_on_commit=False,
                ),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )

    def stop(self) -> None:
        if self.process is not None:
            stop_processes([self.process])
            self.process = None


@contextmanager
def serving(uri: str, log_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_loopback_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve"],
            cwd=ROOT,
            env=sparring_env({
                "mongodb_uri": uri, "host": "127.0.0.1", "port": str(port), "db_wait_s": "2",
                "data_dir": str(log_path.parent / "unused"),
            }),
            stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _answers(f"{url}/ready"):
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        yield process, url
    finally:
        stop_processes([process])


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


class TestAGivenServerRestarts:
    def test_the_service_reconnects_without_a_restart(self, tmp_path: Path):
        given = GivenServer(tmp_path)
        given.start()
        try:
            with serving(given.uri, tmp_path / "serve.log") as (process, url), httpx.Client(
                base_url=url, timeout=30
            ) as client:
                assert client.post(
                    "/api/v1/llm-endpoints", json={"name": "echo-a", "connector_type": "echo"}
                ).status_code == 200
                created = client.post(
                    "/api/v1/sessions",
                    json={"name": "Kept", "description": "", "endpoints": ["echo-a"]},
                )
                assert created.status_code == 200, created.text
                answered = client.post("/api/v1/sessions/kept/prompt", json={"user_prompt": "one"})
                assert answered.status_code == 200, answered.text

                given.stop()
                started = time.monotonic()
                down = client.get("/api/v1/sessions/kept")
                waited = time.monotonic() - started
                # Unavailable, said so within SPARRING_DB_WAIT_S (2 s) and some slack, not 30 s.
                assert down.status_code == 503, down.text
                assert down.json() == {"detail": "Database unavailable; retry shortly."}
                assert waited < 10
                assert client.get("/ready").status_code == 503

                given.start()
                restarted = time.monotonic()
                while (back := client.get("/api/v1/sessions/kept")).status_code == 503:
                    assert time.monotonic() - restarted < RECOVERY_BOUND_S
                    time.sleep(0.2)
                assert back.status_code == 200, back.text
                again = client.post("/api/v1/sessions/kept/prompt", json={"user_prompt": "two"})
                assert again.status_code == 200, again.text
                chats = client.get("/api/v1/sessions/kept/chats").json()["echo-a"]
                assert [record["prompt"] for record in chats] == ["one", "two"]
                # The same process throughout.
                assert process.poll() is None
        finally:
            given.stop()


class TestDatabaseWait:
    def test_the_default_is_five_seconds(self):
        options = client_options(Settings())
        assert options["serverSelectionTimeoutMS"] == 5000
        assert options["connectTimeoutMS"] == 5000
        assert options["tz_aware"] is True

    def test_pooled_connections_to_the_embedded_server_retire_before_it_closes_them(self):
        idle_ms = client_options(Settings())["maxIdleTimeMS"]
        assert 0 < idle_ms < SERVER_IDLE_TIMEOUT_S * 1000
        given = Settings(mongodb_uri=SecretStr("mongodb://127.0.0.1:27017/?maxIdleTimeMS=5"))
        # A MongoDB given by URI keeps the URI's own options.
        assert "maxIdleTimeMS" not in client_options(given)

    def test_it_is_read_from_the_environment(self, monkeypatch):
        monkeypatch.setenv("SPARRING_DB_WAIT_S", "0.5")
        assert client_options(Settings())["serverSelectionTimeoutMS"] == 500

    @pytest.mark.parametrize("value", ["0", "-1", "soon", "301"])
    def test_bad_values_are_refused_naming_the_setting(self, monkeypatch, value):
        monkeypatch.setenv("SPARRING_DB_WAIT_S", value)
        with pytest.raises(ValidationError, match="db_wait_s"):
            Settings()

    async def test_an_unreachable_database_fails_after_the_wait(self):
        # Nothing listens on port 9 (discard) here: every selection fails until the wait ends.
        settings = Settings(
            mongodb_uri=SecretStr("mongodb://127.0.0.1:9/?directConnection=true"), db_wait_s=0.5
        )
        started = time.monotonic()
        with pytest.raises(ServerSelectionTimeoutError):
            await open_database(settings)
        # PyMongo's own default would wait 30 s.
        assert time.monotonic() - started < 10
