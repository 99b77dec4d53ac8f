"""`AsyncClient`: the same methods as `Client`, awaited (httpx's AsyncClient)."""

from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import anyio
import httpx

from models import Role
from service.api.accounts import ApiKeyInfo, CreatedApiKey, MemberInfo, UserInfo, WorkspaceInfo
from service.api.audit import AuditPage
from service.api.sessions.schemas import SessionChanges
from service.client import calls
from service.client.calls import Call, ExportFormat, ExportInfo, ImportedSession, StartedRun
from service.client.errors import error_from_response, unreachable
from service.client.events import (
    BATCH_ENDED,
    KEEP_ALIVE,
    EventParser,
    KeepAlive,
    SessionEvent,
    ends_batch,
)
from service.client.options import DEFAULT_TIMEOUT_S, from_settings, http_options, stream_timeout
from service.http.endpoint_schemas import EndpointCreate, EndpointOut, EndpointUpdate
from service.http.prompt_schemas import BatchOut, Cancelled, PromptCreate, PromptInfo
from service.http.run_schemas import RunCancelled, RunOut
from service.http.schemas import ChatRecordOut, SessionInfo, SessionMetadataOut, SessionResponse
from service.settings import Settings

T = TypeVar("T")
CHUNK_BYTES = 64 * 1024


class AsyncExportStream:
    """An export being received: its headers (`info`) and its bytes, chunk by chunk."""

    def __init__(self, info: ExportInfo, response: httpx.Response) -> None:
        self.info = info
        self._response = response

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._response.aiter_bytes(CHUNK_BYTES)


