"""Sessions: Moonshot's web API routes, plus the Session API functions those do not reach."""

from typing import TypeVar

from litestar import Controller, Response, delete, get, post, put
from litestar.enums import MediaType
from litestar.params import FromPath, JSONBody
from litestar.response import Stream
from litestar.status_codes import HTTP_304_NOT_MODIFIED

from service.api import (
    api_get_available_session_info,
    api_load_session,
)
from service.api.sessions.edits import set_prev_prompts_count
from service.api.sessions.lifecycle import create_session_view
from service.api.sessions.runners import delete_runner
from service.api.sessions.schemas import SessionListing
from service.api.sessions.views import (
    get_session_view,
    list_session_page,
    read_chat_page,
    session_chat_streams,
)
from service.http.conditional import IfNoneMatch, none_match
from service.http.controllers.session_edits import SessionEditRoutes, etag
from service.http.deps import ExistingSession, Workspace
from service.http.limit_deps import LIMITS_DEPENDENCIES, LimitsDependency
from service.http.params import After, Cursor, IncludeHistory, Limit, Offset, RunnerId
from service.http.schemas import (
    AvailableSessions,
    ChatPageOut,
    PrevPromptsCount,
    SessionCreate,
    SessionInfo,
    SessionMetadataOut,
    SessionResponse,
    Success,
)
from service.http.streaming import chat_streams_json, started

T = TypeVar("T")


class SessionController(SessionEditRoutes, Controller):
    path = "/api/v1/sessions"
    tags = ["Sessions"]
    dependencies = LIMITS_DEPENDENCIES

    @get(
        "/",
        summary="All sessions, newest first, each with its runner's description",
        description=(
            "Pages with `limit` and `after` (the `X-Next-After` header of the previous page; "
            "absent on the last). The ETag changes whenever anything listed changes: send it "
            "in `If-None-Match` to get 304 while the listing is unchanged."
        ),
    )
    async def list_sessions(
        self,
        workspace: Workspace,
        limit: Limit = None,
        offset: Offset = 0,
        after: After = None,
        if_none_match: IfNoneMatch = None,
    ) -> Response[list[SessionMetadataOut]]:
        listing = await list_session_page(
            workspace=workspace, limit=limit, offset=offset, after=after
        )
        return _listed(
            listing, if_none_match,
            [SessionMetadataOut.model_validate(summary) for summary in listing.items],
        )

    @get("/name", summary="Ids of all sessions, newest first")
    async def list_session_names(
        self,
        workspace: Workspace,
        limit: Limit = None,
        offset: Offset = 0,
        after: After = None,
        if_none_match: IfNoneMatch = None,
    ) -> Response[list[str]]:
        listing = await list_session_page(
            workspace=workspace, limit=limit, offset=offset, after=after, names_only=True
        )
        return _listed(listing, if_none_match, listing.items)

    @get("/available", summary="Session ids and their metadata (api_get_available_session_info)")
    async def available_sessions(
        self, workspace: Workspace, limit: Limit = None, offset: Offset = 0, after: After = None
    ) -> AvailableSessions:
        session_ids, sessions = await api_get_available_session_info(
            workspace=workspace, limit=limit, offset=offset, after=after
        )
        return AvailableSessions(
            session_ids=session_ids,
            sessions=[SessionInfo.model_validate(session) for session in sessions],
        )

    @post("/", status_code=200, summary="Create a runner and its session")
    async def create_session(
        self, data: JSONBody[SessionCreate], workspace: Workspace, limits: LimitsDependency
    ) -> SessionResponse:
        view = await create_session_view(
            data.name, data.description or "", data.endpoints, data.runner_args(),
            workspace=workspace, limits=limits,
        )
        return SessionResponse.model_validate(view.model_dump())

    @get("/{runner_id:str}", summary="A session, with all its chats if include_history")
    async def get_session(
        self, runner_id: RunnerId, workspace: Workspace, include_history: IncludeHistory = False
    ) -> Response[SessionResponse]:
        # The ETag comes from the same read as the body, so it names exactly what was shown.
        view = await get_session_view(
            runner_id, include_history=include_history, workspace=workspace
        )
        return Response(
            SessionResponse.model_validate(view.model_dump()), headers={"ETag": etag(view.revision)}
        )

    @delete("/{runner_id:str}", status_code=200, summary="Delete a session, its chats and runner")
    async def delete_session(self, runner_id: RunnerId, workspace: Workspace) -> Success:
        await delete_runner(runner_id, workspace=workspace)
        return Success()

    @get("/{runner_id:str}/close", summary="Moonshot's close: nothing stays open here")
    async def close_session(self, existing_session: ExistingSession) -> Success:
        return Success()

    @get("/{runner_id:str}/info", summary="The session's metadata (api_load_session)")
    async def session_info(
        self, runner_id: RunnerId, workspace: Workspace, existing_session: ExistingSession
    ) -> SessionInfo:
        return SessionInfo.model_validate(await api_load_session(runner_id, workspace=workspace))

    @get(
        "/{runner_id:str}/chats",
        media_type=MediaType.JSON,
        summary="All chats of a session, {endpoint: [record, ...]}, streamed",
    )
    async def all_chats(self, runner_id: RunnerId, workspace: Workspace) -> Stream:
        streams = await session_chat_streams(runner_id, workspace=workspace)
        body = await started(chat_streams_json(streams), f"Chats of session {runner_id!r}")
        return Stream(body, media_type=MediaType.JSON)

    @get("/{runner_id:str}/chats/{endpoint:str}", summary="One endpoint's chats, page by page")
    async def chat_page(
        self,
        runner_id: RunnerId,
        endpoint: FromPath[str],
        workspace: Workspace,
        limit: Limit = None,
        cursor: Cursor = 0,
    ) -> ChatPageOut:
        page = await read_chat_page(
            runner_id, endpoint, after=cursor, limit=limit, workspace=workspace
        )
        return ChatPageOut.model_validate(page.model_dump())

    @get("/{runner_id:str}/cs-num-of-prev-prompts", summary="Number of previous prompts")
    async def get_prev_prompts_count(self, existing_session: ExistingSession) -> PrevPromptsCount:
        return PrevPromptsCount(cs_num_of_prev_prompts=existing_session.cs_num_of_prev_prompts)

    @put("/{runner_id:str}/cs-num-of-prev-prompts", summary="Set the number of previous prompts")
    async def set_prev_prompts_count(
        self,
        runner_id: RunnerId,
        data: JSONBody[PrevPromptsCount],
        workspace: Workspace,
        existing_session: ExistingSession,
        limits: LimitsDependency,
    ) -> Success:
        await set_prev_prompts_count(
            runner_id, data.cs_num_of_prev_prompts, workspace=workspace, limits=limits
        )
        return Success()


def _listed(listing: SessionListing, if_none_match: str | None, body: T) -> Response[T]:
    """The listing's answer: 304 without a body when the client's ETag is current, else the
    body; either way with the ETag, and `X-Next-After` when another page follows."""
    headers = {"ETag": etag(listing.revision)}
    if listing.next_after is not None:
        headers["X-Next-After"] = listing.next_after
    if none_match(if_none_match, headers["ETag"]):
        # No body: a 304 tells the client to use the copy it has.
        not_modified: Response[T] = Response(
            content=None,  # type: ignore[arg-type]
            status_code=HTTP_304_NOT_MODIFIED,
            headers=headers,
        )
        return not_modified
    return Response(body, headers=headers)
