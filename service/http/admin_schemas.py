"""Request bodies of the admin routes; answers are the accounts functions' models."""

from pydantic import BaseModel, ConfigDict, Field

from models import Role


class UserCreate(BaseModel):
    """A new user; never a server admin (only the shell makes those)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=63)
    display_name: str = Field(default="", max_length=200)


class WorkspaceCreate(BaseModel):
    """A new workspace; whoever creates it becomes its owner."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=63)
    description: str = Field(default="", max_length=1000)


class MemberRole(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class ApiKeyCreate(BaseModel):
    """A key for the caller, acting only in the caller's workspace.

    `user` may be left out; if given it must be the caller (over HTTP nobody mints keys for
    someone else).
    """

    model_config = ConfigDict(extra="forbid")

    user: str | None = Field(default=None, min_length=1, max_length=63)
    label: str = Field(default="", max_length=200)
    expires_in_days: float | None = Field(default=None, gt=0, le=3650)
