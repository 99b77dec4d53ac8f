"""`sparring export` and `sparring import` run as the commands they are: against a live server
(SPARRING_URL and SPARRING_API_KEY) and against the local database; bad input exits 1 with one
line, never a traceback or the key."""

import asyncio
import csv
import io
import json
import os
import pty
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient

from service.client import AsyncClient
from service.client.records import RecordCounter
from service.database import Database
from service.http import create_app
from service.settings import Settings
from tests.client.conftest import ECHOES, Team, make_team
from tests.factories import TEST_SECRET_KEY
from tests.support.live_server import live_server
from tests.support.processes import ROOT, run_sparring, sparring_env


@pytest.fixture
async def team(required_settings: Settings, db: Database) -> AsyncIterator[Team]:
    """A `required`-mode server on loopback with keys (see tests/client/conftest.py)."""
    async with live_server(create_app(required_settings, database=db)) as url:
        yield await make_team(url)


async def sparring(*args: str, settings: dict[str, str]):
    # In a thread: the live server runs in this test's event loop.
    return await asyncio.to_thread(run_sparring, *args, settings=settings)


def remote(team: Team, key: str | None = None) -> dict[str, str]:
    return {"url": team.url, "api_key": key or team.alice, "log_level": "WARNING"}


@pytest.fixture
def local_database(server_uri: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Settings of a command using a database of its own on the test server (no SPARRING_URL)."""
    name = f"sparring_export_{uuid.uuid4().hex[:8]}"
    yield {
        "mongodb_uri": server_uri, "database": name, "secret_key": TEST_SECRET_KEY,
        "data_dir": str(tmp_path / "sparring-data"), "log_level": "WARNING",
    }
    client: MongoClient = MongoClient(server_uri)
    with client:
        client.drop_database(name)


async def seeded(team: Team, prompts: int = 2) -> None:
    async with AsyncClient(team.url, team.alice) as alice:
        await alice.create_session("Cli Export", ECHOES)
        for number in range(prompts):
            await alice.send_prompt("cli-export", f"Prompt {number}, with\na newline")


class TestAgainstAServer:
    async def test_export_each_format_to_a_file_and_jsonl_to_stdout(self, team: Team, tmp_path):
        await seeded(team)
        for export_format in ("jsonl", "csv", "json"):
            output = tmp_path / f"out.{export_format}"
            done = await sparring(
                "export", "cli-export", "--format", export_format, "--output", str(output),
                settings=remote(team),
            )
            assert done.returncode == 0, done.stderr
            assert f"Exported 4 records of cli-export to {output}" in done.stderr
        rows = list(csv.reader(io.StringIO((tmp_path / "out.csv").read_text())))
        assert len(rows) == 5
        assert len(json.loads((tmp_path / "out.json").read_text())["records"]) == 4

        printed = await sparring(
            "export", "cli-export", "--endpoint", "echo-b", settings=remote(team)
        )
        assert printed.returncode == 0, printed.stderr
        lines = [json.loads(line) for line in printed.stdout.splitlines()]
        assert len(lines) == 3 and {line["conn_id"] for line in lines[1:]} == {"echo-b"}
        # Not a terminal: no progress bar.
        assert "records/s" not in printed.stderr

    async def test_import_then_again_changes_nothing(self, team: Team, tmp_path):
        await seeded(team)
        output = tmp_path / "session.jsonl"
        exported = await sparring(
            "export", "cli-export", "--output", str(output), "--quiet", settings=remote(team)
        )
        assert exported.returncode == 0, exported.stderr
        first = await sparring("import", str(output), settings=remote(team))
        assert first.returncode == 0, first.stderr
        assert first.stdout.startswith("Created session ") and "4 records, 4 added." in first.stdout
        again = await sparring("import", str(output), settings=remote(team))
        assert again.stdout.startswith("Found session ") and "0 added." in again.stdout

    async def test_failures_are_one_line_without_the_key(self, team: Team, tmp_path):
        wrong = "spk_" + "z" * 40
        attempts = [
            (("export", "no-such-session"), remote(team)),
            (("export", "cli-export"), remote(team, wrong)),
            (("import", str(tmp_path / "missing.jsonl")), remote(team)),
            (("export", "anything"), {**remote(team), "url": "http://127.0.0.1:9"}),
        ]
        bad_file = tmp_path / "bad.jsonl"
        bad_file.write_text('{"not": "an export"}\n')
        attempts.append((("import", str(bad_file)), remote(team)))
        for args, settings in attempts:
            done = await sparring(*args, settings=settings)
            assert done.returncode == 1, (args, done.stderr)
            assert done.stderr.startswith(f"sparring {args[0]}: "), done.stderr
            assert len(done.stderr.strip().splitlines()) == 1, done.stderr
            assert "Traceback" not in done.stderr
            assert wrong not in done.stderr and team.alice not in done.stderr

    async def test_the_attacker_cannot_export_anothers_session(self, team: Team):
        await seeded(team, prompts=1)
        done = await sparring("export", "cli-export", settings=remote(team, team.dave))
        assert done.returncode == 1 and done.stdout == ""


class TestAgainstTheLocalDatabase:
    async def test_import_a_servers_export_then_export_it_again(
        self, team: Team, local_database: dict[str, str], tmp_path
    ):
        await seeded(team)
        moved = tmp_path / "moved.jsonl"
        assert (await sparring(
            "export", "cli-export", "--output", str(moved), settings=remote(team)
        )).returncode == 0
        imported = await sparring("import", str(moved), settings=local_database)
        assert imported.returncode == 0, imported.stderr
        assert "session cli-export (" in imported.stdout and "4 added" in imported.stdout

        back = tmp_path / "back.jsonl"
        exported = await sparring(
            "export", "cli-export", "--output", str(back), settings=local_database
        )
        assert exported.returncode == 0, exported.stderr
        original = [json.loads(line) for line in moved.read_text().splitlines()[1:]]
        again = [json.loads(line) for line in back.read_text().splitlines()[1:]]
        fields = ("conn_id", "chat_record_id", "prompt", "predicted_result")
        assert [tuple(record[f] for f in fields) for record in again] == [
            tuple(record[f] for f in fields) for record in original
        ]

        missing = await sparring("export", "not-here", settings=local_database)
        assert missing.returncode == 1 and "Traceback" not in missing.stderr
        elsewhere = await sparring(
            "export", "cli-export", "--workspace", "other", settings=local_database
        )
        assert elsewhere.returncode == 1


class TestRecordCounter:
    def test_csv_rows_are_counted_whatever_newlines_and_quotes_their_fields_hold(self):
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(["session_id", "prompt"])
        for number in range(25):
            writer.writerow(["s", f'line one\r\n"quoted", ünïcode\nline {number}'])
        data = text.getvalue().encode()
        counter = RecordCounter("csv")
        for start in range(0, len(data), 5):
            counter.feed(data[start : start + 5])
        counter.finish()
        assert counter.records == 25

    def test_jsonl_lines_after_the_header_are_records(self):
        counter = RecordCounter("jsonl")
        for chunk in (b'{"session": 1}\n{"a"', b": 1}\n", b'{"b": 2}\n'):
            counter.feed(chunk)
        assert counter.records == 2


def _read_all(fd: int, into: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return
        if not chunk:
            return
        into.append(chunk)


async def test_a_terminal_sees_the_progress_bar_with_records_and_rate(team: Team, tmp_path):
    await seeded(team)
    leader, follower = pty.openpty()
    seen: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(leader, seen), daemon=True)
    reader.start()
    try:
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "service.cli", "export", "cli-export",
             "--output", str(tmp_path / "bar.jsonl")],
            cwd=ROOT, env=sparring_env(remote(team)), stderr=follower,
            stdout=subprocess.PIPE, timeout=120,
        )
    finally:
        os.close(follower)
    await asyncio.to_thread(reader.join, 10)
    os.close(leader)
    shown = b"".join(seen).decode(errors="replace")
    assert done.returncode == 0, shown
    assert "Exporting cli-export" in shown and "4/4" in shown and "records" in shown
