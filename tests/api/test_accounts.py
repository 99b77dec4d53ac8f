"""Users, workspaces, memberships and API keys, on both database tiers."""

import time

import pytest

from models import ApiKey, AuditEntry, Membership, Role, User, Workspace
from service.api.accounts import (
    LOCAL_USER,
    MemberInfo,
    Principal,
    add_member,
    authenticate_key,
    create_api_key,
    create_user,
    create_workspace,
    ensure_local_owner,
    get_user,
    list_api_keys,
    list_members,
    principal_for_user,
    remove_member,
    revoke_api_key,
)
from service.api.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from tests.factories import TEST_KEY_SECRET, create_member

SECRET = TEST_KEY_SECRET


async def audit_actions(workspace: str) -> list[tuple[str, str, str]]:
    entries = AuditEntry.find(AuditEntry.workspace == workspace).sort("-_id")
    return [(entry.actor, entry.action, entry.target) async for entry in entries]


class TestCreateUser:
    async def test_creates_and_reads_back(self, db):
        created = await create_user("alice", display_name="Alice")
        assert created.name == "alice" and created.default_workspace is None
        assert await get_user("alice") == created

    async def test_duplicate_is_a_conflict(self, db):
        await create_user("alice")
        with pytest.raises(Conflict, match="User alice already exists."):
            await create_user("alice")
        assert await User.count() == 1

    @pytest.mark.parametrize("name", ["", "Alice", "a|b", "-lead", "x" * 64, "a b"])
    async def test_bad_names_name_the_field(self, db, name):
        with pytest.raises(InvalidInput) as raised:
            await create_user(name)
        assert raised.value.field == "name"
        assert await User.count() == 0

    async def test_unknown_user_is_not_found(self, db):
        with pytest.raises(NotFound, match="User ghost does not exist."):
            await get_user("ghost")


class TestCreateWorkspace:
    async def test_owner_becomes_member_and_default(self, db):
        await create_user("alice")
        await create_workspace("team", owner="alice", actor="cli")
        assert await list_members(workspace="team") == [MemberInfo(user="alice", role=Role.OWNER)]
        assert (await get_user("alice")).default_workspace == "team"
        assert await audit_actions("team") == [("cli", "member.added", "alice")]

    async def test_duplicate_is_a_conflict(self, db):
        await create_workspace("team", actor="cli")
        with pytest.raises(Conflict, match="Workspace team already exists."):
            await create_workspace("team", actor="cli")

    async def test_unknown_owner_is_bad_input_and_creates_nothing(self, db):
        with pytest.raises(InvalidInput) as raised:
            await create_workspace("team", owner="ghost", actor="cli")
        assert raised.value.field == "owner"
        assert await Workspace.count() == 0

    async def test_bad_name(self, db):
        with pytest.raises(InvalidInput) as raised:
            await create_workspace("Team Space", actor="cli")
        assert raised.value.field == "name"


class TestMembers:
    async def test_add_change_and_remove_are_audited(self, db):
        await create_member("alice", Role.OWNER, workspace="team")
        await create_user("bob")
        await add_member("bob", Role.VIEWER, workspace="team", actor="alice")
        await add_member("bob", Role.EDITOR, workspace="team", actor="alice")
        await add_member("bob", Role.EDITOR, workspace="team", actor="alice")
        members = {member.user: member.role for member in await list_members(workspace="team")}
        assert members == {"alice": Role.OWNER, "bob": Role.EDITOR}
        await remove_member("bob", workspace="team", actor="alice")
        assert [m.user for m in await list_members(workspace="team")] == ["alice"]
        assert (await audit_actions("team"))[:3] == [
            ("alice", "member.removed", "bob"),
            ("alice", "member.role_changed", "bob"),
            ("alice", "member.added", "bob"),
        ]

    async def test_first_membership_is_the_default_workspace(self, db):
        await create_member("alice", Role.EDITOR, workspace="first")
        await create_member("alice", Role.VIEWER, workspace="second")
        assert (await get_user("alice")).default_workspace == "first"

    async def test_the_last_owner_stays(self, db):
        await create_member("alice", Role.OWNER, workspace="team")
        with pytest.raises(Conflict, match="must keep at least one owner"):
            await remove_member("alice", workspace="team", actor="alice")
        with pytest.raises(Conflict, match="must keep at least one owner"):
            await add_member("alice", Role.EDITOR, workspace="team", actor="alice")
        assert (await Membership.get("team|alice")).role is Role.OWNER

    async def test_a_second_owner_lets_the_first_go(self, db):
        await create_member("alice", Role.OWNER, workspace="team")
        await create_member("bob", Role.OWNER, workspace="team")
        await remove_member("alice", workspace="team", actor="bob")
        assert [m.user for m in await list_members(workspace="team")] == ["bob"]

    async def test_bad_input(self, db):
        await create_member("alice", Role.OWNER, workspace="team")
        with pytest.raises(InvalidInput) as raised:
            await add_member("alice", "admin", workspace="team", actor="alice")
        assert raised.value.field == "role"
        with pytest.raises(InvalidInput) as raised:
            await add_member("ghost", Role.VIEWER, workspace="team", actor="alice")
        assert raised.value.field == "user"
        with pytest.raises(NotFound, match="Workspace nowhere does not exist."):
            await add_member("alice", Role.VIEWER, workspace="nowhere", actor="alice")
        with pytest.raises(NotFound):
            await remove_member("ghost", workspace="team", actor="alice")
        assert await Membership.count() == 1

    async def test_listing_is_scoped_to_the_workspace(self, db):
        await create_member("alice", Role.OWNER, workspace="alpha")
        await create_member("bob", Role.OWNER, workspace="beta")
        assert [m.user for m in await list_members(workspace="alpha")] == ["alice"]
        with pytest.raises(NotFound):
            await remove_member("bob", workspace="alpha", actor="alice")


