"""While the database is stopped every route answers 503 with Retry-After, or an answer that
needs no database (`/health`, `/ready`, the OpenAPI schema, a refusal of the credentials as
sent), never 500; once the database is back the same running service answers again."""

import asyncio
from typing import Any

import httpx
import pytest
from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
)

from models import Role
from service.api.accounts import KEY_SCHEME
from service.http import create_app
from service.http.errors import DATABASE_UNAVAILABLE, UNAVAILABLE_RETRY_AFTER_S, error_response
from service.settings import Settings
from tests.conftest import TEST_BUCKET_SIZE
from tests.http.test_access import PUBLIC, ROUTES, World, build_world
from tests.support.live_server import live_server
from tests.support.stoppable_database import StoppableDatabase, stoppable_database

UNAVAILABLE = {"detail": DATABASE_UNAVAILABLE}
# How soon after its database is back the service must answer again without a restart.
RECONNECT_WITHIN_S = 10.0
# The routes that answer without asking the database, and what they answer while it is away.
PUBLIC_ANSWERS = {
    ("GET", "/health"): 200,
    # The process's own series: they need no database (the loopback test client is allowed).
    ("GET", "/metrics"): 200,
    ("GET", "/ready"): 503,
    ("GET", "/schema"): 200,
    # Litestar's catch-all of the schema router: any page it does not serve is 404.
    ("GET", "/schema/{path}"): 404,
    ("GET", "/schema/openapi.json"): 200,
    ("GET", "/schema/oauth2-redirect.html"): 200,
}
PUBLIC_FILLED = {"/schema/{path}": "/schema/swagger"}


@pytest.fixture
async def outage(tmp_path) -> Any:
    async with stoppable_database(tmp_path, bucket_size=TEST_BUCKET_SIZE) as database:
        yield database


def auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def requests_for_every_route(app: Any, world: World) -> dict[tuple[str, str], dict[str, Any]]:
    """One request per (method, route) of the app, by the workspace owner (or a server admin
    where only one may), with its path filled and a valid body."""
    paths = {}
    requests: dict[tuple[str, str], dict[str, Any]] = {}
    for (method, route), case in ROUTES.items():
        path, body = case.own(world, Role.OWNER)
        key = world.admin_key if case.admin_only else world.keys[Role.OWNER]
        paths.setdefault(route, path)
        requests[(method, route)] = {
            "method": method, "url": path, "json": body,
            "headers": {**auth(key), **(case.headers or {})},
        }
    for route in app.routes:
        for method in route.route_handler_map:
            if (method, route.path_format) in requests:
                continue
            if PUBLIC.match(route.path_format):
                path = PUBLIC_FILLED.get(route.path_format, route.path_format)
                requests[(method, route.path_format)] = {"method": method, "url": path}
            else:
                # OPTIONS of a protected route needs credentials like its other methods.
                requests[(method, route.path_format)] = {
                    "method": method, "url": paths[route.path_format],
                    "headers": auth(world.keys[Role.OWNER]),
                }
    return requests


