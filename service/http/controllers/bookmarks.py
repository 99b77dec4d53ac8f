"""Bookmarked prompts: Moonshot's bookmark routes and shapes, per workspace."""

from typing import Annotated

from litestar import Controller, Response, delete, get, post
from litestar.exceptions import ValidationException
from litestar.params import FromPath, JSONBody, QueryParameter

from service.api.bookmarks import (
    api_delete_all_bookmark,
    api_delete_bookmark,
    api_export_bookmarks,
    api_get_all_bookmarks,
    api_get_bookmark,
    api_insert_bookmark,
)
from service.http.bookmark_schemas import (
    BookmarkCreate,
    BookmarkExport,
    BookmarkOut,
    BookmarkResult,
)
from service.http.deps import Workspace
from service.http.params import Limit, Offset

BookmarkName = FromPath[str]
NameQuery = Annotated[
    str | None, QueryParameter(description="Only the bookmark of this name (Moonshot's form).")
]
DeleteAll = Annotated[
    bool, QueryParameter(name="all", description="Delete every bookmark of the workspace.")
]
ExportFileName = Annotated[
    str, QueryParameter(description="File name the download is offered under.")
]


class BookmarkController(Controller):
    path = "/api/v1/bookmarks"
    tags = ["Bookmarks"]

    @get("/", summary="The workspace's bookmarks, oldest first")
    async def list_bookmarks(
        self,
        workspace: Workspace,
        name: NameQuery = None,
        limit: Limit = None,
        offset: Offset = 0,
    ) -> list[BookmarkOut]:
        if name is not None:
            return [BookmarkOut.model_validate(await api_get_bookmark(name, workspace=workspace))]
        bookmarks = await api_get_all_bookmarks(workspace=workspace, limit=limit, offset=offset)
        return [BookmarkOut.model_validate(bookmark) for bookmark in bookmarks]

    @post("/", status_code=200, summary="Bookmark a prompt and its answer; names are unique")
    async def insert_bookmark(
        self, data: JSONBody[BookmarkCreate], workspace: Workspace
    ) -> BookmarkResult:
        result = await api_insert_bookmark(
            data.name, data.prompt, data.prepared_prompt, data.response, data.context_strategy,
            data.prompt_template, data.attack_module, data.metric, workspace=workspace,
        )
        return BookmarkResult.model_validate(result)

    @delete(
        "/", status_code=200, summary="Delete the bookmark ?name= or, with ?all=true, every one"
    )
    async def delete_bookmarks(
        self, workspace: Workspace, delete_all: DeleteAll = False, name: NameQuery = None
    ) -> BookmarkResult:
        if delete_all:
            return BookmarkResult.model_validate(await api_delete_all_bookmark(workspace=workspace))
        if name is None:
            # A query check, answered in the validation shape at the query parameter.
            raise ValidationException(
                "Must specify 'all' or 'name' parameter",
                extra=[{
                    "loc": ["query", "name"], "msg": "Must specify 'all' or 'name' parameter",
                    "type": "missing", "input": None,
                }],
            )
        return BookmarkResult.model_validate(await api_delete_bookmark(name, workspace=workspace))

    @get("/export", summary="Every bookmark as Moonshot's export file, as a download")
    async def export_bookmarks(
        self, workspace: Workspace, export_file_name: ExportFileName = "bookmarks"
    ) -> Response[BookmarkExport]:
        content = await api_export_bookmarks(export_file_name, workspace=workspace)
        return Response(
            BookmarkExport.model_validate(content),
            # The name is checked to plain characters, so it cannot break the header.
            headers={"Content-Disposition": f'attachment; filename="{export_file_name}"'},
        )

    @get("/{name:str}", summary="One bookmark by name")
    async def get_bookmark(self, name: BookmarkName, workspace: Workspace) -> BookmarkOut:
        return BookmarkOut.model_validate(await api_get_bookmark(name, workspace=workspace))

    @delete("/{name:str}", status_code=200, summary="Delete one bookmark by name")
    async def delete_bookmark(self, name: BookmarkName, workspace: Workspace) -> BookmarkResult:
        return BookmarkResult.model_validate(await api_delete_bookmark(name, workspace=workspace))
