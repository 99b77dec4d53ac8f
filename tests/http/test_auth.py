"""Authentication over HTTP: keys, the two modes, trusted clients and choosing a workspace."""

import re
import time

import pytest
from pydantic import ValidationError

from models import ApiKey, AuditEntry, Membership, Role, Runner, User, Workspace
from service.api import api_get_all_chats_from_session
from service.api.accounts import INVALID_KEY, LOCAL_USER, ONE_WORKSPACE, ensure_local_owner
from service.cli import main
from service.http import create_app
from service.http.auth import LocalAuthOnPublicBind
from service.settings import Settings
from tests.factories import create_endpoint, create_key, create_member, create_runner
from tests.support.http_client import asgi_client

PUBLIC_ROUTES = ["/health", "/ready", "/schema/openapi.json"]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def concrete_path(path_format: str) -> str:
    """A request path for a route template, its parameters filled with plausible values."""
    return re.sub(r"\{[^}]+\}", "x1", path_format)


def protected_routes(app) -> list[tuple[str, str]]:
    """Every (method, path) of the app's route table except the public ones."""
    routes = []
    for route in app.routes:
        for method in getattr(route, "route_handler_map", {}):
            path = concrete_path(route.path_format)
            # /metrics is keyless too: it answers by client address (tests/metrics).
            if not re.match(r"^/(health|ready|metrics)$|^/schema(/|$)", route.path_format):
                routes.append((method, path))
    return sorted(routes)


@pytest.fixture
async def required_app(required_settings, db):
    return create_app(required_settings, database=db)


class TestRequiredMode:
    async def test_no_key_is_401_on_every_protected_route(self, required_app):
        routes = protected_routes(required_app)
        # The table is the app's own, so a route added later is in it without anyone adding it.
        assert ("GET", "/api/v1/sessions") in routes and ("PATCH", "/api/v1/sessions/x1") in routes
        assert len(routes) > 40
        async with asgi_client(required_app) as client:
            for method, path in routes:
                response = await client.request(method, path)
                assert response.status_code == 401, (method, path, response.text)
                assert response.json()["detail"].startswith("An API key is required")
                assert response.headers["www-authenticate"] == "Bearer"
        assert await Runner.count() == 0

    async def test_public_routes_answer_without_a_key(self, required_app):
        async with asgi_client(required_app) as client:
            for path in PUBLIC_ROUTES:
                assert (await client.get(path)).status_code == 200, path
            schema = (await client.get("/schema/openapi.json")).json()
        # The OpenAPI document says how to send a key.
        assert set(schema["components"]["securitySchemes"]) == {"bearer", "apiKey"}
        assert schema["security"] == [{"bearer": []}, {"apiKey": []}]

    async def test_a_key_works_in_either_header(self, required_app):
        key = await create_key("alice", Role.VIEWER, workspace="team")
        await create_runner("Team Run", workspace="team")
        async with asgi_client(required_app) as client:
            for headers in (bearer(key), {"X-API-Key": key}, {"authorization": f"bearer {key}"}):
                response = await client.get("/api/v1/sessions/name", headers=headers)
                assert response.status_code == 200, response.text
                assert response.json() == ["team-run"]

    @pytest.mark.parametrize(
        "headers",
        [
            {"Authorization": "Basic YWxpY2U6cHc="},
            {"Authorization": "Bearer"},
            {"Authorization": "Bearer spk_nothing_here"},
            {"X-API-Key": "not-a-key"},
        ],
        ids=["basic", "empty-bearer", "unknown-key", "junk-x-api-key"],
    )
    async def test_bad_credentials_are_401(self, required_app, headers):
        async with asgi_client(required_app) as client:
            response = await client.get("/api/v1/sessions", headers=headers)
        assert response.status_code == 401
        assert "detail" in response.json()

    async def test_the_default_whenever_the_bind_is_not_loopback(self, settings):
        public = Settings(**{**settings.model_dump(), "auth": None, "host": "0.0.0.0"})
        assert public.auth == "required"
        assert Settings(**{**settings.model_dump(), "auth": None}).auth == "local"


