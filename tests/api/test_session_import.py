"""Reading Sparring's JSONL export back: a new session (or name), idempotent, refused cleanly."""

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from models import ChatBucket, ChatCounter, Runner, Session, SessionImport
from models.keys import runner_key
from service.api.chats import iter_chat_records, reserve_chat_record_id
from service.api.context import require_database
from service.api.errors import Conflict, InvalidFile
from service.api.exporting import ExportFormat, open_export
from service.api.session_import import import_session_export
from service.api.sessions.runners import delete_runner
from service.api.sessions.store import find_session
from service.moonshot_import.writing import ChatWriter
from tests.factories import create_runner, make_chat_record

ENDPOINTS = ["echo-a", "echo-b"]


async def chunks(data: bytes, size: int = 4096) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


async def exported(name: str = "Moving Session", per_endpoint: int = 25) -> tuple[str, bytes]:
    """A session in workspace `default` with records, and its JSONL export."""
    runner_id = await create_runner(name, ENDPOINTS, description="It moves.")
    writer = ChatWriter("default", runner_id, require_database().bucket_size)
    for endpoint in ENDPOINTS:
        for number in range(1, per_endpoint + 1):
            await writer.add(make_chat_record(number, endpoint, sent_by="carol").document())
    await writer.finish()
    export = await open_export(runner_id, workspace="default", format=ExportFormat.JSONL)
    return runner_id, b"".join([chunk async for chunk in export.chunks])


async def records_in(workspace: str) -> int:
    buckets = ChatBucket.get_pymongo_collection().find({"workspace": workspace})
    return sum([len(bucket["records"]) async for bucket in buckets])


async def nothing_in(workspace: str) -> bool:
    for document in (Runner, Session, ChatBucket, ChatCounter, SessionImport):
        found = await document.get_pymongo_collection().find_one({"workspace": workspace})
        if found is not None:
            return False
    return True


def header(**session: Any) -> bytes:
    fields = {
        "session_id": "from-file", "name": "From File", "endpoints": ["echo-a"],
        "created_epoch": "1700000000.25", "created_datetime": "20231114-221320", **session,
    }
    return json.dumps({"format": "sparring-session", "version": 1, "session": fields}).encode()


def line(**fields: Any) -> bytes:
    return make_chat_record(**fields).model_dump_json().encode()


async def import_into(workspace: str, data: bytes, size: int = 4096) -> Any:
    return await import_session_export(chunks(data, size), workspace=workspace, user="bob")


class TestImportSessionExport:
    async def test_makes_the_session_with_its_records_ids_and_settings(self, db):
        runner_id, data = await exported()
        imported = await import_into("elsewhere", data)
        assert (imported.session_id, imported.name) == (runner_id, "Moving Session")
        assert (imported.records, imported.added, imported.created) == (50, 50, True)
        source = await find_session(runner_id, "default")
        target = await find_session(runner_id, "elsewhere")
        assert source is not None and target == source
        runner = await Runner.get(runner_key("elsewhere", runner_id))
        assert runner is not None and runner.description == "It moves."
        ids = [r["chat_record_id"] async for r in iter_chat_records(
            runner_id, "echo-b", workspace="elsewhere")]
        assert ids == list(range(1, 26))

    async def test_the_id_counter_ends_past_the_imported_records(self, db):
        runner_id, data = await exported()
        await import_into("elsewhere", data)
        assert await reserve_chat_record_id(runner_id, "echo-a", workspace="elsewhere") == 26

    async def test_importing_twice_writes_once_and_answers_the_same_session(self, db):
        _, data = await exported()
        first = await import_into("elsewhere", data)
        second = await import_into("elsewhere", data, size=777)
        assert second.session_id == first.session_id
        assert (second.records, second.added, second.created) == (50, 0, False)
        assert await records_in("elsewhere") == 50
        assert await Session.get_pymongo_collection().count_documents(
            {"workspace": "elsewhere"}
        ) == 1

    async def test_a_taken_name_gets_a_new_one(self, db):
        runner_id, data = await exported("Taken Name")
        # Into its own workspace: the name is the source session's.
        imported = await import_into("default", data)
        assert (imported.session_id, imported.name) == (f"{runner_id}-2", "Taken Name-2")
        again = await import_into("default", data)
        assert (again.session_id, again.created) == (f"{runner_id}-2", False)
        await create_runner("Taken Name", ["echo-a"], workspace="third")
        await create_runner("Taken Name-2", ["echo-a"], workspace="third")
        third = await import_into("third", data)
        assert third.session_id == f"{runner_id}-3"

    async def test_a_session_deleted_since_is_imported_again(self, db):
        _, data = await exported()
        first = await import_into("elsewhere", data)
        await delete_runner(first.session_id, workspace="elsewhere")
        again = await import_into("elsewhere", data)
        assert (again.session_id, again.created, again.added) == (first.session_id, True, 50)

    async def test_an_import_cut_short_is_finished_by_the_next(self, db):
        runner_id, data = await exported()
        source = await find_session(runner_id, "default")
        assert source is not None
        # What a crash after the runner and a few buckets leaves behind.
        await SessionImport(
            id=f"elsewhere|{runner_id}|{source.created_epoch}", workspace="elsewhere",
            source_session_id=runner_id, source_created_epoch=source.created_epoch,
            session_id="half-done", imported_by="bob",
        ).insert()
        await Runner(
            id=runner_key("elsewhere", "half-done"), workspace="elsewhere",
            runner_id="half-done", name="half done", created_at=1.0,
        ).insert()
        writer = ChatWriter("elsewhere", "half-done", require_database().bucket_size)
        await writer.add(make_chat_record(1, "echo-a", prompt="stale").document())
        await writer.finish()
        imported = await import_into("elsewhere", data)
        assert (imported.session_id, imported.created, imported.added) == ("half-done", True, 50)
        assert await records_in("elsewhere") == 50
        first = await anext(iter_chat_records("half-done", "echo-a", workspace="elsewhere"))
        assert first["prompt"] != "stale"

    async def test_an_import_still_writing_is_not_taken_over(self, db):
        runner_id, data = await exported()
        source = await find_session(runner_id, "default")
        assert source is not None
        # Another import of the file, renewed its hold just now, is writing "busy".
        await SessionImport(
            id=f"elsewhere|{runner_id}|{source.created_epoch}", workspace="elsewhere",
            source_session_id=runner_id, source_created_epoch=source.created_epoch,
            session_id="busy", imported_by="bob", token="theirs", heartbeat=time.time(),
        ).insert()
        await Runner(
            id=runner_key("elsewhere", "busy"), workspace="elsewhere",
            runner_id="busy", name="busy", created_at=1.0,
        ).insert()
        writer = ChatWriter("elsewhere", "busy", require_database().bucket_size)
        await writer.add(make_chat_record(1, "echo-a").document())
        await writer.finish()
        with pytest.raises(Conflict, match="being imported"):
            await import_into("elsewhere", data)
        # Theirs is untouched: its record, its runner, its hold.
        assert await records_in("elsewhere") == 1
        assert await Runner.get(runner_key("elsewhere", "busy")) is not None
        held = await SessionImport.get(f"elsewhere|{runner_id}|{source.created_epoch}")
        assert held is not None and held.token == "theirs"

    async def test_records_may_name_endpoints_the_header_does_not(self, db):
        data = b"\n".join([
            header(endpoints=["echo-a"]),
            line(chat_record_id=1, endpoint="echo-a"),
            line(chat_record_id=1, endpoint="retired"),
            line(chat_record_id=2, endpoint="echo-a"),
        ])
        imported = await import_into("elsewhere", data, size=5)
        session = await find_session(imported.session_id, "elsewhere")
        assert session is not None and session.endpoints == ["echo-a", "retired"]
        assert imported.records == 3

    async def test_each_chunk_size_reads_the_same_lines(self, db):
        data = b"\n".join([header(), *(line(chat_record_id=n) for n in range(1, 30))]) + b"\n\n"
        imported = await import_into("one-byte", data, size=1)
        assert imported.records == 29


