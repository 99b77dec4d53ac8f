"""`Client` (blocking) against a real server on loopback. It runs in a thread: the server
runs in the test's event loop, which a blocking call on it would stop."""

import asyncio
import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from service.api.errors import InvalidInput, NotFound
from service.client import Client
from service.http.prompt_schemas import PromptInfo
from tests.client.conftest import ECHOES, Team


def scripted(team: Team) -> dict[str, Any]:
    """What a script does with the blocking client, start to end."""
    with Client(team.url, team.alice) as sparring:
        assert team.alice not in repr(sparring)
        sparring.create_session("Sync Probe", ECHOES, system_prompt="Short answers.")
        sparring.create_session("Sync Other", ECHOES)
        listed = [item.session_id for item in sparring.list_sessions(page_size=1)]
        answer = sparring.send_prompt("sync-probe", "Is this synchronous?")
        events = list(sparring.events("sync-probe", follow=False))
        changed = sparring.update_session("sync-probe", cs_num_of_prev_prompts=3)
        endpoint_id = sparring.create_endpoint("Sync Echo", "echo")
        sparring.update_endpoint(endpoint_id, model="m9")
        endpoint = sparring.get_endpoint(endpoint_id)
        sparring.delete_endpoint(endpoint_id)
        runs = sparring.list_runs("sync-probe")
        try:
            sparring.get_session("missing-one")
        except NotFound as error:
            missing = str(error)
        sparring.delete_session("sync-other")
        return {
            "listed": listed, "answer": answer, "events": events, "changed": changed,
            "endpoint": endpoint, "runs": runs, "missing": missing,
            "after_delete": [item.session_id for item in sparring.list_sessions()],
            "chats": sparring.get_chats("sync-probe"),
            "members": [member.user for member in sparring.list_members()],
        }


async def test_a_script_with_the_blocking_client(team: Team):
    got = await asyncio.to_thread(scripted, team)
    assert got["listed"] == ["sync-other", "sync-probe"]
    answer = got["answer"]
    assert isinstance(answer, PromptInfo) and sorted(answer.current_chats) == ECHOES
    assert [event.event for event in got["events"]].count("chat_record") == 2
    assert got["changed"].cs_num_of_prev_prompts == 3
    assert got["endpoint"].model == "m9"
    assert got["runs"] == []
    assert got["missing"]
    assert got["after_delete"] == ["sync-probe"]
    assert all(len(records) == 1 for records in got["chats"].values())
    assert "alice" in got["members"]


def export_and_import(team: Team, folder: Path) -> dict[str, Any]:
    with Client(team.url, team.alice) as sparring:
        sparring.create_session("Exported", ECHOES)
        for number in range(3):
            sparring.send_prompt("exported", f"Prompt {number}\nwith a second line")
        exported = {}
        for export_format in ("jsonl", "csv", "json"):
            path = folder / f"out.{export_format}"
            info = sparring.export_to("exported", path, format=export_format)
            exported[export_format] = (info, path.read_bytes())
        with sparring.export("exported", endpoint="echo-a") as stream:
            one_endpoint = b"".join(stream)
        first = sparring.import_session(folder / "out.jsonl")
        again = sparring.import_session((folder / "out.jsonl").read_bytes())
        chats = sparring.get_chats(first.session_id)
    return {
        "exported": exported, "one_endpoint": one_endpoint, "first": first, "again": again,
        "chats": chats,
    }


async def test_export_in_each_format_and_import_back(team: Team, tmp_path: Path):
    got = await asyncio.to_thread(export_and_import, team, tmp_path)
    exported = got["exported"]
    info, jsonl = exported["jsonl"]
    assert info.total_records == 6 and info.filename.endswith(".jsonl")
    lines = [json.loads(line) for line in jsonl.splitlines()]
    assert len(lines) == 7
    assert sorted(line["prompt"] for line in lines[1:])[:2] == ["Prompt 0\nwith a second line"] * 2

    info, body = exported["csv"]
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert info.total_records == 6 and len(rows) == 7
    assert "prompt" in rows[0]

    info, body = exported["json"]
    document = json.loads(body)
    assert info.total_records == 6 and len(document["records"]) == 6

    one = [json.loads(line) for line in got["one_endpoint"].splitlines()[1:]]
    assert {record["conn_id"] for record in one} == {"echo-a"} and len(one) == 3

    first, again = got["first"], got["again"]
    assert first.created and first.added == 6 and first.records == 6
    assert first.session_id != "exported"
    assert (again.session_id, again.created, again.added) == (first.session_id, False, 0)
    assert sorted(len(records) for records in got["chats"].values()) == [3, 3]


async def test_async_export_and_import_round_trip(team: Team, tmp_path: Path):
    from service.client import AsyncClient

    async with AsyncClient(team.url, team.alice) as alice:
        await alice.create_session("Async Export", ECHOES)
        await alice.send_prompt("async-export", "Only one")
        path = tmp_path / "async.jsonl"
        info = await alice.export_to("async-export", path)
        imported = await alice.import_session(path)
        assert info.total_records == 2 and imported.added == 2
        assert {
            endpoint: [record.prompt for record in records]
            for endpoint, records in (await alice.get_chats(imported.session_id)).items()
        } == {"echo-a": ["Only one"], "echo-b": ["Only one"]}
        with pytest.raises(InvalidInput):
            await alice.import_session(b'{"not": "an export"}\n')


def test_from_env_reads_the_url_and_key(monkeypatch):
    monkeypatch.setenv("SPARRING_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("SPARRING_API_KEY", "spk_from_env_secret")
    with Client.from_env() as client:
        assert client.url == "http://127.0.0.1:9"
        assert "spk_from_env_secret" not in repr(client)
    monkeypatch.delenv("SPARRING_URL")
    with pytest.raises(InvalidInput, match="SPARRING_URL"):
        Client.from_env()
