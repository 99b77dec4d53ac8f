"""`?access_token=` is taken on the live events route only.

Browsers' EventSource cannot send headers, so that one route takes the key in the URL; anywhere
else a key in the URL would only end up in access logs, browser history and Referer headers.
Deciding by the path's ending let a session, runner or endpoint named "events" take it too.
"""

import pytest

from tests.factories import create_endpoint, create_runner
from tests.security.conftest import WA

NO_KEY = "An API key is required"


@pytest.fixture
async def named_events(world):
    """A session (and so a runner) and an endpoint named "events", and a watched session."""
    await create_endpoint("echo-a", workspace=WA)
    await create_endpoint("events", workspace=WA)
    await create_runner("Events", endpoints=["echo-a"], workspace=WA)
    await create_runner("Watched", endpoints=["echo-a"], workspace=WA)
    return world


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/sessions/events",
        "/api/v1/sessions/events/",
        "/api/v1/runners/events",
        "/api/v1/llm-endpoints/events",
    ],
)
async def test_access_token_query_only_on_the_events_route(named_events, path):
    world = named_events
    async with world.client(world.carol) as carol:
        # The thing exists and the key may read it...
        assert (await carol.get(path)).status_code == 200, path
    async with world.client() as anyone:
        # ...but not with the key in the URL.
        response = await anyone.get(path, params={"access_token": world.carol})
    assert response.status_code == 401, (path, response.text)
    assert response.json()["detail"].startswith(NO_KEY)


async def test_the_events_route_takes_it(named_events):
    world = named_events
    async with world.client() as anyone:
        for runner_id in ("watched", "events"):
            response = await anyone.get(
                f"/api/v1/sessions/{runner_id}/events",
                params={"access_token": world.carol, "follow": "false"},
            )
            assert response.status_code == 200, response.text
            assert response.headers["content-type"].startswith("text/event-stream")
        # Without it (or with a bad one) the route is closed like any other.
        bare = await anyone.get("/api/v1/sessions/watched/events", params={"follow": "false"})
        assert bare.status_code == 401
