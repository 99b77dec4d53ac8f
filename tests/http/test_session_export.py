"""Export and import over real HTTP: streamed files, status codes, roles, workspaces, browsers."""

import csv
import gc
import io
import json
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar

from models import ChatBucket, Role, Runner, Session
from service.api.context import require_database
from service.database import Database
from service.http import create_app
from service.moonshot_import.writing import ChatWriter
from service.settings import Settings
from tests.factories import create_key, create_runner, make_chat_record
from tests.support.live_server import live_server

SESSIONS = "/api/v1/sessions"
NDJSON = {"Content-Type": "application/x-ndjson"}


async def fill(runner_id: str, per_endpoint: int, endpoints: list[str], workspace: str) -> None:
    writer = ChatWriter(workspace, runner_id, require_database().bucket_size)
    for endpoint in endpoints:
        for number in range(1, per_endpoint + 1):
            await writer.add(make_chat_record(number, endpoint, sent_by="bob").document())
    await writer.finish()


async def a_session(
    name: str = "Over Http", per_endpoint: int = 30, workspace: str = "default"
) -> str:
    runner_id = await create_runner(name, ["echo-a", "echo-b"], workspace=workspace)
    await fill(runner_id, per_endpoint, ["echo-a", "echo-b"], workspace)
    return runner_id


