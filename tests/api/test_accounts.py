"""Users, workspaces, memberships and API keys, on both database tiers."""

import asyncio
import time

import pytest

from models import ApiKey, AuditEntry, Membership, Role, User, Workspace
from service.api.accounts import (
    INVALID_KEY,
    LOCAL_USER,
    ONE_WORKSPACE,
    ONLY_YOURSELF,
    RESERVED_NAMES,
    MemberInfo,
    Principal,
    add_member,
    authenticate_key,
    create_api_key,
    create_own_api_key,
    create_user,
    create_workspace,
    ensure_local_owner,
    get_user,
    list_api_keys,
    list_api_keys_for,
    list_members,
    principal_for_user,
    remove_member,
    revoke_api_key,
    revoke_api_key_for,
)
from service.api.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from tests.factories import TEST_KEY_SECRET, create_member

SECRET = TEST_KEY_SECRET


async def audit_actions(workspace: str) -> list[tuple[str, str, str]]:
    entries = AuditEntry.find(AuditEntry.workspace == workspace).sort("-_id")
    return [(entry.actor, entry.action, entry.target) async for entry in entries]


async def audit_keys(workspace: str) -> list[tuple[str, str, str]]:
    """(actor, key id, action) of the workspace's entries, newest first."""
    entries = AuditEntry.find(AuditEntry.workspace == workspace).sort("-_id")
    return [(entry.actor, entry.key_id, entry.action) async for entry in entries]


class TestCreateUser:
    async def test_creates_and_reads_back(self, db):
        created = await create_user("alice", display_name="Alice")
        assert created.name == "alice" and created.default_workspace is None
        assert await get_user("alice") == created

    async def test_duplicate_is_a_conflict(self, db):
        await create_user("alice")
        with pytest.raises(Conflict, match=r"User alice already exists."):
            await create_user("alice")
        assert await User.count() == 1

    @pytest.mark.parametrize("name", ["", "Alice", "a|b", "-lead", "x" * 64, "a b"])
    async def test_bad_names_name_the_field(self, db, name):
        with pytest.raises(InvalidInput) as raised:
            await create_user(name)
        assert raised.value.field == "name"
        assert await User.count() == 0

    async def test_unknown_user_is_not_found(self, db):
        with pytest.raises(NotFound, match=r"User ghost does not exist."):
            await get_user("ghost")

    async def test_admins_only_when_asked(self, db):
        assert (await create_user("alice")).admin is False
        assert (await create_user("ada", admin=True)).admin is True
        assert (await User.get("ada")).admin is True and (await get_user("ada")).admin is True

    @pytest.mark.parametrize("name", sorted(RESERVED_NAMES))
    async def test_reserved_names_are_refused(self, db, name):
        with pytest.raises(InvalidInput, match="reserved") as raised:
            await create_user(name)
        assert raised.value.field == "name"
        assert await User.count() == 0

    def test_the_names_the_service_uses_are_reserved(self):
        assert {"default", "local", "cli", "admin", "system", "root", "anonymous"} <= RESERVED_NAMES


