"""Reading sessions: Moonshot's listings and chats, and the web API's views, on both tiers."""

import pytest
from pydantic import ValidationError

from service.api import (
    api_delete_session,
    api_get_all_chats_from_session,
    api_get_all_session_metadata,
    api_get_all_session_names,
    api_get_available_session_info,
    api_load_session,
    append_chat_record,
    reserve_chat_record_id,
)
from service.api.errors import InvalidInput, NotFound
from service.api.sessions.lifecycle import create_session_view
from service.api.sessions.views import (
    get_session_view,
    list_session_summaries,
    read_chat_page,
    session_chat_streams,
)
from tests.api.sessions.support import RUNNER_MISSING, add_chats, register_echo_endpoints
from tests.factories import create_session, make_chat_record


@pytest.fixture
async def echo_endpoints(db) -> None:
    await register_echo_endpoints()


class TestListings:
    async def test_newest_first_with_ties_broken_by_epoch(self, db):
        for runner_id in ("first", "second", "third"):
            await create_session(runner_id)
        names = await api_get_all_session_names()
        assert names == ["third", "second", "first"]
        metadata = await api_get_all_session_metadata()
        assert [item["session_id"] for item in metadata] == names
        ids, infos = await api_get_available_session_info()
        assert ids == names and infos == metadata

    async def test_pagination(self, db):
        for index in range(5):
            await create_session(f"page-{index}")
        everything = await api_get_all_session_names()
        assert await api_get_all_session_names(limit=2) == everything[:2]
        assert await api_get_all_session_names(limit=2, offset=2) == everything[2:4]
        page = await api_get_all_session_metadata(limit=3, offset=4)
        assert [item["session_id"] for item in page] == everything[4:]

    async def test_bad_pagination_is_a_validation_error(self, db):
        with pytest.raises(ValidationError):
            await api_get_all_session_names(limit=0)
        with pytest.raises(ValidationError):
            await api_get_all_session_metadata(offset=-1)

    async def test_workspaces_do_not_see_each_other(self, db):
        await create_session("mine", workspace="alpha")
        await create_session("theirs", workspace="beta")
        assert await api_get_all_session_names(workspace="alpha") == ["mine"]
        assert await api_get_all_session_names(workspace="beta") == ["theirs"]
        assert await api_get_all_session_names() == []
        with pytest.raises(NotFound):
            await api_load_session("theirs", workspace="alpha")
        with pytest.raises(NotFound):
            await api_delete_session("theirs", workspace="alpha")
        assert await api_load_session("theirs", workspace="beta") is not None


class TestApiGetAllChatsFromSession:
    async def test_every_endpoint_in_append_order(self, db):
        runner_id = await create_session(endpoints=["echo-a", "echo-b", "silent"])
        for _ in range(25):
            for endpoint in ("echo-a", "echo-b"):
                record_id = await reserve_chat_record_id(runner_id, endpoint)
                await append_chat_record(runner_id, endpoint, make_chat_record(record_id, endpoint))
        chats = await api_get_all_chats_from_session(runner_id)
        assert list(chats) == ["echo-a", "echo-b", "silent"]
        assert [record["chat_record_id"] for record in chats["echo-a"]] == list(range(1, 26))
        assert chats["echo-b"][0]["conn_id"] == "echo-b"
        assert chats["silent"] == []
        assert set(chats["echo-a"][0]) == set(make_chat_record(1).document())

    async def test_unknown_runner_raises_and_deleted_session_is_empty(self, db):
        with pytest.raises(RuntimeError, match=RUNNER_MISSING):
            await api_get_all_chats_from_session("ghost")
        runner_id = await create_session()
        await api_delete_session(runner_id)
        assert await api_get_all_chats_from_session(runner_id) == {}


@pytest.mark.usefixtures("echo_endpoints")
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
        with pytest.raises(NotFound, match=r"Session hollow does not exist."):
            await get_session_view("hollow")

    async def test_another_workspaces_session_is_not_found(self, db):
        await create_session_view("Private", "", ["echo-a"], {}, workspace="red")
        with pytest.raises(NotFound):
            await get_session_view("private", workspace="blue")


@pytest.mark.usefixtures("echo_endpoints")
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


@pytest.mark.usefixtures("echo_endpoints")
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


@pytest.mark.usefixtures("echo_endpoints")
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
        with pytest.raises(NotFound, match=r"Endpoint echo-z is not part of session pages-two."):
            await read_chat_page("pages-two", "echo-z")

    async def test_a_bad_limit_is_invalid_input(self, db):
        await create_session_view("Pages Three", "", ["echo-a"], {})
        with pytest.raises(InvalidInput) as error:
            await read_chat_page("pages-three", "echo-a", limit=0)
        assert error.value.field == "limit"
