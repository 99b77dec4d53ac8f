"""Sessions as the web API shows them, on both database tiers."""

import pytest

from service.api import api_delete_session
from service.api.chats import append_chat_records, reserve_chat_record_ids
from service.api.errors import Conflict, InvalidInput, NotFound
from service.api.session_views import (
    create_session_view,
    get_session_view,
    list_session_summaries,
    read_chat_page,
    session_chat_streams,
)
from tests.factories import create_endpoint, make_chat_record


@pytest.fixture(autouse=True)
async def echo_endpoints(db) -> None:
    """The endpoints the sessions below name, registered in each workspace they use."""
    for workspace in ("default", "red", "blue"):
        for name in ("echo-a", "echo-b"):
            await create_endpoint(name, workspace=workspace)


async def add_chats(runner_id: str, endpoint: str, count: int) -> list[int]:
    ids = await reserve_chat_record_ids(runner_id, endpoint, count)
    await append_chat_records(runner_id, endpoint, [make_chat_record(i, endpoint) for i in ids])
    return ids


class TestCreateSessionView:
    async def test_names_the_runner_and_stores_the_metric(self, db):
        view = await create_session_view(
            "Night Shift", "Late tests.", ["echo-a"], {"metric_id": "exactstrmatch"}
        )
        assert (view.session_name, view.session_description) == ("Night Shift", "Late tests.")
        assert view.session.session_id == "night-shift"
        assert view.session.metric == "exactstrmatch"
        assert view.chat_records is None

    async def test_an_unregistered_endpoint_is_invalid_and_creates_nothing(self, db):
        with pytest.raises(InvalidInput, match="Endpoint echo-z does not exist.") as error:
            await create_session_view("Nowhere", "", ["echo-a", "echo-z"], {})
        assert error.value.field == "endpoints"
        assert await list_session_summaries() == []

    async def test_a_taken_name_is_a_conflict(self, db):
        await create_session_view("Twice", "", ["echo-a"], {})
        with pytest.raises(Conflict):
            await create_session_view("twice", "", ["echo-a"], {})

    async def test_is_scoped_to_its_workspace(self, db):
        await create_session_view("Shared Name", "", ["echo-a"], {}, workspace="red")
        view = await create_session_view("Shared Name", "", ["echo-a"], {}, workspace="blue")
        assert view.session.session_id == "shared-name"
        assert [s["session_id"] for s in await list_session_summaries(workspace="red")] == [
            "shared-name"
        ]


class TestGetSessionView:
    async def test_with_and_without_history(self, db):
        await create_session_view("Viewed", "Look.", ["echo-a", "echo-b"], {})
        await add_chats("viewed", "echo-b", 3)
        plain = await get_session_view("viewed")
        assert plain.chat_records is None
        full = await get_session_view("viewed", include_history=True)
        assert full.chat_records is not None
        assert list(full.chat_records) == ["echo-a", "echo-b"]
        assert [r["chat_record_id"] for r in full.chat_records["echo-b"]] == [1, 2, 3]

    async def test_a_runner_without_a_session_is_not_found(self, db):
        await create_session_view("Hollow", "", ["echo-a"], {})
        await api_delete_session("hollow")
        with pytest.raises(NotFound, match="Session hollow does not exist."):
            await get_session_view("hollow")

    async def test_another_workspaces_session_is_not_found(self, db):
        await create_session_view("Private", "", ["echo-a"], {}, workspace="red")
        with pytest.raises(NotFound):
            await get_session_view("private", workspace="blue")


class TestListSessionSummaries:
    async def test_adds_descriptions_and_pages(self, db):
        for name in ("one", "two", "three"):
            await create_session_view(name, f"About {name}.", ["echo-a"], {})
        summaries = await list_session_summaries()
        assert [(s["session_id"], s["description"]) for s in summaries] == [
            ("three", "About three."), ("two", "About two."), ("one", "About one.")
        ]
        page = await list_session_summaries(limit=1, offset=1)
        assert [s["session_id"] for s in page] == ["two"]


class TestChatStreams:
    async def test_the_session_is_checked_before_anything_is_read(self, db):
        with pytest.raises(NotFound):
            await session_chat_streams("absent")

    async def test_streams_every_endpoint_in_order(self, db):
        await create_session_view("Streams", "", ["echo-a", "echo-b"], {})
        ids = await add_chats("streams", "echo-a", 25)
        streams = await session_chat_streams("streams")
        assert list(streams) == ["echo-a", "echo-b"]
        assert [r["chat_record_id"] async for r in streams["echo-a"]] == ids
        assert [r async for r in streams["echo-b"]] == []


class TestReadChatPage:
    async def test_cursor_walks_every_record_once(self, db):
        await create_session_view("Pages", "", ["echo-a"], {})
        ids = await add_chats("pages", "echo-a", 21)
        seen, cursor = [], 0
        while True:
            page = await read_chat_page("pages", "echo-a", after=cursor, limit=8)
            seen.extend(record["chat_record_id"] for record in page.records)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == ids

    async def test_an_endpoint_outside_the_session_is_not_found(self, db):
        await create_session_view("Pages Two", "", ["echo-a"], {})
        with pytest.raises(NotFound, match="Endpoint echo-z is not part of session pages-two."):
            await read_chat_page("pages-two", "echo-z")

    async def test_a_bad_limit_is_invalid_input(self, db):
        await create_session_view("Pages Three", "", ["echo-a"], {})
        with pytest.raises(InvalidInput) as error:
            await read_chat_page("pages-three", "echo-a", limit=0)
        assert error.value.field == "limit"