class AsyncClient:
    """A Sparring server at `url`, acting with `api_key` (None: a `local`-mode server).

    `async with`, or `await aclose()`. Errors are the Python API's exceptions.
    """

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self._timeout = timeout
        self._http = httpx.AsyncClient(**http_options(url, api_key, timeout), transport=transport)

    @classmethod
    def from_env(
        cls,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> "AsyncClient":
        """The server and key in SPARRING_URL and SPARRING_API_KEY."""
        url, api_key = from_settings(Settings())
        return cls(url, api_key, timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        # Never the key.
        return f"AsyncClient({self.url!r})"

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: Call[T]) -> T:
        try:
            response = await self._http.request(
                call.method, call.path, params=call.params, json=call.json,
                headers=call.headers, content=call.content,
            )
        except httpx.TransportError as error:
            raise unreachable(self.url, error) from None
        if response.is_error:
            raise error_from_response(response)
        return call.read(response)

    @asynccontextmanager
    async def _stream(
        self, method: str, path: str, **options: Any
    ) -> AsyncIterator[httpx.Response]:
        try:
            async with self._http.stream(
                method, path, timeout=stream_timeout(self._timeout), **options
            ) as response:
                if response.is_error:
                    await response.aread()
                    raise error_from_response(response)
                yield response
        except httpx.TransportError as error:
            raise unreachable(self.url, error) from None

    # Sessions.

    async def create_session(
        self, name: str, endpoints: list[str], *, description: str = "", **settings: Any
    ) -> SessionResponse:
        return await self._send(
            calls.create_session(name, endpoints, description=description, **settings)
        )

    async def get_session(
        self, runner_id: str, *, include_history: bool = False
    ) -> SessionResponse:
        return await self._send(calls.get_session(runner_id, include_history=include_history))

    async def iter_sessions(
        self, *, page_size: int | None = None
    ) -> AsyncIterator[SessionMetadataOut]:
        """Every session, newest first, a page at a time (following `X-Next-After`)."""
        after: str | None = None
        while True:
            page = await self._send(calls.session_page(limit=page_size, after=after))
            for item in page.items:
                yield item
            if page.next_after is None:
                return
            after = page.next_after

    async def list_sessions(self, *, page_size: int | None = None) -> list[SessionMetadataOut]:
        return [item async for item in self.iter_sessions(page_size=page_size)]

    async def update_session(
        self, runner_id: str, *, if_match: str = "*", **changes: Any
    ) -> SessionInfo:
        return await self._send(
            calls.update_session(runner_id, SessionChanges(**changes), if_match=if_match)
        )

    async def delete_session(self, runner_id: str) -> None:
        await self._send(calls.delete_session(runner_id))

    async def get_chats(self, runner_id: str) -> dict[str, list[ChatRecordOut]]:
        return await self._send(calls.get_chats(runner_id))

    # Endpoints.

    async def create_endpoint(self, name: str, connector_type: str, **fields: Any) -> str:
        body = EndpointCreate(name=name, connector_type=connector_type, **fields)
        return await self._send(calls.create_endpoint(body))

    async def get_endpoint(self, endpoint_id: str) -> EndpointOut:
        return await self._send(calls.get_endpoint(endpoint_id))

    async def list_endpoints(self) -> list[EndpointOut]:
        return await self._send(calls.list_endpoints())

    async def update_endpoint(self, endpoint_id: str, **changes: Any) -> None:
        await self._send(calls.update_endpoint(endpoint_id, EndpointUpdate(**changes)))

    async def delete_endpoint(self, endpoint_id: str) -> None:
        await self._send(calls.delete_endpoint(endpoint_id))

    # Prompting.

    async def send_prompt(
        self, runner_id: str, prompt: str, *, history_length: int = 10
    ) -> PromptInfo | StartedRun:
        """Send `prompt` to every endpoint and wait until the batch ends (see `Client`)."""
        body = PromptCreate(user_prompt=prompt, history_length=history_length)
        answer = await self._send(calls.send_prompt(runner_id, body))
        if not isinstance(answer, BatchOut) or answer.status in BATCH_ENDED:
            return answer
        # Follow the stream from now; the batch may have ended before the stream started, so
        # it is read again once the stream is open, and at each keep-alive (every 15 s) after.
        stream = self._stream_events(runner_id, after=None, follow=True)
        try:
            async for item in stream:
                if isinstance(item, SessionEvent):
                    if ends_batch(item, answer.batch_id):
                        break
                    continue
                batch = await self.get_batch(runner_id, answer.batch_id)
                if batch.status in BATCH_ENDED:
                    return batch
        finally:
            await stream.aclose()
        return await self.get_batch(runner_id, answer.batch_id)

    async def get_batch(self, runner_id: str, batch_id: str) -> BatchOut:
        return await self._send(calls.get_batch(runner_id, batch_id))

    async def cancel(self, runner_id: str) -> Cancelled:
        return await self._send(calls.cancel_prompts(runner_id))

    async def events(
        self, runner_id: str, *, after: int | None = None, follow: bool = True
    ) -> AsyncGenerator[SessionEvent, None]:
        """The session's events after event `after` (0: from the first). Without `after`, a
        followed stream starts from now and a replay (`follow=False`) from the first; a
        followed stream goes on until the caller stops iterating."""
        stream = self._stream_events(runner_id, after=after, follow=follow)
        try:
            async for item in stream:
                if isinstance(item, SessionEvent):
                    yield item
        finally:
            await stream.aclose()

    async def _stream_events(
        self, runner_id: str, *, after: int | None, follow: bool
    ) -> AsyncGenerator[SessionEvent | KeepAlive, None]:
        """Events, and `KEEP_ALIVE` first once the stream is open and then for each comment."""
        params = calls.events_params(after=after, follow=follow)
        async with self._stream("GET", calls.events_path(runner_id), params=params) as response:
            yield KEEP_ALIVE
            parser = EventParser()
            async for line in response.aiter_lines():
                item = parser.feed(line)
                if item is not None:
                    yield item

    # Runs.

    async def list_runs(self, runner_id: str) -> list[RunOut]:
        return await self._send(calls.list_runs(runner_id))

    async def get_run(self, runner_id: str, run_id: str) -> RunOut:
        return await self._send(calls.get_run(runner_id, run_id))

    async def cancel_run(self, runner_id: str, run_id: str) -> RunCancelled:
        return await self._send(calls.cancel_run(runner_id, run_id))

    # Export and import.

    @asynccontextmanager
    async def export(
        self, runner_id: str, *, format: ExportFormat = "jsonl", endpoint: str | None = None
    ) -> AsyncIterator[AsyncExportStream]:
        """The session's export as it streams: `info` first, then iterate for the bytes."""
        params = calls.export_params(format, endpoint)
        async with self._stream("GET", calls.export_path(runner_id), params=params) as response:
            yield AsyncExportStream(calls.export_info(response, runner_id, format), response)

    async def export_to(
        self,
        runner_id: str,
        output: Path,
        *,
        format: ExportFormat = "jsonl",
        endpoint: str | None = None,
    ) -> ExportInfo:
        """Write the export to the file `output`; returns its headers."""
        async with self.export(runner_id, format=format, endpoint=endpoint) as stream:
            async with await anyio.open_file(output, "wb") as file:
                async for chunk in stream:
                    await file.write(chunk)
            return stream.info

    async def import_session(
        self, source: Path | bytes | AsyncIterable[bytes]
    ) -> ImportedSession:
        """Upload a JSONL export (a file, bytes, or chunks); a taken name gets a new one."""
        content = _file_chunks(source) if isinstance(source, Path) else source
        return await self._send(calls.import_session(content))

    # Admin.

    async def create_user(self, name: str, *, display_name: str = "") -> UserInfo:
        return await self._send(calls.create_user(name, display_name=display_name))

    async def create_workspace(self, name: str, *, description: str = "") -> WorkspaceInfo:
        return await self._send(calls.create_workspace(name, description=description))

    async def list_members(self) -> list[MemberInfo]:
        return await self._send(calls.list_members())

    async def put_member(self, user: str, role: Role | str) -> MemberInfo:
        return await self._send(calls.put_member(user, role))

    async def remove_member(self, user: str) -> None:
        await self._send(calls.remove_member(user))

    async def list_keys(self, *, user: str | None = None) -> list[ApiKeyInfo]:
        return await self._send(calls.list_keys(user=user))

    async def create_key(
        self, *, label: str = "", expires_in_days: float | None = None
    ) -> CreatedApiKey:
        return await self._send(calls.create_key(label=label, expires_in_days=expires_in_days))

    async def revoke_key(self, key_id: str) -> ApiKeyInfo:
        return await self._send(calls.revoke_key(key_id))

    async def audit_log(self, *, limit: int | None = None, cursor: str | None = None) -> AuditPage:
        return await self._send(calls.audit_log(limit=limit, cursor=cursor))


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as file:
        while chunk := await file.read(CHUNK_BYTES):
            yield chunk