async def answers(url: str, requests: dict[Any, dict[str, Any]]) -> dict[Any, httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        sent = await asyncio.gather(*(client.request(**request) for request in requests.values()))
    return dict(zip(requests, sent, strict=True))


async def answered_when_back(
    client: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> httpx.Response:
    """The first answer that is not 503, or the last 503 once RECONNECT_WITHIN_S have passed."""
    deadline = asyncio.get_running_loop().time() + RECONNECT_WITHIN_S
    response = await client.get(path, headers=headers)
    while response.status_code == 503 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
        response = await client.get(path, headers=headers)
    return response


def expected_status(method: str, route: str) -> int:
    if PUBLIC.match(route):
        return 204 if method == "OPTIONS" else PUBLIC_ANSWERS[(method, route)]
    return 503


async def test_every_route_answers_503_or_without_the_database_then_recovers(
    required_settings: Settings, outage: StoppableDatabase
):
    world = await build_world()
    app = create_app(required_settings, database=outage.database)
    requests = requests_for_every_route(app, world)
    async with live_server(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        before = await client.get("/api/v1/sessions", headers=auth(world.keys[Role.OWNER]))
        assert before.status_code == 200
        await outage.stop()

        during = await answers(url, requests)

        assert {key for key, response in during.items() if response.status_code == 500} == set()
        statuses = {key: response.status_code for key, response in during.items()}
        assert statuses == {key: expected_status(*key) for key in requests}
        for key, response in during.items():
            if key[1] == "/ready" or statuses[key] != 503:
                continue
            assert response.json() == UNAVAILABLE, key
            assert response.headers["retry-after"] == str(UNAVAILABLE_RETRY_AFTER_S), key

        await outage.start()
        # The same process, no restart: PyMongo reconnects by itself, once its monitor sees the
        # server again (a heartbeat or two; on a busy machine a request may still get 503).
        owner = auth(world.keys[Role.OWNER])
        listed = await answered_when_back(client, "/api/v1/sessions", owner)
        assert listed.status_code == 200
        assert {item["session_id"] for item in listed.json()} >= {"run-owner"}
        created = await client.post(
            "/api/v1/sessions", headers=owner,
            json={"name": "After the outage", "endpoints": ["echo-a"]},
        )
        assert created.status_code == 200, created.text
        assert (await client.get("/ready")).status_code == 200


async def test_credentials_refused_as_sent_need_no_database(
    required_settings: Settings, outage: StoppableDatabase
):
    app = create_app(required_settings, database=outage.database)
    async with live_server(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        await outage.stop()
        without_key = await client.get("/api/v1/sessions")
        bad_scheme = await client.get("/api/v1/sessions", headers={"authorization": "Basic x"})
        malformed_key = await client.get("/api/v1/sessions", headers=auth("not-a-key"))
        with_key = await client.get("/api/v1/sessions", headers=auth(f"{KEY_SCHEME}_0a1b_x"))
    assert without_key.status_code == 401
    assert bad_scheme.status_code == 401
    assert malformed_key.status_code == 401
    # A well-formed key can only be checked against the database: not known to be wrong.
    assert with_key.status_code == 503
    assert with_key.json() == UNAVAILABLE


class TestTheErrorTable:
    @pytest.mark.parametrize(
        "error",
        [
            ConnectionFailure("refused"),
            AutoReconnect("connection closed"),
            NetworkTimeout("timed out"),
            ServerSelectionTimeoutError("127.0.0.1:1: [Errno 111] Connection refused"),
            NotPrimaryError("shutting down"),
            WaitQueueTimeoutError("pool full"),
            ExceptionGroup("gathered", [ValueError("x"), AutoReconnect("lost")]),
        ],
        ids=lambda error: type(error).__name__,
    )
    def test_a_database_that_does_not_answer_is_503_with_retry_after(self, error):
        response = error_response(error)
        assert response.status_code == 503
        assert response.content == UNAVAILABLE
        assert response.headers["Retry-After"] == str(UNAVAILABLE_RETRY_AFTER_S)

    def test_the_answer_tells_nothing_of_the_server(self):
        response = error_response(ServerSelectionTimeoutError("db.internal:27017: refused"))
        assert "db.internal" not in str(response.content)

    @pytest.mark.parametrize(
        "error",
        [OperationFailure("bad query", code=2), ExceptionGroup("gathered", [ValueError("x")])],
        ids=["operation-failure", "group-without-outage"],
    )
    def test_a_database_that_answers_with_an_error_is_still_a_500(self, error):
        response = error_response(error)
        assert response.status_code == 500
        assert "retry-after" not in {name.lower() for name in response.headers}


async def test_local_mode_waits_for_the_database_like_a_key_does(
    settings: Settings, outage: StoppableDatabase
):
    # Key-less local mode looks up (or makes) its owner in the database before routing.
    app = create_app(settings, database=outage.database)
    async with live_server(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        assert (await client.get("/api/v1/sessions")).status_code == 200
        await outage.stop()
        during = await client.get("/api/v1/sessions")
        await outage.start()
        after = await client.get("/api/v1/sessions")
    assert during.status_code == 503
    assert during.json() == UNAVAILABLE
    assert after.status_code == 200