class TestApiKeys:
    async def test_lifecycle(self, db):
        await create_member("alice", Role.EDITOR, workspace="team")
        created = await create_api_key(
            "alice", workspace="team", secret=SECRET, actor="cli", label="laptop"
        )
        assert created.key.startswith(created.prefix + "_")
        assert created.prefix == f"spk_{created.id}"

        principal = await authenticate_key(created.key, secret=SECRET)
        assert principal == Principal(
            user="alice", workspace="team", role=Role.EDITOR, key_id=created.id
        )

        listed = await list_api_keys(workspace="team")
        assert [(key.prefix, key.label, key.revoked) for key in listed] == [
            (created.prefix, "laptop", False)
        ]
        assert "key" not in listed[0].model_dump()

        await revoke_api_key(created.prefix, workspace="team", actor="alice")
        with pytest.raises(Unauthenticated, match="revoked"):
            await authenticate_key(created.key, secret=SECRET)
        assert (await list_api_keys(workspace="team"))[0].revoked is True
        assert await audit_actions("team") == [
            ("alice", "api_key.revoked", created.prefix),
            ("cli", "api_key.created", created.prefix),
            ("factory", "member.added", "alice"),
        ]

    async def test_the_database_holds_no_key_in_clear(self, db):
        await create_member("alice", Role.VIEWER, workspace="team")
        created = await create_api_key("alice", workspace="team", secret=SECRET, actor="cli")
        stored = await ApiKey.get_pymongo_collection().find_one({"_id": created.id})
        secret_part = created.key.removeprefix(created.prefix + "_")
        flattened = repr(stored)
        assert created.key not in flattened and secret_part not in flattened
        assert set(stored) == {
            "_id", "prefix", "digest", "user", "workspace", "label", "created_at",
            "expires_at", "revoked", "revoked_at",
        }
        assert len(stored["digest"]) == 64

    async def test_another_secret_does_not_verify(self, db):
        await create_member("alice", Role.VIEWER, workspace="team")
        created = await create_api_key("alice", workspace="team", secret=SECRET, actor="cli")
        with pytest.raises(Unauthenticated, match="Invalid API key."):
            await authenticate_key(created.key, secret=b"another-secret-of-the-same-size!")

    @pytest.mark.parametrize(
        "transform",
        [
            lambda key: key[:-1] + ("A" if key[-1] != "A" else "B"),
            lambda key: "spk_000000000000_" + key.rsplit("_", 1)[-1],
            lambda key: "",
            lambda key: "Bearer",
            lambda key: key.replace("spk_", "xyz_", 1),
        ],
        ids=["tampered", "unknown-id", "empty", "junk", "other-scheme"],
    )
    async def test_invalid_keys(self, db, transform):
        await create_member("alice", Role.VIEWER, workspace="team")
        created = await create_api_key("alice", workspace="team", secret=SECRET, actor="cli")
        with pytest.raises(Unauthenticated, match="Invalid API key."):
            await authenticate_key(transform(created.key), secret=SECRET)

    async def test_expired_key(self, db):
        await create_member("alice", Role.VIEWER, workspace="team")
        created = await create_api_key(
            "alice", workspace="team", secret=SECRET, actor="cli", expires_at=time.time() + 60
        )
        await ApiKey.get_pymongo_collection().update_one(
            {"_id": created.id}, {"$set": {"expires_at": time.time() - 1}}
        )
        with pytest.raises(Unauthenticated, match="expired"):
            await authenticate_key(created.key, secret=SECRET)

    async def test_creation_rejects_bad_input_and_stores_nothing(self, db):
        await create_member("alice", Role.OWNER, workspace="team")
        await create_user("stranger")
        cases = [
            (dict(user="stranger"), "user"),
            (dict(user="ghost"), "user"),
            (dict(user="alice", expires_at=time.time() - 5), "expires_at"),
            (dict(user="alice", label="x" * 201), "label"),
        ]
        for arguments, field in cases:
            user = arguments.pop("user")
            with pytest.raises(InvalidInput) as raised:
                await create_api_key(
                    user, workspace="team", secret=SECRET, actor="alice", **arguments
                )
            assert raised.value.field == field
        assert await ApiKey.count() == 0

    async def test_revoking_is_scoped_and_idempotent(self, db):
        await create_member("alice", Role.OWNER, workspace="alpha")
        await create_member("bob", Role.OWNER, workspace="beta")
        key = await create_api_key("alice", workspace="alpha", secret=SECRET, actor="cli")
        with pytest.raises(NotFound, match=f"API key {key.id} does not exist."):
            await revoke_api_key(key.id, workspace="beta", actor="bob")
        assert (await authenticate_key(key.key, secret=SECRET)).user == "alice"
        assert (await revoke_api_key(key.id, workspace="alpha", actor="alice")).revoked
        assert (await revoke_api_key(key.id, workspace="alpha", actor="alice")).revoked
        actions = [action for _, action, _ in await audit_actions("alpha")]
        assert actions.count("api_key.revoked") == 1
        assert await list_api_keys(workspace="beta") == []

    async def test_choosing_a_workspace(self, db):
        await create_member("alice", Role.VIEWER, workspace="alpha")
        await create_member("alice", Role.OWNER, workspace="beta")
        await create_member("bob", Role.OWNER, workspace="gamma")
        key = await create_api_key("alice", workspace="alpha", secret=SECRET, actor="cli")
        assert (await authenticate_key(key.key, secret=SECRET)).role is Role.VIEWER
        chosen = await authenticate_key(key.key, secret=SECRET, workspace="beta")
        assert (chosen.workspace, chosen.role) == ("beta", Role.OWNER)
        # Someone else's workspace answers exactly like one that does not exist.
        for workspace in ("gamma", "nowhere"):
            with pytest.raises(NotFound, match=f"Workspace {workspace} does not exist."):
                await authenticate_key(key.key, secret=SECRET, workspace=workspace)

    async def test_removed_member_key_stops_working(self, db):
        await create_member("alice", Role.OWNER, workspace="team")
        await create_member("bob", Role.EDITOR, workspace="team")
        key = await create_api_key("bob", workspace="team", secret=SECRET, actor="alice")
        await remove_member("bob", workspace="team", actor="alice")
        with pytest.raises(NotFound):
            await authenticate_key(key.key, secret=SECRET)


