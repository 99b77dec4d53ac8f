"""Health, readiness and the OpenAPI document."""

import httpx
from pymongo import AsyncMongoClient

from service.database import Database
from service.http import create_app
from tests.support.asgi import app_lifespan


class TestHealth:
    async def test_health_does_not_need_the_database(self, client):
        response = await client.get("/health")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    async def test_moonshots_health_check(self, client):
        response = await client.get("/")
        assert response.json() == {"status": "web api is up and running"}

    async def test_ready_when_the_database_answers(self, client):
        response = await client.get("/ready")
        assert response.status_code == 200
        assert response.json() == {"status": "ready"}

    async def test_not_ready_when_the_database_does_not_answer(self, settings, db):
        # A client for a port nothing listens on, with a short server selection timeout.
        silent = AsyncMongoClient(
            "mongodb://127.0.0.1:9/?directConnection=true", serverSelectionTimeoutMS=200
        )
        unreachable = Database(
            database=silent["nothing"], client=silent, bucket_size=10,
            supports_transactions=False, owns_client=True,
        )
        app = create_app(settings, database=unreachable)
        try:
            async with app_lifespan(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://localhost"
                ) as client:
                    response = await client.get("/ready")
                    health = await client.get("/health")
        finally:
            await silent.close()
        assert response.status_code == 503
        assert response.json() == {"detail": "The database does not answer."}
        assert health.status_code == 200


class TestOpenApi:
    async def test_the_schema_documents_every_route(self, client, app):
        response = await client.get("/schema/openapi.json")
        assert response.status_code == 200
        document = response.json()
        assert document["info"]["title"] == "Sparring"
        paths = document["paths"]
        for route in (
            "/api/v1/sessions",
            "/api/v1/sessions/{runner_id}",
            "/api/v1/sessions/{runner_id}/context-strategy/{ctx_strategy_name}/{num_of_prompt}",
            "/api/v1/sessions/{runner_id}/chats/{endpoint}",
            "/api/v1/prompt-templates",
            "/health",
            "/ready",
        ):
            assert route in paths, route
        create = paths["/api/v1/sessions"]["post"]
        assert create["requestBody"]["required"] is True

    async def test_the_schema_page_is_served(self, client):
        response = await client.get("/schema")
        assert response.status_code == 200
        assert "html" in response.headers["content-type"]
