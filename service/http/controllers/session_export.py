"""A session's history as a file, and Sparring's own JSONL export read back into a workspace."""

from collections.abc import AsyncIterator
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from pydantic import BaseModel

from service.api.accounts import Principal
from service.api.exporting import ExportFormat, open_export
from service.api.session_import import import_session_export
from service.http.deps import Workspace
from service.http.errors import BodyTooLarge, MalformedRequest
from service.http.guards import STREAMED_BODY_OPT, TOO_LARGE
from service.http.params import RunnerId
from service.http.streaming import started
from service.settings import Settings

IMPORT_MEDIA_TYPE = "application/x-ndjson"
FORMATS = ", ".join(member.value for member in ExportFormat)

FormatParam = Annotated[
    str,
    QueryParameter(name="format", description=f"The file's format: one of {FORMATS}."),
]
EndpointParam = Annotated[
    str | None,
    QueryParameter(min_length=1, description="Export this endpoint only."),
]


class ImportedSessionOut(BaseModel):
    """Where an imported export went; `added` is 0 when it was imported before."""

    session_id: str
    name: str
    records: int
    added: int
    created: bool


def _export_format(value: str) -> ExportFormat:
    try:
        return ExportFormat(value.lower())
    except ValueError:
        raise MalformedRequest(
            f"format must be one of {FORMATS}, not {value[:40]!r}."
        ) from None


async def _at_most(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    """`chunks`, refused (413) once they add up to more than `limit` bytes."""
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(TOO_LARGE)
        yield chunk


class SessionExportController(Controller):
    path = "/api/v1/sessions"
    tags = ["Sessions"]

    @get(
        "/{runner_id:str}/export",
        summary="Every record of a session (or of one endpoint) as a file, streamed",
        description=(
            "`format=jsonl` (default): a header line with the session's metadata, then one "
            "record per line; `csv`: a header row naming every chat-record field, then one row "
            "per record; `json`: `{format, version, session, endpoint, total_records, "
            "records: [...]}`. Records come in id order per endpoint. `X-Total-Records` counts "
            "the records when the export started."
        ),
    )
    async def export_session(
        self,
        runner_id: RunnerId,
        workspace: Workspace,
        export_format: FormatParam = ExportFormat.JSONL.value,
        endpoint: EndpointParam = None,
    ) -> Stream:
        export = await open_export(
            runner_id, workspace=workspace, format=_export_format(export_format),
            endpoint=endpoint,
        )
        body = await started(export.chunks, f"Export of session {runner_id!r}")
        return Stream(
            body,
            # Litestar adds the charset of a text type itself (utf-8), so it is not given twice.
            media_type=export.media_type.partition(";")[0],
            headers={
                "Content-Disposition": f'attachment; filename="{export.filename}"',
                "X-Total-Records": str(export.total_records),
            },
        )

    @post(
        "/import",
        summary="Import a session from Sparring's JSONL export",
        description=(
            f"The body is a JSONL export (`GET .../export`), sent as `{IMPORT_MEDIA_TYPE}` and "
            "read as it arrives (up to SPARRING_IMPORT_MAX_BYTES). Answers 201 when it made the "
            "session (named as exported, or `name-2`, ... when that is taken) and 200 when the "
            "export was imported before: nothing is written twice."
        ),
        opt={STREAMED_BODY_OPT: IMPORT_MEDIA_TYPE},
        # The route limits its body itself (SPARRING_IMPORT_MAX_BYTES), not the app-wide limit.
        request_max_body_size=None,
    )
    async def import_session(
        self,
        request: Request[Any, Any, Any],
        workspace: Workspace,
        principal: NamedDependency[Principal],
        settings: NamedDependency[Settings],
    ) -> Response[ImportedSessionOut]:
        limit = settings.import_max_bytes
        if request.content_length is not None and request.content_length > limit:
            raise BodyTooLarge(TOO_LARGE)
        imported = await import_session_export(
            _at_most(request.stream(), limit), workspace=workspace, user=principal.user
        )
        return Response(
            ImportedSessionOut(
                session_id=imported.session_id,
                name=imported.name,
                records=imported.records,
                added=imported.added,
                created=imported.created,
            ),
            status_code=HTTP_201_CREATED if imported.created else HTTP_200_OK,
        )