async def pieces(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


async def records_in(workspace: str) -> int:
    buckets = ChatBucket.get_pymongo_collection().find({"workspace": workspace})
    return sum([len(bucket["records"]) async for bucket in buckets])


class TestExport:
    @pytest.mark.parametrize(
        ("export_format", "media_type"),
        [("jsonl", "application/x-ndjson"), ("csv", "text/csv; charset=utf-8"),
         ("json", "application/json")],
    )
    async def test_streams_the_file_with_its_name_type_and_count(
        self, db, live_client, export_format, media_type
    ):
        runner_id = await a_session()
        response = await live_client.get(
            f"{SESSIONS}/{runner_id}/export", params={"format": export_format}
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == media_type
        assert response.headers["content-disposition"] == (
            f'attachment; filename="{runner_id}.{export_format}"'
        )
        assert response.headers["x-total-records"] == "60"
        if export_format == "jsonl":
            lines = response.text.splitlines()
            assert json.loads(lines[0])["session"]["session_id"] == runner_id
            assert len(lines) == 61
        elif export_format == "csv":
            rows = list(csv.reader(io.StringIO(response.text)))
            assert rows[0][:3] == ["session_id", "chat_record_id", "conn_id"]
            assert len(rows) == 61
        else:
            assert len(response.json()["records"]) == 60

    async def test_jsonl_is_the_default_and_one_endpoint_can_be_asked(self, db, live_client):
        runner_id = await a_session()
        response = await live_client.get(
            f"{SESSIONS}/{runner_id}/export", params={"endpoint": "echo-b"}
        )
        assert response.headers["content-type"] == "application/x-ndjson"
        assert response.headers["x-total-records"] == "30"
        records = [json.loads(line) for line in response.text.splitlines()[1:]]
        assert [r["chat_record_id"] for r in records] == list(range(1, 31))
        assert {r["conn_id"] for r in records} == {"echo-b"}

    async def test_a_bad_format_is_400_naming_the_allowed_ones(self, db, client):
        runner_id = await a_session()
        response = await client.get(f"{SESSIONS}/{runner_id}/export", params={"format": "xml"})
        assert response.status_code == 400
        assert "jsonl, csv, json" in response.json()["detail"]

    async def test_an_unknown_session_or_endpoint_is_404(self, db, client):
        runner_id = await a_session()
        missing = await client.get(f"{SESSIONS}/ghost/export")
        assert missing.status_code == 404 and "ghost" in missing.json()["detail"]
        other = await client.get(f"{SESSIONS}/{runner_id}/export", params={"endpoint": "nope"})
        assert other.status_code == 404 and "nope" in other.json()["detail"]


class TestImport:
    async def test_201_when_made_then_200_when_there_already(self, db, live_client):
        runner_id = await a_session("Round Trip")
        data = (await live_client.get(f"{SESSIONS}/{runner_id}/export")).content
        made = await live_client.post(f"{SESSIONS}/import", content=pieces(data), headers=NDJSON)
        assert made.status_code == 201, made.text
        assert made.json() == {
            "session_id": f"{runner_id}-2", "name": "Round Trip-2", "records": 60, "added": 60,
            "created": True,
        }
        again = await live_client.post(f"{SESSIONS}/import", content=data, headers=NDJSON)
        assert again.status_code == 200, again.text
        assert again.json() == {**made.json(), "added": 0, "created": False}
        copy = await live_client.get(f"{SESSIONS}/{runner_id}-2/export")
        original = await live_client.get(f"{SESSIONS}/{runner_id}/export")
        assert copy.text.splitlines()[1:] == original.text.splitlines()[1:]

    async def test_a_bad_line_is_400_naming_it(self, db, client):
        runner_id = await a_session()
        data = (await client.get(f"{SESSIONS}/{runner_id}/export")).content
        response = await client.post(
            f"{SESSIONS}/import", content=data + b'{"chat_record_id": -1}\n', headers=NDJSON
        )
        assert response.status_code == 400
        assert response.json()["detail"].startswith("Line 62: chat_record_id")
        wrong = await client.post(f"{SESSIONS}/import", content=b"hello\n", headers=NDJSON)
        assert wrong.status_code == 400 and "Line 1 is not JSON" in wrong.json()["detail"]
        assert await Session.get_pymongo_collection().count_documents({}) == 1

    @pytest.mark.parametrize(
        "content_type",
        ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
         "application/json", None],
    )
    async def test_only_ndjson_bodies_are_read(self, db, client, content_type):
        runner_id = await a_session()
        data = (await client.get(f"{SESSIONS}/{runner_id}/export")).content
        headers = {} if content_type is None else {"Content-Type": content_type}
        response = await client.post(f"{SESSIONS}/import", content=data, headers=headers)
        assert response.status_code == 415, response.text
        assert "application/x-ndjson" in response.json()["detail"]
        assert await Runner.get_pymongo_collection().count_documents({}) == 1


@pytest.fixture
def small_limits(settings: Settings) -> Settings:
    """The app-wide limit below a 60-record export, the import's own limit above it."""
    return Settings(**{**settings.model_dump(), "max_body_bytes": 1024, "import_max_bytes": 40_000})


async def test_imports_have_their_own_body_limit(db, small_limits):
    app = create_app(small_limits, database=db)
    runner_id = await a_session()
    async with live_server(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        data = (await client.get(f"{SESSIONS}/{runner_id}/export")).content
        assert 1024 < len(data) < 40_000
        fits = await client.post(f"{SESSIONS}/import", content=pieces(data), headers=NDJSON)
        assert fits.status_code == 201, fits.text
        bigger = data + b"\n" * 40_000
        # Announced and streamed (no Content-Length): both refused, and nothing kept.
        announced = await client.post(
            f"{SESSIONS}/import", content=bigger.replace(b"Over Http", b"Other"), headers=NDJSON
        )
        assert announced.status_code == 413
        streamed = await client.post(
            f"{SESSIONS}/import", content=pieces(bigger.replace(b"Over Http", b"Other")),
            headers=NDJSON,
        )
        assert streamed.status_code == 413
        assert await Session.get_pymongo_collection().count_documents({}) == 2
        assert await records_in("default") == 120


@pytest.fixture
def required_app(required_settings: Settings, db: Database) -> Litestar:
    return create_app(required_settings, database=db)


async def test_roles_and_workspaces(db, required_app):
    """bob edits and carol views workspace wa; dave owns wb and tries wa's session."""
    bob = await create_key("bob", Role.EDITOR, workspace="wa")
    carol = await create_key("carol", Role.VIEWER, workspace="wa")
    dave = await create_key("dave", Role.OWNER, workspace="wb")
    runner_id = await a_session("Secret Work", workspace="wa")

    def auth(key: str, **headers: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}", **headers}

    async with live_server(required_app) as url, httpx.AsyncClient(
        base_url=url, timeout=30
    ) as client:
        data = (await client.get(f"{SESSIONS}/{runner_id}/export", headers=auth(carol))).content
        assert b"Secret Work" in data
        # A viewer reads but does not import.
        viewer = await client.post(
            f"{SESSIONS}/import", content=data, headers=auth(carol, **NDJSON)
        )
        assert viewer.status_code == 403
        # The other workspace's owner sees no such session, as if it did not exist.
        theirs = await client.get(f"{SESSIONS}/{runner_id}/export", headers=auth(dave))
        ghost = await client.get(f"{SESSIONS}/ghost-run/export", headers=auth(dave))
        assert theirs.status_code == ghost.status_code == 404
        assert theirs.text.replace(runner_id, "ghost-run") == ghost.text
        # Nor can dave import into wa: his key acts in wb alone.
        pushed = await client.post(
            f"{SESSIONS}/import", content=data,
            headers=auth(dave, **NDJSON, **{"X-Workspace": "wa"}),
        )
        assert pushed.status_code == 403
        assert await Session.get_pymongo_collection().count_documents({"workspace": "wa"}) == 1
        # Into his own workspace it is his copy, and wa's stays as it was.
        own = await client.post(f"{SESSIONS}/import", content=data, headers=auth(dave, **NDJSON))
        assert own.status_code == 201 and own.json()["session_id"] == runner_id
        assert await records_in("wb") == 60 and await records_in("wa") == 60
        # bob, an editor of wa, imports into wa: a new name beside the original.
        edited = await client.post(f"{SESSIONS}/import", content=data, headers=auth(bob, **NDJSON))
        assert edited.status_code == 201 and edited.json()["session_id"] == f"{runner_id}-2"


async def test_a_web_page_cannot_make_a_local_browser_import(db, app, live_url):
    """A page may send text/plain (or a form) without a CORS preflight, never x-ndjson."""
    runner_id = await a_session()
    async with httpx.AsyncClient(base_url=live_url, timeout=30) as client:
        data = (await client.get(f"{SESSIONS}/{runner_id}/export")).content
        for content_type in ("text/plain", "application/x-www-form-urlencoded"):
            response = await client.post(
                f"{SESSIONS}/import", content=data,
                headers={"Content-Type": content_type, "Origin": "http://attacker.example"},
            )
            assert response.status_code in (403, 415), response.text
        simple = await client.post(
            f"{SESSIONS}/import", content=data, headers={"Content-Type": "text/plain"}
        )
        assert simple.status_code == 415
        assert await Session.get_pymongo_collection().count_documents({}) == 1


async def peak_of_reading(client: httpx.AsyncClient, path: str) -> tuple[int, int]:
    """(peak bytes allocated by server and client while reading `path`, bytes read)."""
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        size = 0
        async with client.stream("GET", path) as response:
            assert response.status_code == 200
            async for chunk in response.aiter_raw():
                size += len(chunk)
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    return peak, size


@pytest.mark.server_only
async def test_reading_100000_records_over_http_takes_flat_memory(
    db, live_client, record_property
):
    # Server and client share the process (uvicorn in the test's loop), so both are counted.
    small = await create_runner("Small Read", ["echo-a"])
    await fill(small, 10_000, ["echo-a"], "default")
    large = await create_runner("Large Read", ["echo-a"])
    await fill(large, 100_000, ["echo-a"], "default")
    figures: dict[str, Any] = {}
    for route in ("export", "chats"):
        small_peak, small_size = await peak_of_reading(live_client, f"{SESSIONS}/{small}/{route}")
        large_peak, large_size = await peak_of_reading(live_client, f"{SESSIONS}/{large}/{route}")
        assert large_size > 9 * small_size
        figures[route] = (small_peak, large_peak)
        record_property(f"http_{route}_peak_bytes_10000", small_peak)
        record_property(f"http_{route}_peak_bytes_100000", large_peak)
    for route, (small_peak, large_peak) in figures.items():
        assert large_peak < 1.5 * small_peak, (route, figures)
