"""One owner must not take over another workspace, nor act for anyone but themselves.

The attack this defends against: dave (owner of wb) added alice to wb, minted a key for her,
and used it with `X-Workspace: wa` to make himself owner of wa, in alice's name. Each test
below closes one step of that path, or a neighbouring one.
"""

import time

import pytest

from models import ApiKey, AuditEntry, Membership, Role
from service.api.accounts import RESERVED_NAMES, create_user
from tests.factories import create_endpoint, create_key
from tests.security.conftest import WA, WB

ADMIN = "/api/v1/admin"
ONE_WORKSPACE = "An API key acts only in the workspace it was made in."
ONLY_YOURSELF = "Over HTTP a key can be made only for yourself."
INVALID = {"detail": "Invalid API key."}


def key_id(key: str) -> str:
    """The public id inside a key (`spk_<id>_<secret>`)."""
    return key.split("_")[1]


async def test_a_key_never_acts_outside_its_workspace(world):
    # Adding an existing user to one's own workspace stays an owner's right...
    async with world.client(world.dave) as dave:
        added = await dave.put(f"{ADMIN}/members/alice", json={"role": "viewer"})
        assert added.status_code == 200, added.text
    # ...but alice's wa key does not reach wb through it, nor dave's key wa.
    for key, elsewhere in ((world.alice, WB), (world.dave, WA), (world.carol, "nowhere")):
        async with world.client(key, **{"X-Workspace": elsewhere}) as client:
            listed = await client.get("/api/v1/sessions/name")
            promoted = await client.put(f"{ADMIN}/members/dave", json={"role": "owner"})
        for response in (listed, promoted):
            assert response.status_code == 403, response.text
            assert response.json() == {"detail": ONE_WORKSPACE}
    assert await Membership.get(f"{WA}|dave") is None
    # Naming the key's own workspace is fine.
    async with world.client(world.alice, **{"X-Workspace": WA}) as alice:
        assert (await alice.get("/api/v1/sessions/name")).status_code == 200


async def test_an_owner_cannot_mint_a_key_for_another_user(world):
    before = await ApiKey.find(ApiKey.user == "alice").count()
    async with world.client(world.dave) as dave:
        assert (await dave.put(f"{ADMIN}/members/alice", json={"role": "viewer"})).is_success
        refused = await dave.post(f"{ADMIN}/keys", json={"user": "alice"})
        assert refused.status_code == 403, refused.text
        assert refused.json() == {"detail": ONLY_YOURSELF}
        # For himself, named or not, in his own workspace.
        for body in ({}, {"user": "dave", "label": "ci"}):
            made = await dave.post(f"{ADMIN}/keys", json=body)
            assert made.status_code == 201, made.text
            assert (made.json()["user"], made.json()["workspace"]) == ("dave", WB)
    assert await ApiKey.find(ApiKey.user == "alice").count() == before


async def test_members_manage_only_their_own_keys(world):
    async with world.client(world.carol) as carol:
        made = await carol.post(f"{ADMIN}/keys", json={"label": "laptop"})
        assert made.status_code == 201, made.text
        assert (made.json()["user"], made.json()["workspace"]) == ("carol", WA)
        mine = {item["user"] for item in (await carol.get(f"{ADMIN}/keys")).json()}
        assert mine == {"carol"}
        others = await carol.get(f"{ADMIN}/keys", params={"user": "bob"})
        assert others.status_code == 403, others.text
        # Someone else's key is as unknown to her as a missing one.
        theirs = await carol.delete(f"{ADMIN}/keys/{key_id(world.bob)}")
        missing = await carol.delete(f"{ADMIN}/keys/000000000000")
        assert theirs.status_code == missing.status_code == 404
        assert theirs.text.replace(key_id(world.bob), "000000000000") == missing.text
        own = await carol.delete(f"{ADMIN}/keys/{made.json()['id']}")
        assert own.status_code == 200 and own.json()["revoked"] is True
    async with world.client(world.bob) as bob:
        assert (await bob.get("/api/v1/sessions/name")).status_code == 200
    # The owner sees and revokes every key of the workspace, and only of it.
    async with world.client(world.alice) as alice:
        users = {item["user"] for item in (await alice.get(f"{ADMIN}/keys")).json()}
        assert users == {"alice", "bob", "carol"}
        revoked = await alice.delete(f"{ADMIN}/keys/{key_id(world.bob)}")
        assert revoked.status_code == 200, revoked.text
        assert (await alice.delete(f"{ADMIN}/keys/{key_id(world.dave)}")).status_code == 404