class TestKeyLifecycle:
    async def test_created_works_revoked_and_expired_do_not(self, required_app, db):
        owner = await create_key("olga", Role.OWNER, workspace="team")
        await create_key("eve", Role.EDITOR, workspace="team")
        async with asgi_client(required_app, headers=bearer(owner)) as client:
            refused = await client.post("/api/v1/admin/keys", json={"user": "eve"})
            assert refused.status_code == 403, refused.text
            created = await client.post(
                "/api/v1/admin/keys", json={"user": "olga", "label": "laptop"}
            )
            assert created.status_code == 201, created.text
            key, prefix = created.json()["key"], created.json()["prefix"]

            assert (await client.get("/api/v1/sessions", headers=bearer(key))).status_code == 200

            # Never shown again: not in the listing, nor anywhere in the database.
            listed = await client.get("/api/v1/admin/keys")
            assert key not in listed.text
            assert {(item["prefix"], item["label"]) for item in listed.json()} >= {
                (prefix, "laptop")
            }
            stored = await ApiKey.get_pymongo_collection().find_one({"prefix": prefix})
            # The secret part may itself contain "_", so it is cut off by the known prefix.
            secret = key.removeprefix(f"{prefix}_")
            assert len(secret) >= 40
            assert key not in repr(stored) and secret not in repr(stored)

            revoked = await client.delete(f"/api/v1/admin/keys/{prefix}")
            assert revoked.status_code == 200 and revoked.json()["revoked"] is True
            response = await client.get("/api/v1/sessions", headers=bearer(key))
            assert response.status_code == 401
            assert response.json() == {"detail": INVALID_KEY}

    async def test_an_expired_key_is_401(self, required_app):
        key = await create_key("eve", Role.EDITOR, workspace="team", expires_at=time.time() + 3600)
        async with asgi_client(required_app, headers=bearer(key)) as client:
            assert (await client.get("/api/v1/sessions")).status_code == 200
            await ApiKey.get_pymongo_collection().update_many(
                {"user": "eve"}, {"$set": {"expires_at": time.time() - 1}}
            )
            response = await client.get("/api/v1/sessions")
        assert response.status_code == 401
        assert response.json() == {"detail": INVALID_KEY}

    async def test_creating_a_key_with_bad_input_is_422_and_stores_nothing(self, required_app):
        owner = await create_key("olga", Role.OWNER, workspace="team")
        before = await ApiKey.count()
        async with asgi_client(required_app, headers=bearer(owner)) as client:
            for body, field in [
                ({"user": ""}, "user"),
                ({"user": "olga", "expires_in_days": 0}, "expires_in_days"),
                ({"label": "x" * 201}, "label"),
                ({"user": "olga", "secret": "mine"}, "secret"),
            ]:
                response = await client.post("/api/v1/admin/keys", json=body)
                assert response.status_code == 422, (body, response.text)
                assert field in str(response.json()["error"][0]["loc"]), response.text
        assert await ApiKey.count() == before


class TestWorkspaces:
    async def test_a_key_acts_only_in_the_workspace_it_was_made_in(self, required_app):
        key = await create_key("alice", Role.VIEWER, workspace="alpha")
        await create_key("alice", Role.EDITOR, workspace="beta")
        await create_key("bob", Role.OWNER, workspace="secret-lab")
        await create_runner("In Alpha", workspace="alpha")
        await create_runner("In Beta", workspace="beta")
        async with asgi_client(required_app, headers=bearer(key)) as client:
            assert (await client.get("/api/v1/sessions/name")).json() == ["in-alpha"]
            same = await client.get("/api/v1/sessions/name", headers={"X-Workspace": "alpha"})
            assert same.json() == ["in-alpha"]
            # Not where alice edits, nor someone else's, nor a missing one: all answer alike.
            for workspace in ("beta", "secret-lab", "nowhere-lab"):
                response = await client.delete(
                    "/api/v1/sessions/in-beta", headers={"X-Workspace": workspace}
                )
                assert response.status_code == 403, (workspace, response.text)
                assert response.json() == {"detail": ONE_WORKSPACE}
        assert await Runner.find(Runner.workspace == "beta").count() == 1