class TestPrincipals:
    async def test_local_owner_is_made_once(self, db):
        first = await ensure_local_owner()
        second = await ensure_local_owner()
        assert first == second == Principal(user=LOCAL_USER, workspace="default", role=Role.OWNER)
        assert await Workspace.count() == 1 and await User.count() == 1
        assert await Membership.count() == 1

    async def test_trusted_user_acts_in_their_default_workspace(self, db):
        await create_member("ui", Role.EDITOR, workspace="team")
        principal = await principal_for_user("ui")
        assert (principal.workspace, principal.role, principal.key_id) == (
            "team", Role.EDITOR, None,
        )

    async def test_unknown_or_homeless_user_is_unauthenticated(self, db):
        with pytest.raises(Unauthenticated):
            await principal_for_user("ghost")
        await create_user("homeless")
        with pytest.raises(Unauthenticated):
            await principal_for_user("homeless")

    def test_roles_include_the_ones_below(self):
        owner = Principal(user="o", workspace="w", role=Role.OWNER)
        viewer = Principal(user="v", workspace="w", role=Role.VIEWER)
        owner.require(Role.EDITOR)
        viewer.require(Role.VIEWER)
        with pytest.raises(Forbidden, match="needs the editor role"):
            viewer.require(Role.EDITOR)