async def test_only_server_admins_create_users_and_workspaces(world):
    for key in (world.alice, world.dave, world.carol):
        async with world.client(key) as client:
            user = await client.post(f"{ADMIN}/users", json={"name": "mole"})
            workspace = await client.post(f"{ADMIN}/workspaces", json={"name": "annex"})
        for response in (user, workspace):
            assert response.status_code == 403, response.text
            assert "server admin" in response.json()["detail"]
    await create_user("ada", admin=True)
    admin = await create_key("ada", Role.VIEWER, workspace=WB)
    async with world.client(admin) as ada:
        user = await ada.post(f"{ADMIN}/users", json={"name": "mole"})
        assert user.status_code == 201, user.text
        assert user.json()["admin"] is False
        workspace = await ada.post(f"{ADMIN}/workspaces", json={"name": "annex"})
        assert workspace.status_code == 201, workspace.text
    assert (await Membership.get("annex|ada")).role is Role.OWNER


async def test_reserved_names_are_refused(world):
    assert {"default", "local", "cli", "admin", "system", "root", "anonymous"} <= RESERVED_NAMES
    await create_user("ada", admin=True)
    admin = await create_key("ada", Role.VIEWER, workspace=WB)
    async with world.client(admin) as ada:
        for name in sorted(RESERVED_NAMES):
            for path in (f"{ADMIN}/users", f"{ADMIN}/workspaces"):
                response = await ada.post(path, json={"name": name})
                assert response.status_code == 422, (path, response.text)
                error = response.json()["error"][0]
                assert error["loc"] == ["body", "name"] and "reserved" in error["msg"]


async def test_audit_names_the_key_that_acted(world):
    await create_endpoint("echo-a", workspace=WA)
    async with world.client(world.bob) as bob:
        made = await bob.post("/api/v1/sessions", json={"name": "Keyed", "endpoints": ["echo-a"]})
        assert made.status_code == 200, made.text
    async with world.client(world.alice) as alice:
        changed = await alice.put(f"{ADMIN}/members/carol", json={"role": "editor"})
        assert changed.status_code == 200, changed.text
    async with world.client(world.carol) as carol:
        assert (await carol.post(f"{ADMIN}/keys", json={})).status_code == 201
    async with world.client(world.alice) as alice:
        entries = (await alice.get(f"{ADMIN}/audit")).json()["entries"]
    acted = [(entry["actor"], entry["key_id"], entry["action"]) for entry in entries[:3]]
    assert acted == [
        ("carol", key_id(world.carol), "api_key.created"),
        ("alice", key_id(world.alice), "member.role_changed"),
        ("bob", key_id(world.bob), "POST /api/v1/sessions"),
    ]
    # Set-up done from Python, with no key, names none.
    stored = await AuditEntry.find(AuditEntry.actor == "factory").to_list()
    assert stored and {entry.key_id for entry in stored} == {""}


@pytest.mark.parametrize("state", ["revoked", "expired", "unknown", "tampered"])
async def test_revoked_expired_and_unknown_keys_get_one_message(world, state):
    key = world.carol
    if state == "revoked":
        await ApiKey.get_pymongo_collection().update_one(
            {"_id": key_id(key)}, {"$set": {"revoked": True, "revoked_at": time.time()}}
        )
    elif state == "expired":
        await ApiKey.get_pymongo_collection().update_one(
            {"_id": key_id(key)}, {"$set": {"expires_at": time.time() - 1}}
        )
    elif state == "unknown":
        key = "spk_000000000000_" + key.rsplit("_", 1)[-1]
    else:
        key = key[:-1] + ("A" if key[-1] != "A" else "B")
    async with world.client(key) as client:
        response = await client.get("/api/v1/sessions/name")
    assert response.status_code == 401
    assert response.json() == INVALID
    assert response.headers["www-authenticate"] == "Bearer"
