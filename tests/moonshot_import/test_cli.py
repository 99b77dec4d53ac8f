"""`sparring import-moonshot` run as the command it is, against a real server."""

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from tests.factories import TEST_SECRET_KEY
from tests.moonshot_import.moonshot_folder import MoonshotFolder, runner_spec
from tests.support.processes import run_sparring

SPEC = runner_spec("cli-runner", {"echo-a": 250, "echo-b": 120})


@pytest.fixture
def cli_database(server_uri: str, tmp_path: Path) -> Iterator[tuple[dict[str, str], Any]]:
    """Settings for the command, and a client of the database it writes to."""
    name = f"sparring_import_{uuid.uuid4().hex[:8]}"
    client: MongoClient = MongoClient(server_uri)
    settings = {
        "mongodb_uri": server_uri,
        "database": name,
        "secret_key": TEST_SECRET_KEY,
        "data_dir": str(tmp_path / "sparring-data"),
        "log_level": "WARNING",
        "bucket_size": "100",
    }
    yield settings, client[name]
    client.drop_database(name)
    client.close()


def build(root: Path) -> MoonshotFolder:
    folder = MoonshotFolder(root)
    folder.endpoint("echo-a")
    folder.endpoint("echo-b")
    folder.runner(SPEC)
    return folder


def test_imports_then_changes_nothing_then_reports_a_bad_runner(cli_database, tmp_path):
    settings, database = cli_database
    folder = build(tmp_path / "moonshot")

    first = run_sparring("import-moonshot", str(folder.root), settings=settings)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(
        "Imported 3 item(s) into workspace default (370 chat record(s)); skipped 0; failed 0."
    )
    assert "imported session cli-runner (370 records)" in first.stdout
    # The progress bar, on stderr: the session's records counted to the end.
    assert "session cli-runner" in first.stderr and "370/370" in first.stderr
    assert database.sessions.count_documents({"session_id": "cli-runner"}) == 1
    buckets = database.chat_buckets.find({"session_id": "cli-runner"}, sort=[("_id", 1)])
    by_endpoint: dict[str, list[int]] = {}
    for bucket in buckets:
        by_endpoint.setdefault(bucket["endpoint"], []).extend(
            record["chat_record_id"] for record in bucket["records"]
        )
    assert {endpoint: sorted(ids) for endpoint, ids in by_endpoint.items()} == {
        "echo-a": list(range(1, 251)), "echo-b": list(range(1, 121)),
    }
    snapshot = {
        name: list(database[name].find({}, sort=[("_id", 1)]))
        for name in ("sessions", "runners", "chat_buckets", "chat_counters", "endpoints")
    }

    second = run_sparring("import-moonshot", str(folder.root), settings=settings)
    assert second.returncode == 0, second.stderr
    assert "Nothing changed: all that could be imported was already in workspace default." in (
        second.stdout
    )
    assert snapshot == {
        name: list(database[name].find({}, sort=[("_id", 1)])) for name in snapshot
    }

    folder.corrupt_runner(runner_spec("broken-runner", {"echo-a": 1}))
    third = run_sparring("import-moonshot", str(folder.root), settings=settings)
    assert third.returncode == 1, third.stderr
    assert "failed   session broken-runner: broken-runner.db is not a readable Moonshot " in (
        third.stdout
    )
    assert database.runners.count_documents({"runner_id": "broken-runner"}) == 0


def test_a_missing_folder_exits_non_zero_before_touching_the_database(cli_database, tmp_path):
    settings, database = cli_database
    completed = run_sparring("import-moonshot", str(tmp_path / "nowhere"), settings=settings)
    assert completed.returncode == 2
    missing = tmp_path / "nowhere"
    assert completed.stderr == f"sparring import-moonshot: {missing} is not a folder.\n"
    assert completed.stdout == ""
    assert database.client.list_database_names().count(database.name) == 0


def test_an_unknown_workspace_exits_non_zero_and_imports_nothing(cli_database, tmp_path):
    settings, database = cli_database
    folder = build(tmp_path / "moonshot")
    completed = run_sparring(
        "import-moonshot", str(folder.root), "--workspace", "nowhere", settings=settings
    )
    assert completed.returncode == 2
    assert "Workspace nowhere does not exist" in completed.stderr
    assert database.endpoints.count_documents({}) == 0
    assert database.sessions.count_documents({}) == 0
