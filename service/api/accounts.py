"""Users, workspaces, memberships and API keys, and who a presented key acts as."""

import asyncio
import hashlib
import hmac
import re
import secrets
import time
from typing import Any

from pydantic import BaseModel, ConfigDict
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from models import ApiKey, Membership, Role, User, Workspace
from models.accounts import membership_key
from service.api.aggregation import aggregate
from service.api.audit import record_change
from service.api.context import require_database
from service.api.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from service.api.schemas import DEFAULT_WORKSPACE

# Users and workspaces are named like runners: lowercase, and never holding the id separator.
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
KEY_SCHEME = "spk"
LOCAL_USER = "local"
# Names the service gives itself (its workspace, the local-mode user, the shell's audit actor,
# and the obvious impostors): nobody may create a user or workspace so named, so that an audit
# entry by "cli" or a key of "local" can only come from the service.
RESERVED_NAMES = frozenset(
    {DEFAULT_WORKSPACE, LOCAL_USER, "cli", "admin", "system", "root", "anonymous"}
)
# One message for unknown, tampered, revoked and expired keys and removed members: a caller
# holding a key learns nothing about it, nor whether a guessed id exists.
INVALID_KEY = "Invalid API key."
ONE_WORKSPACE = "An API key acts only in the workspace it was made in."
ONLY_YOURSELF = "Over HTTP a key can be made only for yourself."
NEEDS_ADMIN = "This needs a server admin (made with `sparring admin create-user NAME --admin`)."


class Principal(BaseModel):
    """Who a request acts as: a user, in one workspace, with their role there."""

    model_config = ConfigDict(frozen=True)

    user: str
    workspace: str
    role: Role
    key_id: str | None = None
    # A server admin: may create users and workspaces.
    admin: bool = False

    def require(self, role: Role) -> None:
        """Raise Forbidden unless the principal's role includes `role`."""
        if not self.role.allows(role):
            raise Forbidden(f"This needs the {role.value} role; you are {self.role.value}.")

    def require_admin(self) -> None:
        """Raise Forbidden unless the principal is a server admin."""
        if not self.admin:
            raise Forbidden(NEEDS_ADMIN)


class UserInfo(BaseModel):
    name: str
    display_name: str = ""
    default_workspace: str | None = None
    admin: bool = False


class WorkspaceInfo(BaseModel):
    name: str
    description: str = ""


class MemberInfo(BaseModel):
    user: str
    role: Role


class ApiKeyInfo(BaseModel):
    """What may be shown of a key after it was created: never the key itself."""

    id: str
    prefix: str
    label: str
    user: str
    workspace: str
    created_at: float
    expires_at: float | None = None
    revoked: bool = False


class CreatedApiKey(ApiKeyInfo):
    """A new key; `key` is shown this once and stored only as a keyed hash."""

    key: str


def check_name(value: str, *, field: str) -> str:
    """A valid name for a new user or workspace: well formed and not one the service uses."""
    if not NAME_PATTERN.fullmatch(value):
        raise InvalidInput(
            f"{field} must be 1-63 lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit.",
            field=field,
        )
    if value in RESERVED_NAMES:
        raise InvalidInput(f"{field} {value} is reserved for the service's own use.", field=field)
    return value


def key_digest(key: str, secret: bytes) -> str:
    return hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()


async def create_user(name: str, *, display_name: str = "", admin: bool = False) -> UserInfo:
    """A new user; `admin` makes a server admin (the shell's to decide, never a request's)."""
    check_name(name, field="name")
    require_database()
    user = User(id=name, display_name=display_name, admin=admin, created_at=time.time())
    try:
        await user.insert()
    except DuplicateKeyError as error:
        raise Conflict(f"User {name} already exists.") from error
    return _user_info(user)


async def get_user(name: str) -> UserInfo:
    require_database()
    user = await User.get(name)
    if user is None:
        raise NotFound(f"User {name} does not exist.")
    return _user_info(user)


async def create_workspace(
    name: str,
    *,
    description: str = "",
    owner: str | None = None,
    actor: str,
    actor_key_id: str | None = None,
) -> WorkspaceInfo:
    """Create a workspace; `owner`, when given, becomes its first owner."""
    check_name(name, field="name")
    if owner is not None:
        await _require_user(owner, field="owner")
    workspace = Workspace(id=name, description=description, created_at=time.time())
    try:
        await workspace.insert()
    except DuplicateKeyError as error:
        raise Conflict(f"Workspace {name} already exists.") from error
    if owner is not None:
        await add_member(
            owner, Role.OWNER, workspace=name, actor=actor, actor_key_id=actor_key_id
        )
    return WorkspaceInfo(name=name, description=description)


