"""Accounts: users, workspaces, who belongs to which with what role, and API keys."""

from enum import StrEnum

from beanie import Document
from pydantic import Field
from pymongo import ASCENDING, DESCENDING, IndexModel

from models.keys import SEPARATOR


class Role(StrEnum):
    """What a member may do in a workspace; each role includes the ones below it."""

    VIEWER = "viewer"
    EDITOR = "editor"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return ROLE_RANKS[self]

    def allows(self, required: "Role") -> bool:
        return self.rank >= required.rank


ROLE_RANKS = {Role.VIEWER: 0, Role.EDITOR: 1, Role.OWNER: 2}


def membership_key(workspace: str, user: str) -> str:
    return SEPARATOR.join((workspace, user))


class User(Document):
    """A person or program; `_id` is the user name, unique across the service."""

    id: str = Field(alias="_id")
    display_name: str = ""
    # Where a key-less request of this user (a trusted client) acts.
    default_workspace: str | None = None
    # A server admin creates users and workspaces; set only from the shell (and for `local`).
    admin: bool = False
    created_at: float

    class Settings:
        name = "users"


class Workspace(Document):
    """A space of sessions, endpoints and registries; `_id` is its name."""

    id: str = Field(alias="_id")
    description: str = ""
    created_at: float
    # How many owners it has, at most: an owner leaves only through one conditional `$inc`
    # guarded `owner_count > 1`, so two owners leaving at once cannot both go. `None` until
    # the first membership change counts them.
    owner_count: int | None = None

    class Settings:
        name = "workspaces"


class Membership(Document):
    """A user's role in one workspace; `_id` is `workspace|user`."""

    id: str = Field(alias="_id")
    workspace: str
    user: str
    role: Role
    created_at: float

    class Settings:
        name = "memberships"
        indexes = [
            IndexModel(
                [("workspace", ASCENDING), ("user", ASCENDING)],
                name="workspace_user",
                unique=True,
            ),
            IndexModel([("user", ASCENDING)], name="user"),
        ]


class ApiKey(Document):
    """An API key, stored only as a keyed hash; `_id` is the key's public id.

    The key reads `<prefix>_<secret>` with `prefix` = `spk_<_id>`, so a presented key is found
    by `_id` and then checked against `digest` in constant time.
    """

    id: str = Field(alias="_id")
    prefix: str
    digest: str
    user: str
    # The one workspace requests made with this key act in.
    workspace: str
    label: str = ""
    created_at: float
    expires_at: float | None = None
    revoked: bool = False
    revoked_at: float | None = None

    class Settings:
        name = "api_keys"
        indexes = [
            IndexModel(
                [("workspace", ASCENDING), ("created_at", DESCENDING)],
                name="workspace_newest_first",
            ),
            IndexModel([("user", ASCENDING)], name="user"),
        ]
