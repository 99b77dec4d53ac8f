"""Listings at a few thousand rows, over real HTTP: with `limit` the right page, without it
everything on Moonshot's routes (DESIGN.md, Pagination)."""

from datetime import datetime

import httpx

from models import Session
from service.api.sessions.store import new_session_document
from tests.factories import create_endpoint

SESSIONS = 2_000


async def insert_sessions(workspace: str, count: int) -> list[str]:
    """`count` sessions a second apart, written in one go; their ids newest first."""
    documents = []
    for number in range(count):
        document = new_session_document(f"run-{number:05d}", ["echo-a"], {}, workspace)
        epoch = 1_700_000_000 + number
        document.created_epoch = str(float(epoch))
        document.created_datetime = datetime.fromtimestamp(epoch).strftime("%Y%m%d-%H%M%S")
        documents.append(document.model_dump(by_alias=True))
    await Session.get_pymongo_collection().insert_many(documents)
    return [f"run-{number:05d}" for number in reversed(range(count))]


class TestSessionListings:
    async def test_a_page_with_limit_and_everything_without(self, live_client):
        ids = await insert_sessions("default", SESSIONS)
        await insert_sessions("elsewhere", 10)
        page = await live_client.get("/api/v1/sessions", params={"limit": 100, "offset": 1_500})
        assert page.status_code == 200
        assert [item["session_id"] for item in page.json()] == ids[1_500:1_600]
        names = await live_client.get(
            "/api/v1/sessions/name", params={"limit": 1_000, "offset": 1_800}
        )
        assert names.json() == ids[1_800:]
        everything = (await live_client.get("/api/v1/sessions/name")).json()
        assert everything == ids
        listed = (await live_client.get("/api/v1/sessions")).json()
        assert [item["session_id"] for item in listed] == ids

    async def test_past_the_maximum_page_is_422(self, live_client):
        for route in ("/api/v1/sessions", "/api/v1/sessions/name", "/api/v1/llm-endpoints",
                      "/api/v1/llm-endpoints/name"):
            response = await live_client.get(route, params={"limit": 1_001})
            assert response.status_code == 422, route
            assert response.json()["error"][0]["loc"] == ["query", "limit"]


class TestEndpointListings:
    async def test_a_page_with_limit_and_everything_without(self, live_client: httpx.AsyncClient):
        ids = [await create_endpoint(f"echo-{number:02d}") for number in range(30)]
        await create_endpoint("theirs", workspace="elsewhere")
        newest_first = list(reversed(ids))
        page = await live_client.get("/api/v1/llm-endpoints", params={"limit": 10, "offset": 5})
        assert [item["id"] for item in page.json()] == newest_first[5:15]
        assert all(item["token"] in ("", "*" * len(item["token"])) for item in page.json())
        names = await live_client.get("/api/v1/llm-endpoints/name", params={"limit": 3})
        assert names.json() == newest_first[:3]
        assert (await live_client.get("/api/v1/llm-endpoints/name")).json() == newest_first
        assert len((await live_client.get("/api/v1/llm-endpoints")).json()) == 30