async def add_member(
    user: str, role: Role, *, workspace: str, actor: str, actor_key_id: str | None = None
) -> MemberInfo:
    """Give `user` the role in the workspace, adding them or changing the role they had."""
    role = _role(role)
    await _require_user(user, field="user")
    await _require_workspace(workspace)
    before = await _set_role(workspace, user, role)
    # A first membership becomes where the user's key-less requests act.
    await User.get_pymongo_collection().update_one(
        {"_id": user, "default_workspace": None}, {"$set": {"default_workspace": workspace}}
    )
    if before is None:
        await record_change(
            "member.added", workspace=workspace, actor=actor, key_id=actor_key_id, target=user,
            details={"role": role.value},
        )
    elif before["role"] != role.value:
        await record_change(
            "member.role_changed", workspace=workspace, actor=actor, key_id=actor_key_id,
            target=user,
            details={"role": role.value, "previous_role": before["role"]},
        )
    return MemberInfo(user=user, role=role)


async def remove_member(
    user: str, *, workspace: str, actor: str, actor_key_id: str | None = None
) -> None:
    require_database()
    await _delete_membership(workspace, user)
    await record_change(
        "member.removed", workspace=workspace, actor=actor, key_id=actor_key_id, target=user
    )


async def list_members(*, workspace: str) -> list[MemberInfo]:
    require_database()
    cursor = Membership.get_pymongo_collection().find(
        {"workspace": workspace}, {"user": 1, "role": 1}, sort=[("user", 1)]
    )
    return [MemberInfo(user=item["user"], role=item["role"]) async for item in cursor]


async def create_api_key(
    user: str,
    *,
    workspace: str,
    secret: bytes,
    actor: str,
    actor_key_id: str | None = None,
    label: str = "",
    expires_at: float | None = None,
) -> CreatedApiKey:
    """A new key for `user`, acting in `workspace` and nowhere else."""
    if len(label) > 200:
        raise InvalidInput("label must be at most 200 characters.", field="label")
    if expires_at is not None and expires_at <= time.time():
        raise InvalidInput("expires_at must be in the future.", field="expires_at")
    await _require_user(user, field="user")
    if await Membership.get(membership_key(workspace, user)) is None:
        raise InvalidInput(f"User {user} is not a member of this workspace.", field="user")
    key, document = await _insert_key(user, workspace, label, expires_at, secret)
    await record_change(
        "api_key.created", workspace=workspace, actor=actor, key_id=actor_key_id,
        target=document.prefix, details={"user": user, "label": label},
    )
    return CreatedApiKey(key=key, **_key_info(document.model_dump(by_alias=True)).model_dump())


async def create_own_api_key(
    principal: Principal,
    *,
    secret: bytes,
    user: str | None = None,
    label: str = "",
    expires_at: float | None = None,
) -> CreatedApiKey:
    """A key for the caller, in the caller's workspace: a request mints keys for no one else.

    Otherwise an owner could add anyone to their workspace, mint a key in their name, and act
    as them (the shell may still make keys for anyone: `create_api_key`).
    """
    if user is not None and user != principal.user:
        raise Forbidden(ONLY_YOURSELF)
    return await create_api_key(
        principal.user,
        workspace=principal.workspace,
        secret=secret,
        actor=principal.user,
        actor_key_id=principal.key_id,
        label=label,
        expires_at=expires_at,
    )


async def _insert_key(
    user: str, workspace: str, label: str, expires_at: float | None, secret: bytes
) -> tuple[str, ApiKey]:
    # 48 random bits of public id: a clash is astronomically rare, and retried if it happens.
    for _ in range(3):
        key_id = secrets.token_hex(6)
        prefix = f"{KEY_SCHEME}_{key_id}"
        key = f"{prefix}_{secrets.token_urlsafe(32)}"
        document = ApiKey(
            id=key_id,
            prefix=prefix,
            digest=key_digest(key, secret),
            user=user,
            workspace=workspace,
            label=label,
            created_at=time.time(),
            expires_at=expires_at,
        )
        try:
            await document.insert()
        except DuplicateKeyError:
            continue
        return key, document
    raise Conflict("Could not allocate a key id; try again.")


async def list_api_keys(*, workspace: str, user: str | None = None) -> list[ApiKeyInfo]:
    """Keys acting in the workspace, newest first; never the keys themselves."""
    require_database()
    query: dict[str, Any] = {"workspace": workspace}
    if user is not None:
        query["user"] = user
    cursor = ApiKey.get_pymongo_collection().find(
        query, {"digest": 0}, sort=[("created_at", -1)]
    )
    return [_key_info(document) async for document in cursor]


