"""Every request the client makes, as data: method, path, query, body and how to read the
answer. `Client` and `AsyncClient` only send these, so the two cannot disagree.

Answers are read into the service's own response models, so a field the server adds or
renames shows here as in the server.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote, unquote

import httpx
from pydantic import BaseModel, TypeAdapter

from models import Role
from service.api.accounts import ApiKeyInfo, CreatedApiKey, MemberInfo, UserInfo, WorkspaceInfo
from service.api.audit import AuditPage
from service.api.sessions.schemas import SessionChanges
from service.http.admin_schemas import ApiKeyCreate, MemberRole, UserCreate, WorkspaceCreate
from service.http.controllers.session_export import ImportedSessionOut as ImportedSession
from service.http.endpoint_schemas import (
    EndpointCreate,
    EndpointCreated,
    EndpointOut,
    EndpointUpdate,
)
from service.http.prompt_schemas import BatchOut, Cancelled, PromptCreate, PromptInfo
from service.http.run_schemas import RunCancelled, RunOut
from service.http.schemas import (
    ChatRecordOut,
    SessionCreate,
    SessionInfo,
    SessionMetadataOut,
    SessionResponse,
)

T = TypeVar("T")
ExportFormat = Literal["jsonl", "csv", "json"]
SESSIONS = "/api/v1/sessions"
ENDPOINTS = "/api/v1/llm-endpoints"
ADMIN = "/api/v1/admin"
NEXT_AFTER = "x-next-after"
NDJSON = "application/x-ndjson"


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and how its (2xx) answer becomes a `T`."""

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content: Any = None


class Page(BaseModel):
    """One page of a cursor-paged listing; `next_after` is None on the last."""

    items: list[SessionMetadataOut]
    next_after: str | None = None


class ExportInfo(BaseModel):
    """An export's headers: the file name the server suggests, its type and record count."""

    filename: str
    media_type: str
    total_records: int | None = None


def segment(value: str) -> str:
    """A path segment, quoted whole: an id never reaches another route."""
    return quote(value, safe="")


def _model(model: type[BaseModel]) -> Callable[[httpx.Response], Any]:
    return lambda response: model.model_validate_json(response.content)


def _list_of(model: type[T]) -> Callable[[httpx.Response], list[T]]:
    adapter = TypeAdapter(list[model])  # type: ignore[valid-type]
    return lambda response: adapter.validate_json(response.content)


def _nothing(response: httpx.Response) -> None:
    return None


_CHATS = TypeAdapter(dict[str, list[ChatRecordOut]])


# Sessions.


def create_session(
    name: str, endpoints: list[str], *, description: str = "", **settings: Any
) -> Call[SessionResponse]:
    body = SessionCreate(name=name, description=description, endpoints=endpoints, **settings)
    return Call("POST", SESSIONS, _model(SessionResponse), json=body.model_dump(mode="json"))


def get_session(runner_id: str, *, include_history: bool = False) -> Call[SessionResponse]:
    return Call(
        "GET", f"{SESSIONS}/{segment(runner_id)}", _model(SessionResponse),
        params={"include_history": str(include_history).lower()},
    )


def _page(response: httpx.Response) -> Page:
    items = _list_of(SessionMetadataOut)(response)
    return Page(items=items, next_after=response.headers.get(NEXT_AFTER))


def session_page(*, limit: int | None, after: str | None) -> Call[Page]:
    params: dict[str, Any] = {}
    if limit is not None:
        params["limit"] = limit
    if after is not None:
        params["after"] = after
    return Call("GET", SESSIONS, _page, params=params)


def update_session(runner_id: str, changes: SessionChanges, *, if_match: str) -> Call[SessionInfo]:
    return Call(
        "PATCH", f"{SESSIONS}/{segment(runner_id)}", _model(SessionInfo),
        json=changes.model_dump(mode="json", exclude_none=True), headers={"If-Match": if_match},
    )


def delete_session(runner_id: str) -> Call[None]:
    return Call("DELETE", f"{SESSIONS}/{segment(runner_id)}", _nothing)


def get_chats(runner_id: str) -> Call[dict[str, list[ChatRecordOut]]]:
    return Call(
        "GET", f"{SESSIONS}/{segment(runner_id)}/chats",
        lambda response: _CHATS.validate_json(response.content),
    )


# Endpoints.


def create_endpoint(body: EndpointCreate) -> Call[str]:
    def read(response: httpx.Response) -> str:
        return EndpointCreated.model_validate_json(response.content).id

    return Call("POST", ENDPOINTS, read, json=body.model_dump(mode="json", exclude_none=True))


def get_endpoint(endpoint_id: str) -> Call[EndpointOut]:
    return Call("GET", f"{ENDPOINTS}/{segment(endpoint_id)}", _model(EndpointOut))


def list_endpoints() -> Call[list[EndpointOut]]:
    return Call("GET", ENDPOINTS, _list_of(EndpointOut))


def update_endpoint(endpoint_id: str, body: EndpointUpdate) -> Call[None]:
    return Call("PUT", f"{ENDPOINTS}/{segment(endpoint_id)}", _nothing, json=body.changes())


def delete_endpoint(endpoint_id: str) -> Call[None]:
    return Call("DELETE", f"{ENDPOINTS}/{segment(endpoint_id)}", _nothing)


# Prompting.


class StartedRun(BaseModel):
    """A prompt to a session with an attack module starts a red-teaming run instead."""

    session_id: str
    run_id: str


