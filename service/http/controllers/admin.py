"""Admin routes: users and workspaces (server admins), members and the audit log (owners),
and API keys (each member their own; owners all of their workspace's)."""

import time
from typing import Annotated

from litestar import Controller, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from models import Role
from service.api.accounts import (
    ApiKeyInfo,
    CreatedApiKey,
    MemberInfo,
    Principal,
    UserInfo,
    WorkspaceInfo,
    add_member,
    create_own_api_key,
    create_user,
    create_workspace,
    list_api_keys_for,
    list_members,
    remove_member,
    revoke_api_key_for,
)
from service.api.audit import AuditPage, list_changes
from service.api.paging import DEFAULT_PAGE_SIZE, LIMIT_BOUNDS
from service.http.admin_schemas import ApiKeyCreate, MemberRole, UserCreate, WorkspaceCreate
from service.http.audit import AUDITED_ELSEWHERE
from service.http.auth import ADMIN_OPT, ROLE_OPT
from service.http.deps import Workspace
from service.http.schemas import Success

SECONDS_PER_DAY = 86_400
# The accounts functions write these changes to the audit log themselves (the CLI makes them
# too), so the HTTP audit skips them.
AUDITED_BY_ACCOUNTS = {AUDITED_ELSEWHERE: True}
AuditCursor = Annotated[
    str | None, QueryParameter(description="`next_cursor` of the previous page; omit to start.")
]
AuditLimit = Annotated[
    int | None,
    QueryParameter(
        ge=LIMIT_BOUNDS[0],
        le=LIMIT_BOUNDS[1],
        description=f"Entries per page (1 to {LIMIT_BOUNDS[1]}); omitted: {DEFAULT_PAGE_SIZE}.",
    ),
]
KeyUser = Annotated[
    str | None, QueryParameter(description="Only this user's keys (owners; others see their own).")
]
Caller = NamedDependency[Principal]
# Users and workspaces are the server's, not one workspace's: only server admins make them.
SERVER_ADMINS = {ADMIN_OPT: True}
# Any member manages their own keys; the accounts functions narrow what non-owners reach.
MEMBERS = {ROLE_OPT: Role.VIEWER}


class AdminController(Controller):
    path = "/api/v1/admin"
    tags = ["Admin"]
    opt = {ROLE_OPT: Role.OWNER}

    @post(
        "/users", summary="Create a user (add them to a workspace to let them in); server admins",
        opt=SERVER_ADMINS,
    )
    async def create_user(self, data: JSONBody[UserCreate]) -> UserInfo:
        return await create_user(data.name, display_name=data.display_name)

    @post(
        "/workspaces", summary="Create a workspace; its creator becomes its owner; server admins",
        opt=SERVER_ADMINS,
    )
    async def create_workspace(
        self, data: JSONBody[WorkspaceCreate], principal: Caller
    ) -> WorkspaceInfo:
        return await create_workspace(
            data.name,
            description=data.description,
            owner=principal.user,
            actor=principal.user,
            actor_key_id=principal.key_id,
        )

    @get("/members", summary="Members of this workspace and their roles")
    async def list_members(self, workspace: Workspace) -> list[MemberInfo]:
        return await list_members(workspace=workspace)

    @put(
        "/members/{user:str}", summary="Add a member, or change their role", opt=AUDITED_BY_ACCOUNTS
    )
    async def put_member(
        self, user: FromPath[str], data: JSONBody[MemberRole], principal: Caller
    ) -> MemberInfo:
        return await add_member(
            user, data.role, workspace=principal.workspace, actor=principal.user,
            actor_key_id=principal.key_id,
        )

    @delete(
        "/members/{user:str}",
        status_code=200,
        summary="Remove a member (their keys stop working here)",
        opt=AUDITED_BY_ACCOUNTS,
    )
    async def delete_member(self, user: FromPath[str], principal: Caller) -> Success:
        await remove_member(
            user, workspace=principal.workspace, actor=principal.user,
            actor_key_id=principal.key_id,
        )
        return Success()

    @get(
        "/keys",
        summary="API keys acting in this workspace (owners: all; others: their own): "
        "prefix and label, never the key",
        opt=MEMBERS,
    )
    async def list_keys(self, principal: Caller, user: KeyUser = None) -> list[ApiKeyInfo]:
        return await list_api_keys_for(principal, user=user)

    @post(
        "/keys",
        summary="Create an API key for yourself, acting only in this workspace; "
        "the key is in this answer only",
        opt={**AUDITED_BY_ACCOUNTS, **MEMBERS},
    )
    async def create_key(
        self, data: JSONBody[ApiKeyCreate], principal: Caller, key_secret: NamedDependency[bytes]
    ) -> CreatedApiKey:
        expires_at = (
            None
            if data.expires_in_days is None
            else time.time() + data.expires_in_days * SECONDS_PER_DAY
        )
        return await create_own_api_key(
            principal,
            secret=key_secret,
            user=data.user,
            label=data.label,
            expires_at=expires_at,
        )

    @delete(
        "/keys/{key_id:str}",
        status_code=200,
        summary="Revoke an API key by id or prefix (owners: any of this workspace; others: "
        "their own)",
        opt={**AUDITED_BY_ACCOUNTS, **MEMBERS},
    )
    async def revoke_key(self, key_id: FromPath[str], principal: Caller) -> ApiKeyInfo:
        return await revoke_api_key_for(principal, key_id)

    @get("/audit", summary="The workspace's audit log, newest first, a page at a time")
    async def audit_log(
        self, workspace: Workspace, limit: AuditLimit = None, cursor: AuditCursor = None
    ) -> AuditPage:
        return await list_changes(workspace=workspace, limit=limit, cursor=cursor)