async def list_api_keys_for(principal: Principal, *, user: str | None = None) -> list[ApiKeyInfo]:
    """The keys the caller may see: an owner all of the workspace's, anyone else their own."""
    if principal.role is Role.OWNER:
        return await list_api_keys(workspace=principal.workspace, user=user)
    if user is not None and user != principal.user:
        raise Forbidden(f"This needs the {Role.OWNER.value} role; you are {principal.role.value}.")
    return await list_api_keys(workspace=principal.workspace, user=principal.user)


async def revoke_api_key(
    key_id: str,
    *,
    workspace: str,
    actor: str,
    actor_key_id: str | None = None,
    user: str | None = None,
) -> ApiKeyInfo:
    """Revoke a key of the workspace (only of `user`, if given), by id or prefix.

    Revoking twice changes nothing. A key outside the scope answers as one that does not exist.
    """
    key_id = key_id.removeprefix(f"{KEY_SCHEME}_")
    require_database()
    scope: dict[str, Any] = {"_id": key_id, "workspace": workspace}
    if user is not None:
        scope["user"] = user
    document = await ApiKey.get_pymongo_collection().find_one_and_update(
        {**scope, "revoked": False},
        {"$set": {"revoked": True, "revoked_at": time.time()}},
        projection={"digest": 0},
        return_document=ReturnDocument.AFTER,
    )
    if document is None:
        existing = await ApiKey.get_pymongo_collection().find_one(scope, {"digest": 0})
        if existing is None:
            raise NotFound(f"API key {key_id} does not exist.")
        return _key_info(existing)
    info = _key_info(document)
    await record_change(
        "api_key.revoked", workspace=workspace, actor=actor, key_id=actor_key_id,
        target=info.prefix, details={"user": info.user},
    )
    return info


async def revoke_api_key_for(principal: Principal, key_id: str) -> ApiKeyInfo:
    """Revoke a key the caller may see: an owner any of the workspace's, anyone else their own."""
    return await revoke_api_key(
        key_id,
        workspace=principal.workspace,
        actor=principal.user,
        actor_key_id=principal.key_id,
        user=None if principal.role is Role.OWNER else principal.user,
    )


async def authenticate_key(
    key: str, *, secret: bytes, workspace: str | None = None
) -> Principal:
    """Who `key` acts as, in the key's own workspace; Unauthenticated if the key is unusable.

    `workspace` is the one the request names (X-Workspace), if any: a key never acts outside
    its own, so naming another is Forbidden, whether the user is a member there or not.
    """
    scheme, _, rest = key.partition("_")
    key_id, _, _ = rest.partition("_")
    if scheme != KEY_SCHEME or not key_id:
        raise Unauthenticated(INVALID_KEY)
    require_database()
    # The key, its user and the user's memberships in one command: every request pays for it.
    found = await aggregate(ApiKey.get_pymongo_collection(), [
        {"$match": {"_id": key_id}},
        {"$lookup": {"from": User.get_collection_name(), "localField": "user",
                     "foreignField": "_id", "as": "user_documents"}},
        _memberships_of("user"),
    ])
    if not found:
        raise Unauthenticated(INVALID_KEY)
    document = ApiKey.model_validate(found[0])
    if (
        not hmac.compare_digest(document.digest, key_digest(key, secret))
        or document.revoked
        or (document.expires_at is not None and document.expires_at <= time.time())
    ):
        raise Unauthenticated(INVALID_KEY)
    if workspace is not None and workspace != document.workspace:
        raise Forbidden(ONE_WORKSPACE)
    user_documents = found[0]["user_documents"]
    try:
        return _principal(
            document.user,
            User.model_validate(user_documents[0]) if user_documents else None,
            found[0]["memberships"],
            workspace=document.workspace,
            key_id=key_id,
        )
    except NotFound as error:
        # The user left the workspace (or the user was removed): the key is dead.
        raise Unauthenticated(INVALID_KEY) from error


def _memberships_of(user_field: str) -> dict[str, Any]:
    """The stage joining the memberships of the user `user_field` names (by their index)."""
    return {"$lookup": {
        "from": Membership.get_collection_name(), "localField": user_field,
        "foreignField": "user", "as": "memberships",
    }}