def _prompt_answer(response: httpx.Response) -> PromptInfo | StartedRun:
    location = response.headers.get("location")
    if location is not None and "/runs/" in location:
        # Attack mode: the session id as a JSON string, and the run in Location.
        return StartedRun(
            session_id=TypeAdapter(str).validate_json(response.content),
            run_id=unquote(location.rstrip("/").rsplit("/", 1)[-1]),
        )
    # 202: not every answer is in yet; the batch id says what to wait for.
    if response.status_code == 202:
        return BatchOut.model_validate_json(response.content)
    return PromptInfo.model_validate_json(response.content)


def send_prompt(runner_id: str, prompt: PromptCreate) -> Call[PromptInfo | StartedRun]:
    return Call(
        "POST", f"{SESSIONS}/{segment(runner_id)}/prompt", _prompt_answer,
        params={"wait": "true"}, json=prompt.model_dump(mode="json"),
    )


def get_batch(runner_id: str, batch_id: str) -> Call[BatchOut]:
    return Call(
        "GET", f"{SESSIONS}/{segment(runner_id)}/batches/{segment(batch_id)}", _model(BatchOut)
    )


def cancel_prompts(runner_id: str) -> Call[Cancelled]:
    return Call("POST", f"{SESSIONS}/{segment(runner_id)}/cancel", _model(Cancelled))


def events_path(runner_id: str) -> str:
    return f"{SESSIONS}/{segment(runner_id)}/events"


def events_params(*, after: int | None, follow: bool) -> dict[str, Any]:
    params: dict[str, Any] = {"follow": str(follow).lower()}
    if after is not None:
        params["last_event_id"] = after
    return params


# Runs.


def list_runs(runner_id: str) -> Call[list[RunOut]]:
    return Call("GET", f"{SESSIONS}/{segment(runner_id)}/runs", _list_of(RunOut))


def get_run(runner_id: str, run_id: str) -> Call[RunOut]:
    return Call("GET", f"{SESSIONS}/{segment(runner_id)}/runs/{segment(run_id)}", _model(RunOut))


def cancel_run(runner_id: str, run_id: str) -> Call[RunCancelled]:
    return Call(
        "POST", f"{SESSIONS}/{segment(runner_id)}/runs/{segment(run_id)}/cancel",
        _model(RunCancelled),
    )


# Export and import.


def export_path(runner_id: str) -> str:
    return f"{SESSIONS}/{segment(runner_id)}/export"


def export_params(export_format: ExportFormat, endpoint: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"format": export_format}
    if endpoint is not None:
        params["endpoint"] = endpoint
    return params


def export_info(response: httpx.Response, runner_id: str, export_format: str) -> ExportInfo:
    disposition = response.headers.get("content-disposition", "")
    filename = f"{runner_id}.{export_format}"
    for part in disposition.split(";"):
        name, _, value = part.strip().partition("=")
        if name.lower() == "filename" and value:
            filename = value.strip('"')
    total = response.headers.get("x-total-records")
    return ExportInfo(
        filename=filename,
        media_type=response.headers.get("content-type", ""),
        total_records=int(total) if total is not None and total.isdigit() else None,
    )


def import_session(content: Any) -> Call[ImportedSession]:
    """`content`: the JSONL export, as bytes or chunks (sync or async, as the client sends)."""
    return Call(
        "POST", f"{SESSIONS}/import", _model(ImportedSession),
        headers={"Content-Type": NDJSON}, content=content,
    )


# Admin.


def create_user(name: str, *, display_name: str = "") -> Call[UserInfo]:
    body = UserCreate(name=name, display_name=display_name)
    return Call("POST", f"{ADMIN}/users", _model(UserInfo), json=body.model_dump(mode="json"))


def create_workspace(name: str, *, description: str = "") -> Call[WorkspaceInfo]:
    body = WorkspaceCreate(name=name, description=description)
    return Call(
        "POST", f"{ADMIN}/workspaces", _model(WorkspaceInfo), json=body.model_dump(mode="json")
    )


def list_members() -> Call[list[MemberInfo]]:
    return Call("GET", f"{ADMIN}/members", _list_of(MemberInfo))


def put_member(user: str, role: Role | str) -> Call[MemberInfo]:
    body = MemberRole(role=Role(role))
    return Call(
        "PUT", f"{ADMIN}/members/{segment(user)}", _model(MemberInfo),
        json=body.model_dump(mode="json"),
    )


def remove_member(user: str) -> Call[None]:
    return Call("DELETE", f"{ADMIN}/members/{segment(user)}", _nothing)


def list_keys(*, user: str | None = None) -> Call[list[ApiKeyInfo]]:
    params = {} if user is None else {"user": user}
    return Call("GET", f"{ADMIN}/keys", _list_of(ApiKeyInfo), params=params)


def create_key(*, label: str = "", expires_in_days: float | None = None) -> Call[CreatedApiKey]:
    body = ApiKeyCreate(label=label, expires_in_days=expires_in_days)
    return Call(
        "POST", f"{ADMIN}/keys", _model(CreatedApiKey),
        json=body.model_dump(mode="json", exclude_none=True),
    )


def revoke_key(key_id: str) -> Call[ApiKeyInfo]:
    return Call("DELETE", f"{ADMIN}/keys/{segment(key_id)}", _model(ApiKeyInfo))


def audit_log(*, limit: int | None = None, cursor: str | None = None) -> Call[AuditPage]:
    params: dict[str, Any] = {}
    if limit is not None:
        params["limit"] = limit
    if cursor is not None:
        params["cursor"] = cursor
    return Call("GET", f"{ADMIN}/audit", _model(AuditPage), params=params)