class TestLocalMode:
    async def test_key_less_requests_act_as_owner_of_default(self, settings, db):
        app = create_app(settings, database=db)
        await create_endpoint("echo-a")
        async with asgi_client(app) as client:
            created = await client.post(
                "/api/v1/sessions", json={"name": "Laptop Run", "endpoints": ["echo-a"]}
            )
            assert created.status_code == 200, created.text
            # Owner: the audit log is readable.
            audit = await client.get("/api/v1/admin/audit")
            assert audit.status_code == 200
            assert [entry["actor"] for entry in audit.json()["entries"]] == [LOCAL_USER]
            # Made once, however many requests there are.
            await client.get("/api/v1/sessions")
        assert await Workspace.count() == 1 and await User.count() == 1
        assert (await Membership.get(f"default|{LOCAL_USER}")).role is Role.OWNER
        assert await Runner.find(Runner.workspace == "default").count() == 1

    async def test_the_local_user_is_a_server_admin(self, settings, db):
        app = create_app(settings, database=db)
        async with asgi_client(app) as client:
            user = await client.post("/api/v1/admin/users", json={"name": "vera"})
            assert user.status_code == 201, user.text
            workspace = await client.post("/api/v1/admin/workspaces", json={"name": "lab"})
            assert workspace.status_code == 201, workspace.text
            reserved = await client.post("/api/v1/admin/users", json={"name": "cli"})
            assert reserved.status_code == 422, reserved.text
        assert (await Membership.get(f"lab|{LOCAL_USER}")).role is Role.OWNER

    async def test_a_key_still_counts_in_local_mode(self, settings, db):
        # The local owner's workspace: "default" is reserved, so only the service makes it.
        await ensure_local_owner()
        key = await create_key("vera", Role.VIEWER, workspace="default")
        app = create_app(settings, database=db)
        async with asgi_client(app) as client:
            response = await client.post(
                "/api/v1/sessions", json={"name": "Nope", "endpoints": ["echo-a"]},
                headers=bearer(key),
            )
            assert response.status_code == 403
            bad = await client.get("/api/v1/sessions", headers=bearer(key + "x"))
            assert bad.status_code == 401
            # X-Workspace moves key-less requests, never a key.
            await create_member(LOCAL_USER, Role.OWNER, workspace="lab")
            assert (await client.get("/api/v1/sessions", headers={"X-Workspace": "lab"})).is_success
            moved = await client.get(
                "/api/v1/sessions", headers={**bearer(key), "X-Workspace": "lab"}
            )
            assert moved.status_code == 403, moved.text

    async def test_other_workspaces_are_404(self, settings, db):
        await create_key("bob", Role.OWNER, workspace="elsewhere")
        app = create_app(settings, database=db)
        async with asgi_client(app) as client:
            response = await client.get("/api/v1/sessions", headers={"X-Workspace": "elsewhere"})
        assert response.status_code == 404

    def test_refuses_a_non_loopback_bind(self, settings):
        with pytest.raises(ValidationError, match="only allowed when the server binds to a loop"):
            Settings(**{**settings.model_dump(), "host": "0.0.0.0", "auth": "local"})
        # Settings changed after validation are checked again when the app is built.
        changed = settings.model_copy(update={"host": "192.168.1.20", "auth": "local"})
        with pytest.raises(LocalAuthOnPublicBind, match=r"SPARRING_HOST is '192.168.1.20'"):
            create_app(changed)

    def test_serve_refuses_before_listening(self, monkeypatch, tmp_path):
        monkeypatch.setenv("SPARRING_AUTH", "local")
        monkeypatch.setenv("SPARRING_DATA_DIR", str(tmp_path))
        with pytest.raises(SystemExit, match=r"SPARRING_AUTH=local .* loopback"):
            main(["serve", "--host", "0.0.0.0"])

    @pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
    def test_allows_loopback_binds(self, settings, host):
        assert Settings(**{**settings.model_dump(), "host": host, "auth": "local"}).auth == "local"


