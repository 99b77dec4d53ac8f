"""`GET /api/v1/benchmarks/status`: nothing runs benchmarks here, so it answers `{}` as Moonshot."""

import httpx

from models import Role
from service.http import create_app
from tests.factories import create_key
from tests.support.live_server import live_server

STATUS = "/api/v1/benchmarks/status"


async def test_answers_an_empty_object(live_client):
    response = await live_client.get(STATUS)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {}


async def test_needs_credentials_like_every_route(required_settings, db):
    key = await create_key("viewer", Role.VIEWER, workspace="wa")
    app = create_app(required_settings, database=db)
    async with live_server(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        assert (await client.get(STATUS)).status_code == 401
        answered = await client.get(STATUS, headers={"authorization": f"Bearer {key}"})
        assert answered.status_code == 200 and answered.json() == {}
        refused = await client.get(STATUS, headers={"authorization": "Bearer not-a-key"})
        assert refused.status_code == 401