BAD_FILES = [
    (b"", "The file is empty"),
    (b"not json\n", "Line 1 is not JSON"),
    (b"[1, 2]\n", "Line 1 must be the export's header"),
    (line(chat_record_id=1) + b"\n" + header(), "Line 1 is a chat record before the header"),
    (b'{"name": "x"}\n', 'Line 1 is not a Sparring export\'s header'),
    (json.dumps({"format": "other", "version": 1}).encode(), "Line 1: format 'other'"),
    (header().replace(b'"version": 1', b'"version": 2'), "Line 1: export version 2"),
    (header(created_epoch=None), "Line 1: session.created_epoch"),
    (header(name="!!!", session_id="???"), "Line 1: session.name"),
    (header() + b"\n" + line(chat_record_id=1) + b"\n{oops", "Line 3 is not JSON"),
    (header() + b"\n\n" + b'{"chat_record_id": 0, "conn_id": "echo-a"}', "Line 3: chat_record_id"),
    (header() + b"\n" + b'{"chat_record_id": 1, "conn_id": "echo-a"}', "Line 2: prompt"),
    (header() + b"\n" + line(chat_record_id=1, endpoint=""), "Line 2: conn_id"),
    (header() + b"\n" + b'"text"', "Line 2 must be a chat record"),
    (
        header() + b"\n" + line(chat_record_id=2) + b"\n" + line(chat_record_id=2),
        "Line 3: chat_record_id 2 does not follow 2",
    ),
]


class TestBadFiles:
    @pytest.mark.parametrize(("data", "message"), BAD_FILES)
    async def test_names_the_line_and_leaves_nothing(self, db, data, message):
        with pytest.raises(InvalidFile) as raised:
            await import_into("elsewhere", data)
        assert message in str(raised.value)
        assert await nothing_in("elsewhere")

    async def test_a_bad_record_after_many_good_ones_undoes_them_all(self, db):
        _, data = await exported(per_endpoint=40)
        broken = data + b'{"chat_record_id": "many"}\n'
        with pytest.raises(InvalidFile, match="Line 82: chat_record_id"):
            await import_into("elsewhere", broken)
        assert await nothing_in("elsewhere")
        # The good file goes in afterwards as if nothing had happened.
        imported = await import_into("elsewhere", data)
        assert (imported.created, imported.added) == (True, 80)

    async def test_a_file_that_breaks_on_reimport_is_refused_and_changes_nothing(self, db):
        _, data = await exported()
        await import_into("elsewhere", data)
        with pytest.raises(InvalidFile, match="Line 52"):
            await import_into("elsewhere", data + b"{bad\n")
        assert await records_in("elsewhere") == 50