async def principal_for_user(
    user: str, *, workspace: str | None = None, key_id: str | None = None
) -> Principal:
    """The user acting in `workspace` (else their default one), with their role there.

    A workspace the user is not a member of answers as one that does not exist, so a
    request cannot learn which workspaces there are.
    """
    require_database()
    # The user and their memberships in one command.
    found = await aggregate(User.get_pymongo_collection(), [
        {"$match": {"_id": user}},
        _memberships_of("_id"),
    ])
    document = User.model_validate(found[0]) if found else None
    return _principal(
        user, document, found[0]["memberships"] if found else [],
        workspace=workspace, key_id=key_id,
    )


def _principal(
    user: str,
    document: User | None,
    memberships: list[dict[str, Any]],
    *,
    workspace: str | None,
    key_id: str | None,
) -> Principal:
    """`user` (stored as `document`) acting in `workspace` through one of `memberships`."""
    if workspace is None:
        if document is None:
            raise Unauthenticated(f"User {user} does not exist.")
        if document.default_workspace is None:
            raise Unauthenticated(f"User {user} is not a member of any workspace.")
        workspace = document.default_workspace
    membership = next(
        (Membership.model_validate(found) for found in memberships
         if found["_id"] == membership_key(workspace, user)),
        None,
    )
    if membership is None or document is None:
        raise NotFound(f"Workspace {workspace} does not exist.")
    return Principal(
        user=user,
        workspace=workspace,
        role=membership.role,
        key_id=key_id,
        # `local` is reserved, so only ensure_local_owner makes it; a database made before
        # the flag existed has it without the flag.
        admin=document.admin or user == LOCAL_USER,
    )


async def ensure_local_owner() -> Principal:
    """The owner of workspace 'default' that key-less local requests act as; made if missing.

    Made here directly, not through create_user/create_workspace: both names are reserved.
    The local user is a server admin, as whoever runs the service on their machine is.
    """
    require_database()
    now = time.time()
    await Workspace.get_pymongo_collection().update_one(
        {"_id": DEFAULT_WORKSPACE}, {"$setOnInsert": {"description": "", "created_at": now}},
        upsert=True,
    )
    await User.get_pymongo_collection().update_one(
        {"_id": LOCAL_USER},
        {"$setOnInsert": {"display_name": "", "default_workspace": DEFAULT_WORKSPACE,
                          "created_at": now},
         "$set": {"admin": True}},
        upsert=True,
    )
    await Membership.get_pymongo_collection().update_one(
        {"_id": membership_key(DEFAULT_WORKSPACE, LOCAL_USER)},
        {"$setOnInsert": {"workspace": DEFAULT_WORKSPACE, "user": LOCAL_USER,
                          "role": Role.OWNER.value, "created_at": now}},
        upsert=True,
    )
    return Principal(user=LOCAL_USER, workspace=DEFAULT_WORKSPACE, role=Role.OWNER, admin=True)


async def _require_user(name: str, *, field: str) -> None:
    require_database()
    if await User.get(name) is None:
        raise InvalidInput(f"User {name} does not exist.", field=field)


async def _require_workspace(name: str) -> None:
    if await Workspace.get(name) is None:
        raise NotFound(f"Workspace {name} does not exist.")


# The owner check and the change are one atomic step: an owner's role changes (or their
# membership goes) only after one conditional `$inc` of the workspace's `owner_count`, guarded
# `owner_count > 1`, went through; so of two owners leaving at once only one can. The count
# goes down before an owner leaves and up after one arrives, and is given back when the
# membership changed meanwhile: it never exceeds the owners there are, with or without
# transactions (a crash in between leaves it too low, which only refuses a leave too many).
OWNER = Role.OWNER.value
LAST_OWNER = "Workspace {workspace} must keep at least one owner."
KEEPS_CHANGING = "The membership of {user} keeps changing; try again."
# A membership that changes under a change is read again, this many times at most.
MEMBERSHIP_ATTEMPTS = 16
# How long to wait, times the attempt, for a change under way to settle the count.
CHANGE_UNDER_WAY_S = 0.005