class TestCreateWorkspace:
    async def test_owner_becomes_member_and_default(self, db):
        await create_user("alice")
        await create_workspace("team", owner="alice", actor="cli")
        assert await list_members(workspace="team") == [MemberInfo(user="alice", role=Role.OWNER)]
        assert (await get_user("alice")).default_workspace == "team"
        assert await audit_actions("team") == [("cli", "member.added", "alice")]

    async def test_duplicate_is_a_conflict(self, db):
        await create_workspace("team", actor="cli")
        with pytest.raises(Conflict, match=r"Workspace team already exists."):
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

    @pytest.mark.parametrize("name", sorted(RESERVED_NAMES))
    async def test_reserved_names_are_refused(self, db, name):
        with pytest.raises(InvalidInput, match="reserved") as raised:
            await create_workspace(name, actor="cli")
        assert raised.value.field == "name"
        assert await Workspace.count() == 0

    async def test_the_actors_key_is_recorded(self, db):
        await create_user("ada", admin=True)
        await create_workspace("lab", owner="ada", actor="ada", actor_key_id="k1")
        assert await audit_keys("lab") == [("ada", "k1", "member.added")]


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
        with pytest.raises(NotFound, match=r"Workspace nowhere does not exist."):
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
            user="alice", workspace="team", role=Role.EDITOR, key_id=created.id, admin=False
        )

        listed = await list_api_keys(workspace="team")
        assert [(key.prefix, key.label, key.revoked) for key in listed] == [
            (created.prefix, "laptop", False)
        ]
        assert "key" not in listed[0].model_dump()

        await revoke_api_key(created.prefix, workspace="team", actor="alice")
        # The same words as for a key that never existed: nothing is learnt about the key.
        with pytest.raises(Unauthenticated) as raised:
            await authenticate_key(created.key, secret=SECRET)
        assert str(raised.value) == INVALID_KEY
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
        with pytest.raises(Unauthenticated, match=r"Invalid API key."):
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
        with pytest.raises(Unauthenticated, match=r"Invalid API key."):
            await authenticate_key(transform(created.key), secret=SECRET)

    async def test_expired_key(self, db):
        await create_member("alice", Role.VIEWER, workspace="team")
        created = await create_api_key(
            "alice", workspace="team", secret=SECRET, actor="cli", expires_at=time.time() + 60
        )
        await ApiKey.get_pymongo_collection().update_one(
            {"_id": created.id}, {"$set": {"expires_at": time.time() - 1}}
        )
        with pytest.raises(Unauthenticated) as raised:
            await authenticate_key(created.key, secret=SECRET)
        assert str(raised.value) == INVALID_KEY

    async def test_creation_rejects_bad_input_and_stores_nothing(self, db):
        await create_member("alice", Role.OWNER, workspace="team")
        await create_user("stranger")
        cases = [
            ({"user": "stranger"}, "user"),
            ({"user": "ghost"}, "user"),
            ({"user": "alice", "expires_at": time.time() - 5}, "expires_at"),
            ({"user": "alice", "label": "x" * 201}, "label"),
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

    async def test_a_key_acts_only_in_its_own_workspace(self, db):
        await create_member("alice", Role.VIEWER, workspace="alpha")
        await create_member("alice", Role.OWNER, workspace="beta")
        await create_member("bob", Role.OWNER, workspace="gamma")
        key = await create_api_key("alice", workspace="alpha", secret=SECRET, actor="cli")
        assert (await authenticate_key(key.key, secret=SECRET)).role is Role.VIEWER
        named = await authenticate_key(key.key, secret=SECRET, workspace="alpha")
        assert (named.workspace, named.role) == ("alpha", Role.VIEWER)
        # Not even where alice is an owner; and alike for others' and missing workspaces.
        for workspace in ("beta", "gamma", "nowhere"):
            with pytest.raises(Forbidden) as raised:
                await authenticate_key(key.key, secret=SECRET, workspace=workspace)
            assert str(raised.value) == ONE_WORKSPACE

    async def test_removed_member_key_stops_working(self, db):
        await create_member("alice", Role.OWNER, workspace="team")
        await create_member("bob", Role.EDITOR, workspace="team")
        key = await create_api_key("bob", workspace="team", secret=SECRET, actor="alice")
        await remove_member("bob", workspace="team", actor="alice")
        with pytest.raises(Unauthenticated) as raised:
            await authenticate_key(key.key, secret=SECRET)
        assert str(raised.value) == INVALID_KEY

    async def test_a_principal_mints_keys_only_for_itself(self, db):
        await create_member("alice", Role.VIEWER, workspace="team")
        await create_member("olga", Role.OWNER, workspace="team")
        olga = Principal(user="olga", workspace="team", role=Role.OWNER, key_id="k-olga")
        with pytest.raises(Forbidden) as raised:
            await create_own_api_key(olga, secret=SECRET, user="alice")
        assert str(raised.value) == ONLY_YOURSELF
        assert await ApiKey.find(ApiKey.user == "alice").count() == 0
        for user in (None, "olga"):
            made = await create_own_api_key(olga, secret=SECRET, user=user, label="ci")
            assert (made.user, made.workspace, made.label) == ("olga", "team", "ci")
        assert (await audit_keys("team"))[0] == ("olga", "k-olga", "api_key.created")

    async def test_members_see_and_revoke_their_own_keys_owners_all(self, db):
        await create_member("olga", Role.OWNER, workspace="team")
        await create_member("vic", Role.VIEWER, workspace="team")
        await create_member("mallory", Role.OWNER, workspace="other")
        olga = Principal(user="olga", workspace="team", role=Role.OWNER)
        vic = Principal(user="vic", workspace="team", role=Role.VIEWER, key_id="k-vic")
        olgas = await create_own_api_key(olga, secret=SECRET)
        vics = await create_own_api_key(vic, secret=SECRET)
        theirs = await create_api_key("mallory", workspace="other", secret=SECRET, actor="cli")
        assert [key.user for key in await list_api_keys_for(vic)] == ["vic"]
        assert [key.user for key in await list_api_keys_for(vic, user="vic")] == ["vic"]
        with pytest.raises(Forbidden):
            await list_api_keys_for(vic, user="olga")
        assert {key.user for key in await list_api_keys_for(olga)} == {"olga", "vic"}
        assert [key.user for key in await list_api_keys_for(olga, user="vic")] == ["vic"]
        # Others' keys are as unknown to a viewer as missing ones.
        for key_id in (olgas.id, theirs.id):
            with pytest.raises(NotFound, match=f"API key {key_id} does not exist."):
                await revoke_api_key_for(vic, key_id)
        assert (await revoke_api_key_for(vic, vics.prefix)).revoked
        assert (await audit_keys("team"))[0] == ("vic", "k-vic", "api_key.revoked")
        with pytest.raises(NotFound):
            await revoke_api_key_for(olga, theirs.id)
        assert (await revoke_api_key_for(olga, olgas.id)).revoked


class TestPrincipals:
    async def test_local_owner_is_made_once(self, db):
        first = await ensure_local_owner()
        second = await ensure_local_owner()
        assert first == second == Principal(
            user=LOCAL_USER, workspace="default", role=Role.OWNER, admin=True
        )
        assert await Workspace.count() == 1 and await User.count() == 1
        # The local user is a server admin, also when found rather than made.
        assert (await User.get(LOCAL_USER)).admin is True
        assert (await principal_for_user(LOCAL_USER)).admin is True
        assert await Membership.count() == 1

    async def test_trusted_user_acts_in_their_default_workspace(self, db):
        await create_member("ui", Role.EDITOR, workspace="team")
        principal = await principal_for_user("ui")
        assert (principal.workspace, principal.role, principal.key_id, principal.admin) == (
            "team", Role.EDITOR, None, False,
        )

    async def test_a_user_of_several_workspaces_gets_the_role_of_the_one_named(self, db):
        await create_member("alice", Role.VIEWER, workspace="alpha")
        await create_member("alice", Role.OWNER, workspace="beta")
        await create_member("bob", Role.EDITOR, workspace="gamma")
        assert (await principal_for_user("alice", workspace="beta")).role is Role.OWNER
        assert (await principal_for_user("alice", workspace="alpha")).role is Role.VIEWER
        # Another member's workspace answers as a missing one.
        for workspace in ("gamma", "nowhere"):
            with pytest.raises(NotFound, match=f"Workspace {workspace} does not exist."):
                await principal_for_user("alice", workspace=workspace)
        with pytest.raises(NotFound):
            await principal_for_user("ghost", workspace="alpha")

    async def test_a_key_whose_user_is_gone_is_refused(self, db):
        await create_member("alice", Role.EDITOR, workspace="team")
        key = await create_api_key("alice", workspace="team", secret=SECRET, actor="cli")
        await User.get_pymongo_collection().delete_one({"_id": "alice"})
        with pytest.raises(Unauthenticated) as raised:
            await authenticate_key(key.key, secret=SECRET)
        assert str(raised.value) == INVALID_KEY

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
        # An owner is not a server admin by being one.
        with pytest.raises(Forbidden, match="server admin"):
            owner.require_admin()
        Principal(user="a", workspace="w", role=Role.VIEWER, admin=True).require_admin()


ROUNDS = 25


async def outcomes(*changes) -> list[bool]:
    """Run the changes at once; True for each that went through, False for each refused."""
    results = await asyncio.gather(*changes, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception) and not isinstance(result, Conflict):
            raise result
    return [not isinstance(result, Exception) for result in results]


async def owners(workspace: str) -> list[str]:
    return [m.user for m in await list_members(workspace=workspace) if m.role is Role.OWNER]


class TestTheLastOwnerUnderConcurrency:
    """Two owners leaving at once: the check and the change are one step, so one stays."""

    @pytest.mark.server_only
    async def test_two_owners_demoting_each_other_leave_one(self, db):
        for round_no in range(ROUNDS):
            workspace = f"race-{round_no}"
            await create_member("alice", Role.OWNER, workspace=workspace)
            await create_member("bob", Role.OWNER, workspace=workspace)
            won = await outcomes(
                add_member("alice", Role.EDITOR, workspace=workspace, actor="bob"),
                add_member("bob", Role.EDITOR, workspace=workspace, actor="alice"),
            )
            assert won.count(True) == 1, (round_no, won)
            assert len(await owners(workspace)) == 1

    @pytest.mark.server_only
    async def test_two_owners_removing_each_other_leave_one(self, db):
        for round_no in range(ROUNDS):
            workspace = f"race-{round_no}"
            await create_member("alice", Role.OWNER, workspace=workspace)
            await create_member("bob", Role.OWNER, workspace=workspace)
            won = await outcomes(
                remove_member("alice", workspace=workspace, actor="bob"),
                remove_member("bob", workspace=workspace, actor="alice"),
            )
            assert won.count(True) == 1, (round_no, won)
            assert len(await owners(workspace)) == 1

    @pytest.mark.server_only
    async def test_a_demotion_and_a_removal_at_once_leave_one(self, db):
        for round_no in range(ROUNDS):
            workspace = f"race-{round_no}"
            await create_member("alice", Role.OWNER, workspace=workspace)
            await create_member("bob", Role.OWNER, workspace=workspace)
            won = await outcomes(
                add_member("alice", Role.VIEWER, workspace=workspace, actor="bob"),
                remove_member("bob", workspace=workspace, actor="alice"),
            )
            assert won.count(True) == 1, (round_no, won)
            assert len(await owners(workspace)) == 1

    async def test_the_same_change_twice_at_once_counts_once(self, db):
        await create_member("alice", Role.OWNER, workspace="team")
        await create_member("bob", Role.VIEWER, workspace="team")
        for _ in range(5):
            await outcomes(*(
                add_member("bob", Role.OWNER, workspace="team", actor="alice") for _ in range(3)
            ))
            assert (await Workspace.get("team")).owner_count == 2
            won = await outcomes(*(
                add_member("bob", Role.EDITOR, workspace="team", actor="alice")
                for _ in range(3)
            ))
            assert all(won), won
            assert (await Workspace.get("team")).owner_count == 1
        assert await owners("team") == ["alice"]

    async def test_a_workspace_made_before_the_count_is_counted_first(self, db):
        await create_member("alice", Role.OWNER, workspace="team")
        await create_member("bob", Role.OWNER, workspace="team")
        await Workspace.get_pymongo_collection().update_one(
            {"_id": "team"}, {"$unset": {"owner_count": ""}}
        )
        await add_member("alice", Role.EDITOR, workspace="team", actor="bob")
        with pytest.raises(Conflict, match="must keep at least one owner"):
            await remove_member("bob", workspace="team", actor="bob")
        assert await owners("team") == ["bob"]
        assert (await Workspace.get("team")).owner_count == 1
