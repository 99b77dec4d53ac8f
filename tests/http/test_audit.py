"""The audit log over HTTP: every change by whom, newest first, paginated, for owners only."""

import httpx
import pytest

from models import Role
from service.api.audit import list_changes
from service.api.paging import DEFAULT_PAGE_SIZE
from service.http import create_app
from tests.api.test_audit import insert_entries
from tests.factories import create_endpoint, create_key
from tests.support.http_client import asgi_client
from tests.support.live_server import live_server


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def key_id(key: str) -> str:
    """The public id inside a key (`spk_<id>_<secret>`)."""
    return key.split("_")[1]


@pytest.fixture
def app(required_settings, db):
    return create_app(required_settings, database=db)


async def test_a_scripted_sequence_is_listed_exactly_newest_first(app):
    await create_endpoint("echo-a", workspace="team")
    alice = await create_key("alice", Role.OWNER, workspace="team")
    bob = await create_key("bob", Role.EDITOR, workspace="team")
    viewer = await create_key("vic", Role.VIEWER, workspace="team")
    mallory = await create_key("mallory", Role.OWNER, workspace="elsewhere")
    async with asgi_client(app) as client:
        as_alice, as_bob = bearer(alice), bearer(bob)
        setup = (await client.get("/api/v1/admin/audit", headers=as_alice)).json()["entries"]

        async def ok(response, status=200):
            assert response.status_code == status, response.text
            return response

        body = {"name": "Audit Run", "endpoints": ["echo-a"]}
        await ok(await client.post("/api/v1/sessions", json=body, headers=as_bob))
        await ok(await client.put(
            "/api/v1/sessions/audit-run/metric/exactstrmatch", headers=as_alice
        ))
        etag = (await client.get("/api/v1/sessions/audit-run", headers=as_bob)).headers["etag"]
        await ok(await client.patch(
            "/api/v1/sessions/audit-run", json={"system_prompt": "Terse."},
            headers={**as_bob, "If-Match": etag},
        ))
        # Refused changes are not changes: none of these is recorded.
        await ok(await client.post("/api/v1/sessions", json=body, headers=as_bob), 409)
        await ok(await client.put("/api/v1/sessions/audit-run/metric/nope", headers=as_bob), 422)
        await ok(await client.delete("/api/v1/sessions/audit-run", headers=bearer(viewer)), 403)
        await ok(await client.patch(
            "/api/v1/sessions/audit-run", json={"system_prompt": "Lost."},
            headers={**as_bob, "If-Match": etag},
        ), 412)
        await ok(await client.put(
            "/api/v1/admin/members/vic", json={"role": "editor"}, headers=as_alice
        ))
        created = await ok(await client.post(
            "/api/v1/admin/keys", json={"label": "ci"}, headers=as_alice
        ), 201)
        prefix = created.json()["prefix"]
        await ok(await client.delete(f"/api/v1/admin/keys/{prefix}", headers=as_alice))
        await ok(await client.delete("/api/v1/admin/members/vic", headers=as_alice))
        await ok(await client.delete("/api/v1/sessions/audit-run", headers=as_bob))

        listing = await ok(await client.get("/api/v1/admin/audit", headers=as_alice))
        entries = listing.json()["entries"]
        # Each names who acted and with which key.
        a, b = key_id(alice), key_id(bob)
        assert [
            (e["actor"], e["key_id"], e["action"], e["target"]) for e in entries[: -len(setup)]
        ] == [
            ("bob", b, "DELETE /api/v1/sessions/{runner_id}", "audit-run"),
            ("alice", a, "member.removed", "vic"),
            ("alice", a, "api_key.revoked", prefix),
            ("alice", a, "api_key.created", prefix),
            ("alice", a, "member.role_changed", "vic"),
            ("bob", b, "PATCH /api/v1/sessions/{runner_id}", "audit-run"),
            ("alice", a, "PUT /api/v1/sessions/{runner_id}/metric/{metric_name}", "audit-run"),
            ("bob", b, "POST /api/v1/sessions", "Audit Run"),
        ]
        assert entries[-len(setup):] == setup
        assert all(entry["workspace"] == "team" for entry in entries)
        times = [entry["at"] for entry in entries]
        assert times == sorted(times, reverse=True)

        # Page by page, the same entries.
        paged, cursor = [], None
        while True:
            params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/api/v1/admin/audit", params=params, headers=as_alice)).json()
            paged += page["entries"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert paged == entries

        # Only owners read it, and each owner only their workspace's.
        refused = await client.get("/api/v1/admin/audit", headers=as_bob)
        assert refused.status_code == 403
        other = await client.get("/api/v1/admin/audit", headers=bearer(mallory))
        assert other.status_code == 200
        assert "audit-run" not in other.text and "alice" not in other.text


async def test_bad_paging_is_422_naming_the_field(app):
    alice = await create_key("alice", Role.OWNER, workspace="team")
    async with asgi_client(app, headers=bearer(alice)) as client:
        for params, field in [({"limit": 0}, "limit"), ({"cursor": "elsewhere|1|x"}, "cursor")]:
            response = await client.get("/api/v1/admin/audit", params=params)
            assert response.status_code == 422, response.text
            assert field in str(response.json()["error"][0]["loc"])


async def test_without_limit_one_default_page_and_a_cursor_over_http(app):
    alice = await create_key("alice", Role.OWNER, workspace="team")
    # Making the key was audited too: those entries are the newest of all.
    setup = [entry.id for entry in (await list_changes(workspace="team")).entries]
    expected = setup + await insert_entries("team", 3_000)
    async with live_server(app) as url, httpx.AsyncClient(
        base_url=url, headers=bearer(alice), timeout=60
    ) as client:
        first = (await client.get("/api/v1/admin/audit")).json()
        assert [entry["id"] for entry in first["entries"]] == expected[:DEFAULT_PAGE_SIZE]
        assert first["next_cursor"] == expected[DEFAULT_PAGE_SIZE - 1]
        second = (await client.get(
            "/api/v1/admin/audit", params={"cursor": first["next_cursor"], "limit": 1000}
        )).json()
        assert [entry["id"] for entry in second["entries"]] == expected[100:1100]
        assert second["next_cursor"] == expected[1099]
        too_big = await client.get("/api/v1/admin/audit", params={"limit": 1001})
        assert too_big.status_code == 422
        assert too_big.json()["error"][0]["loc"] == ["query", "limit"]