async def _set_role(workspace: str, user: str, role: Role) -> dict[str, Any] | None:
    """Give `user` the role, keeping an owner; the membership before (None if it is new)."""
    await _count_owners_once(workspace)
    key = membership_key(workspace, user)
    memberships = Membership.get_pymongo_collection()
    for attempt in range(MEMBERSHIP_ATTEMPTS):
        current = await memberships.find_one({"_id": key}, {"role": 1})
        if current is not None and current["role"] == OWNER:
            if role is Role.OWNER:
                return current
            if not await _release_owner(workspace, key, attempt):
                continue
            before = await memberships.find_one_and_update(
                {"_id": key, "role": OWNER},
                {"$set": {"role": role.value}},
                return_document=ReturnDocument.BEFORE,
            )
            if before is None:
                await _owner_count_add(workspace, 1)
                continue
            return before
        try:
            before = await memberships.find_one_and_update(
                {"_id": key, "role": {"$ne": OWNER}},
                {
                    "$set": {"role": role.value},
                    "$setOnInsert": {
                        "workspace": workspace, "user": user, "created_at": time.time()
                    },
                },
                upsert=True,
                return_document=ReturnDocument.BEFORE,
            )
        except DuplicateKeyError:
            # They became an owner meanwhile: the upsert found no non-owner to change.
            continue
        if role is Role.OWNER:
            await _owner_count_add(workspace, 1)
        return before
    raise Conflict(KEEPS_CHANGING.format(user=user))


async def _delete_membership(workspace: str, user: str) -> None:
    """Remove `user` from the workspace, keeping an owner."""
    key = membership_key(workspace, user)
    memberships = Membership.get_pymongo_collection()
    for attempt in range(MEMBERSHIP_ATTEMPTS):
        current = await memberships.find_one({"_id": key}, {"role": 1})
        if current is None:
            raise NotFound(f"User {user} is not a member of this workspace.")
        if current["role"] != OWNER:
            deleted = await memberships.delete_one({"_id": key, "role": {"$ne": OWNER}})
            if deleted.deleted_count:
                return
            continue
        await _count_owners_once(workspace)
        if not await _release_owner(workspace, key, attempt):
            continue
        deleted = await memberships.delete_one({"_id": key, "role": OWNER})
        if deleted.deleted_count:
            return
        await _owner_count_add(workspace, 1)
    raise Conflict(KEEPS_CHANGING.format(user=user))


async def _count_owners_once(workspace: str) -> None:
    """Count the owners of a workspace whose count was never kept (made before it was)."""
    workspaces = Workspace.get_pymongo_collection()
    if await workspaces.find_one({"_id": workspace, "owner_count": None}, {"_id": 1}) is None:
        return
    # No owner comes or goes before the count exists (every change waits for it here), and
    # only the first count is kept: the count cannot include a change twice.
    owners = await Membership.get_pymongo_collection().count_documents(
        {"workspace": workspace, "role": OWNER}
    )
    await workspaces.update_one(
        {"_id": workspace, "owner_count": None}, {"$set": {"owner_count": owners}}
    )


async def _release_owner(workspace: str, key: str, attempt: int) -> bool:
    """Take the owner of membership `key` off the count, unless that leaves none: Conflict.

    False when the count is low only because another change is under way (it takes an owner
    off before the membership changes), or `key` is no longer an owner's: the caller reads
    the membership again.
    """
    # Without an owner nobody could manage the workspace's members and keys any more.
    workspaces = Workspace.get_pymongo_collection()
    released = await workspaces.update_one(
        {"_id": workspace, "owner_count": {"$gt": 1}}, {"$inc": {"owner_count": -1}}
    )
    if released.matched_count:
        return True
    # Read in this order, so that a change finishing meanwhile shows in one of the reads.
    memberships = Membership.get_pymongo_collection()
    counted = await workspaces.find_one({"_id": workspace}, {"owner_count": 1})
    owners = await memberships.count_documents({"workspace": workspace, "role": OWNER})
    if await memberships.find_one({"_id": key, "role": OWNER}, {"_id": 1}) is None:
        return False
    count = (counted or {}).get("owner_count")
    if attempt + 1 < MEMBERSHIP_ATTEMPTS and count is not None and owners > count:
        await asyncio.sleep(CHANGE_UNDER_WAY_S * (attempt + 1))
        return False
    raise Conflict(LAST_OWNER.format(workspace=workspace))


async def _owner_count_add(workspace: str, owners: int) -> None:
    await Workspace.get_pymongo_collection().update_one(
        {"_id": workspace, "owner_count": {"$ne": None}}, {"$inc": {"owner_count": owners}}
    )


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError as error:
        raise InvalidInput(
            f"role must be one of {', '.join(item.value for item in Role)}.", field="role"
        ) from error


def _user_info(user: User) -> UserInfo:
    return UserInfo(
        name=user.id,
        display_name=user.display_name,
        default_workspace=user.default_workspace,
        admin=user.admin,
    )


def _key_info(document: dict[str, Any]) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=document["_id"],
        prefix=document["prefix"],
        label=document.get("label", ""),
        user=document["user"],
        workspace=document["workspace"],
        created_at=document["created_at"],
        expires_at=document.get("expires_at"),
        revoked=document.get("revoked", False),
    )
