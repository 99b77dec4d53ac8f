"""A web page the local user visits cannot drive or read a `local`-mode server.

A page may POST `text/plain` anywhere without a CORS preflight, and a DNS-rebinding page
reaches 127.0.0.1 under its own host name: the first is 415, the second 400, and CORS stays off
unless SPARRING_CORS_ORIGINS lists an origin.
"""

from urllib.parse import urlsplit

import pytest

from service.settings import Settings
from tests.factories import create_endpoint

NAMES = "/api/v1/sessions/name"
BODY = '{"name": "From a page", "endpoints": ["echo-a"]}'


def local(settings: Settings, **fields: object) -> Settings:
    return Settings(**{**settings.model_dump(), "auth": "local", **fields})


@pytest.fixture
def security_settings(settings: Settings) -> Settings:
    return local(settings, allowed_hosts=["sparring.test"])


@pytest.fixture
async def echo_endpoint(db) -> None:
    await create_endpoint("echo-a")


class TestContentType:
    @pytest.mark.parametrize(
        "content_type",
        [
            "text/plain",
            "text/plain; charset=utf-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonp",
            "",
        ],
    )
    async def test_a_body_not_sent_as_json_is_415_and_changes_nothing(
        self, world, echo_endpoint, content_type
    ):
        async with world.client() as client:
            response = await client.post(
                "/api/v1/sessions", content=BODY, headers={"content-type": content_type}
            )
            assert response.status_code == 415, response.text
            assert set(response.json()) == {"detail"}
            assert (await client.get(NAMES)).json() == []

    @pytest.mark.parametrize(
        "content_type",
        ["application/json", "application/json; charset=utf-8", "application/vnd.api+json"],
    )
    async def test_json_media_types_are_served(self, world, echo_endpoint, content_type):
        async with world.client() as client:
            response = await client.post(
                "/api/v1/sessions", content=BODY, headers={"content-type": content_type}
            )
            assert response.status_code == 200, response.text
            assert (await client.get(NAMES)).json() == ["from-a-page"]


class TestHost:
    @pytest.mark.parametrize(
        "host", ["attacker.example", "attacker.example:8000", "127.0.0.1.attacker.example",
                 "localhost.attacker.example", "sparring.test.attacker.example", ""],
    )
    async def test_a_foreign_host_is_400_and_reads_nothing(self, world, host):
        async with world.client(Host=host) as client:
            response = await client.get(NAMES)
            assert response.status_code == 400, response.text
            assert set(response.json()) == {"detail"}
            created = await client.post("/api/v1/sessions", content=BODY)
            assert created.status_code == 400

    @pytest.mark.parametrize(
        "host", ["localhost", "LOCALHOST:{port}", "127.0.0.1:{port}", "[::1]:{port}",
                 "sparring.test", "sparring.test:{port}"],
    )
    async def test_loopback_and_allowed_hosts_are_served(self, world, host):
        port = urlsplit(world.url).port
        async with world.client(Host=host.format(port=port)) as client:
            response = await client.get(NAMES)
        assert response.status_code == 200, response.text


class TestCors:
    async def test_off_by_default(self, world):
        origin = {"Origin": "http://attacker.example"}
        async with world.client(**origin) as client:
            response = await client.get(NAMES)
            preflight = await client.options(
                "/api/v1/sessions", headers={"Access-Control-Request-Method": "POST"}
            )
        assert response.status_code == 200
        for answer in (response, preflight):
            assert "access-control-allow-origin" not in answer.headers


class TestCorsOrigins:
    APP = "http://app.example"

    @pytest.fixture
    def security_settings(self, settings: Settings) -> Settings:
        return local(settings, cors_origins=[self.APP])

    async def test_only_listed_origins_are_allowed(self, world):
        async with world.client() as client:
            allowed = await client.get(NAMES, headers={"Origin": self.APP})
            other = await client.get(NAMES, headers={"Origin": "http://attacker.example"})
        assert allowed.headers.get("access-control-allow-origin") == self.APP
        assert other.headers.get("access-control-allow-origin") != "http://attacker.example"
        assert other.headers.get("access-control-allow-origin") in (None, self.APP)

    async def test_a_listed_origin_may_read_the_request_id_and_paging_headers(self, world):
        async with world.client(Origin=self.APP) as client:
            answer = await client.get("/api/v1/sessions")
        exposed = {
            name.strip().lower()
            for name in answer.headers.get("access-control-expose-headers", "").split(",")
        }
        assert {"x-request-id", "x-next-after", "etag"} <= exposed
        assert answer.headers["x-request-id"]


class TestCrossSitePages:
    """A page of another site may POST without a preflight and without a body (a bare form, or
    `fetch` in `no-cors` mode): the body check never sees it, so the page's origin decides."""

    ATTACKER = "http://attacker.example"

    @pytest.fixture
    async def session_id(self, world, echo_endpoint) -> str:
        async with world.client() as client:
            created = await client.post("/api/v1/sessions", content=BODY)
        assert created.status_code == 200, created.text
        return created.json()["session"]["session_id"]

    @pytest.mark.parametrize(
        "headers",
        [
            {"Origin": ATTACKER},
            {"Origin": "null"},
            {"Origin": "http://localhost.attacker.example"},
            {"Sec-Fetch-Site": "cross-site"},
        ],
    )
    async def test_a_bodiless_post_from_another_site_is_403(self, world, session_id, headers):
        async with world.client() as client:
            refused = await client.post(
                f"/api/v1/sessions/{session_id}/cancel",
                headers={**headers, "content-type": "application/x-www-form-urlencoded"},
            )
        assert refused.status_code == 403, refused.text
        assert "local mode" in refused.json()["detail"]

    async def test_a_change_from_another_site_changes_nothing(self, world, session_id):
        async with world.client(Origin=self.ATTACKER) as client:
            deleted = await client.delete(f"/api/v1/sessions/{session_id}")
            created = await client.post(
                "/api/v1/sessions", content=BODY.replace("From a page", "Second")
            )
            assert (deleted.status_code, created.status_code) == (403, 403)
            # Reads stay served: without CORS the page cannot read them anyway.
            names = await client.get(NAMES)
        assert names.json() == [session_id]

    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Origin": "http://localhost:3000"},
            {"Origin": "http://127.0.0.1:3000", "Sec-Fetch-Site": "same-site"},
            {"Sec-Fetch-Site": "same-origin"},
        ],
    )
    async def test_scripts_and_this_machines_pages_are_served(self, world, session_id, headers):
        async with world.client(**headers) as client:
            cancelled = await client.post(f"/api/v1/sessions/{session_id}/cancel")
        assert cancelled.status_code == 200, cancelled.text


class TestCrossSiteListedOrigin:
    APP = "http://app.example"

    @pytest.fixture
    def security_settings(self, settings: Settings) -> Settings:
        return local(settings, cors_origins=[self.APP + "/"])

    async def test_a_listed_origin_may_change_data(self, world, echo_endpoint):
        async with world.client(Origin=self.APP) as client:
            created = await client.post("/api/v1/sessions", content=BODY)
            assert created.status_code == 200, created.text
            assert (await client.get(NAMES)).json() == ["from-a-page"]