class TestTrustedClients:
    @pytest.fixture
    def trusted_app(self, required_settings, db):
        settings = Settings(
            **{
                **required_settings.model_dump(),
                "trusted_clients": ["10.0.0.7", "192.168.50.0/24"],
                "trusted_user": "moonshot-ui",
            }
        )
        return create_app(settings, database=db)

    async def test_listed_addresses_act_as_the_trusted_user(self, trusted_app):
        await create_key("moonshot-ui", Role.EDITOR, workspace="team")
        await create_endpoint("echo-a", workspace="team")
        for address in ("10.0.0.7", "192.168.50.33"):
            async with asgi_client(trusted_app, client_address=address) as client:
                created = await client.post(
                    "/api/v1/sessions",
                    json={"name": f"From {address}", "endpoints": ["echo-a"]},
                )
                assert created.status_code == 200, created.text
        assert await Runner.find(Runner.workspace == "team").count() == 2
        entries = AuditEntry.find(AuditEntry.workspace == "team", AuditEntry.actor == "moonshot-ui")
        assert await entries.count() == 2

    async def test_other_addresses_are_401(self, trusted_app):
        await create_key("moonshot-ui", Role.EDITOR, workspace="team")
        for address in ("10.0.0.8", "127.0.0.1", "192.168.51.1"):
            async with asgi_client(trusted_app, client_address=address) as client:
                response = await client.get("/api/v1/sessions")
                assert response.status_code == 401, address
        assert await Runner.count() == 0

    async def test_the_trusted_user_keeps_their_role(self, trusted_app):
        await create_key("moonshot-ui", Role.VIEWER, workspace="team")
        async with asgi_client(trusted_app, client_address="10.0.0.7") as client:
            assert (await client.get("/api/v1/sessions")).status_code == 200
            response = await client.post(
                "/api/v1/sessions", json={"name": "Not Allowed", "endpoints": ["echo-a"]}
            )
        assert response.status_code == 403

    async def test_x_workspace_chooses_among_the_trusted_users_workspaces(self, trusted_app):
        await create_member("moonshot-ui", Role.VIEWER, workspace="alpha")
        await create_member("moonshot-ui", Role.EDITOR, workspace="beta")
        await create_member("bob", Role.OWNER, workspace="secret-lab")
        await create_runner("In Alpha", workspace="alpha")
        await create_runner("In Beta", workspace="beta")
        async with asgi_client(trusted_app, client_address="10.0.0.7") as client:
            assert (await client.get("/api/v1/sessions/name")).json() == ["in-alpha"]
            chosen = await client.get("/api/v1/sessions/name", headers={"X-Workspace": "beta"})
            assert chosen.json() == ["in-beta"]
            # A viewer in alpha, an editor in beta.
            assert (await client.delete("/api/v1/sessions/in-alpha")).status_code == 403
            deleted = await client.delete(
                "/api/v1/sessions/in-beta", headers={"X-Workspace": "beta"}
            )
            assert deleted.status_code == 200
            # Someone else's workspace answers exactly like one that does not exist.
            theirs = await client.get("/api/v1/sessions", headers={"X-Workspace": "secret-lab"})
            missing = await client.get("/api/v1/sessions", headers={"X-Workspace": "nowhere-lab"})
        assert theirs.status_code == missing.status_code == 404
        assert theirs.json()["detail"].replace("secret-lab", "nowhere-lab") == (
            missing.json()["detail"]
        )

    def test_trusted_clients_need_a_user(self, required_settings):
        with pytest.raises(ValidationError, match="SPARRING_TRUSTED_USER"):
            Settings(**{**required_settings.model_dump(), "trusted_clients": ["10.0.0.7"]})
        with pytest.raises(ValidationError):
            Settings(
                **{
                    **required_settings.model_dump(),
                    "trusted_clients": ["not-an-address"],
                    "trusted_user": "ui",
                }
            )


class TestPromptsAndEvents:
    async def test_each_chat_record_names_who_sent_the_prompt(self, required_app):
        await create_endpoint("echo-a", workspace="team")
        alice = await create_key("alice", Role.EDITOR, workspace="team")
        bob = await create_key("bob", Role.EDITOR, workspace="team")
        await create_runner("Shared Run", endpoints=["echo-a"], workspace="team")
        async with asgi_client(required_app) as client:
            for key, text in ((alice, "from alice"), (bob, "from bob")):
                response = await client.post(
                    "/api/v1/sessions/shared-run/prompt",
                    json={"user_prompt": text, "history_length": 0},
                    headers=bearer(key),
                )
                assert response.status_code == 200, response.text
        chats = await api_get_all_chats_from_session("shared-run", workspace="team")
        assert [(record["prompt"], record["sent_by"]) for record in chats["echo-a"]] == [
            ("from alice", "alice"),
            ("from bob", "bob"),
        ]

    async def test_event_streams_also_take_the_key_in_the_query(self, required_app):
        await create_endpoint("echo-a", workspace="team")
        key = await create_key("vic", Role.VIEWER, workspace="team")
        await create_runner("Watched Run", endpoints=["echo-a"], workspace="team")
        events = "/api/v1/sessions/watched-run/events"
        async with asgi_client(required_app) as client:
            response = await client.get(events, params={"follow": "false", "access_token": key})
            assert response.status_code == 200, response.text
            assert response.headers["content-type"].startswith("text/event-stream")
            assert (await client.get(events, params={"follow": "false"})).status_code == 401
            # Only event streams: elsewhere a key in the URL would end up in access logs.
            other = await client.get("/api/v1/sessions", params={"access_token": key})
            assert other.status_code == 401
