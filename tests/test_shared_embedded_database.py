"""Processes of one deployment share the embedded database that `sparring serve` started.

Real `sparring` processes on a temporary data dir: admin commands and workers run while the
server runs, join its database instead of opening the same files, and start their own when
none runs.
"""

import json
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from service.embedded import RECORD_NAME
from service.embedded_credentials import CREDENTIALS_NAME, read_credentials
from tests.support.processes import run_sparring, secantus_pids, sparring_servers
from tests.support.workers import sparring_workers

JOINED = "Using the embedded database started by another sparring process on 127.0.0.1:"
STARTED = "Started the embedded database (SecantusDB) on 127.0.0.1:"


def embedded_server_pids(data_dir: Path) -> list[int]:
    return secantus_pids(data_dir / "db")


def dead_pid() -> int:
    """The id of a process that has ended (and been reaped)."""
    probe = subprocess.Popen([sys.executable, "-c", "pass"])
    probe.wait()
    return probe.pid


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_admin_commands_use_the_database_of_the_running_server(data_dir, tmp_path):
    settings = {"data_dir": str(data_dir), "auth": "required"}
    with sparring_servers(1, settings, tmp_path) as (url,):
        record = json.loads((data_dir / RECORD_NAME).read_text())
        assert (data_dir / RECORD_NAME).stat().st_mode & 0o777 == 0o600
        assert embedded_server_pids(data_dir) == [record["pid"]]
        # The commands log in with the server's login, kept apart from its address.
        credentials = read_credentials(data_dir / CREDENTIALS_NAME)
        assert credentials is not None
        assert (data_dir / CREDENTIALS_NAME).stat().st_mode & 0o777 == 0o600
        assert credentials.password not in (data_dir / RECORD_NAME).read_text()

        steps = [
            ("create-user", "alice"),
            ("create-workspace", "team", "--owner", "alice"),
            ("create-key", "alice", "--label", "laptop"),
        ]
        results = [run_sparring("admin", *step, settings=settings) for step in steps]
        for step, result in zip(steps, results, strict=True):
            assert result.returncode == 0, (step, result.stderr)
            assert f"{JOINED}{record['port']}" in result.stderr, result.stderr
            assert STARTED not in result.stderr
            assert credentials.password not in result.stderr + result.stdout
        key = results[-1].stdout.strip()

        # The server sees what the commands wrote: the key authenticates in required mode.
        assert httpx.get(f"{url}/api/v1/sessions", timeout=10).status_code == 401
        answer = httpx.get(
            f"{url}/api/v1/sessions", headers={"Authorization": f"Bearer {key}"}, timeout=10
        )
        assert answer.status_code == 200, answer.text
        # The commands neither stopped the server's database nor started another.
        assert embedded_server_pids(data_dir) == [record["pid"]]
        assert httpx.get(f"{url}/ready", timeout=10).status_code == 200

    # The server stopped its database and took its record with it.
    assert not (data_dir / RECORD_NAME).exists()
    assert embedded_server_pids(data_dir) == []
    # Without a server, the command starts a database of its own and finds the data.
    alone = run_sparring("admin", "create-key", "alice", settings=settings)
    assert alone.returncode == 0, alone.stderr
    assert STARTED in alone.stderr and JOINED not in alone.stderr
    assert alone.stdout.startswith("spk_")
    assert not (data_dir / RECORD_NAME).exists()
    assert embedded_server_pids(data_dir) == []


def test_a_record_of_a_database_that_is_gone_is_ignored(data_dir):
    data_dir.mkdir(parents=True)
    stale = {"host": "127.0.0.1", "port": 9, "pid": dead_pid(), "owner_pid": dead_pid()}
    (data_dir / RECORD_NAME).write_text(json.dumps(stale))
    settings = {"data_dir": str(data_dir)}

    created = run_sparring("admin", "create-user", "alice", settings=settings)
    assert created.returncode == 0, created.stderr
    assert STARTED in created.stderr and JOINED not in created.stderr
    # It replaced the stale record with its own, and removed that when it stopped.
    assert not (data_dir / RECORD_NAME).exists()
    again = run_sparring("admin", "create-user", "alice", settings=settings)
    assert again.returncode == 1 and "User alice already exists." in again.stderr


def test_a_worker_runs_prompts_on_the_database_of_the_running_server(
    data_dir, tmp_path, redis_url
):
    settings = {
        "data_dir": str(data_dir),
        "redis_url": redis_url,
        "task_queue": f"prompts-{uuid.uuid4().hex[:8]}",
        "prompt_wait_s": "60",
    }
    worker_log = tmp_path / "worker-0.log"
    with sparring_servers(1, settings, tmp_path) as (url,):
        record = json.loads((data_dir / RECORD_NAME).read_text())
        with sparring_workers(1, settings, tmp_path) as (worker,):
            output = worker_log.read_text(errors="replace")
            assert f"{JOINED}{record['port']}" in output, output
            assert embedded_server_pids(data_dir) == [record["pid"]]

            with httpx.Client(base_url=url, timeout=90) as client:
                endpoint = client.post(
                    "/api/v1/llm-endpoints", json={"name": "Echo A", "connector_type": "echo"}
                )
                assert endpoint.status_code == 200, endpoint.text
                session = client.post(
                    "/api/v1/sessions", json={"name": "Shared", "endpoints": ["echo-a"]}
                )
                assert session.status_code == 200, session.text
                # `sparring serve` with Redis runs no prompt itself: the worker answers it.
                answer = client.post(
                    "/api/v1/sessions/shared/prompt", json={"user_prompt": "Hello"}
                )
            assert answer.status_code == 200, answer.text
            info = answer.json()
            assert info["current_status"] == "COMPLETED", info
            assert info["current_chats"]["echo-a"][0]["predicted_result"] == "Hello"
            assert worker.poll() is None
        assert embedded_server_pids(data_dir) == [record["pid"]]
        assert STARTED not in worker_log.read_text(errors="replace")
    assert not (data_dir / RECORD_NAME).exists()


def test_processes_of_another_data_dir_are_not_joined(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    with sparring_servers(1, {"data_dir": str(first)}, tmp_path):
        created = run_sparring("admin", "create-user", "alice", settings={"data_dir": str(second)})
        assert created.returncode == 0, created.stderr
        assert STARTED in created.stderr and JOINED not in created.stderr
        assert (first / RECORD_NAME).exists()
