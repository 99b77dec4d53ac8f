"""PATCH of several session settings at once, guarded by `If-Match` against the session's ETag."""

from typing import Annotated

from litestar import Response, patch
from litestar.params import HeaderParameter, JSONBody

from service.api.errors import PreconditionRequired
from service.api.sessions.edits import get_session_revision, update_session
from service.api.sessions.schemas import SessionChanges
from service.http.deps import Workspace
from service.http.limit_deps import LimitsDependency
from service.http.params import RunnerId
from service.http.schemas import SessionInfo

IF_MATCH_REQUIRED = (
    "If-Match is required: send the ETag of GET /api/v1/sessions/{runner_id}, so that a change "
    "made by someone else since is not overwritten."
)

IfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match", description="The ETag the changes are based on (`*`: any)."
    ),
]


def etag(revision: str) -> str:
    return f'"{revision}"'


async def expected_revision(runner_id: str, if_match: str | None, *, workspace: str) -> str | None:
    """The revision `If-Match` names (None for `*`); 428 without one, once the session exists."""
    if if_match is None or not if_match.strip():
        # A missing session is 404 whatever the headers.
        await get_session_revision(runner_id, workspace=workspace)
        raise PreconditionRequired(IF_MATCH_REQUIRED)
    # Weak tags never match in If-Match (strong comparison), so they are kept as they are.
    tags = [tag.strip() for tag in if_match.split(",") if tag.strip()]
    if "*" in tags:
        return None
    revisions = [tag[1:-1] for tag in tags if len(tag) >= 2 and tag[0] == tag[-1] == '"']
    if len(revisions) == 1 and len(tags) == 1:
        return revisions[0]
    # Several tags: whichever is current, still checked atomically by the update itself.
    current = (await get_session_revision(runner_id, workspace=workspace)).revision
    return current if current in revisions else "unmatched"


class SessionEditRoutes:
    """The PATCH route, mixed into the sessions controller.

    Litestar refuses a second controller on the same path (`/api/v1/sessions/{runner_id}`), so
    this route joins the one that serves GET and DELETE there (and takes its `limits`).
    """

    @patch("/{runner_id:str}", summary="Change several settings at once, at the ETag given")
    async def patch_session(
        self,
        runner_id: RunnerId,
        data: JSONBody[SessionChanges],
        workspace: Workspace,
        limits: LimitsDependency,
        if_match: IfMatch = None,
    ) -> Response[SessionInfo]:
        revision = await expected_revision(runner_id, if_match, workspace=workspace)
        result = await update_session(
            runner_id, data, revision=revision, workspace=workspace, limits=limits
        )
        return Response(
            SessionInfo.model_validate(result.metadata.model_dump()),
            headers={"ETag": etag(result.revision)},
        )
