"""`Client`: the service over HTTP for scripts, blocking (httpx). `AsyncClient` mirrors it."""

from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, TypeVar

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


class ExportStream:
    """An export being received: its headers (`info`) and its bytes, chunk by chunk."""

    def __init__(self, info: ExportInfo, response: httpx.Response) -> None:
        self.info = info
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        return self._response.iter_bytes(CHUNK_BYTES)


class Client:
    """A Sparring server at `url`, acting with `api_key` (None: a `local`-mode server).

    Use it as a context manager, or call `close()`. Errors are the Python API's exceptions
    (`NotFound`, `Conflict`, `InvalidInput`, ...) with the server's message.
    """

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self._timeout = timeout
        self._http = httpx.Client(**http_options(url, api_key, timeout), transport=transport)

    @classmethod
    def from_env(
        cls, *, timeout: float = DEFAULT_TIMEOUT_S, transport: httpx.BaseTransport | None = None
    ) -> "Client":
        """The server and key in SPARRING_URL and SPARRING_API_KEY."""
        url, api_key = from_settings(Settings())
        return cls(url, api_key, timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        # Never the key.
        return f"Client({self.url!r})"

    def __enter__(self) -> "Client":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: Call[T]) -> T:
        try:
            response = self._http.request(
                call.method, call.path, params=call.params, json=call.json,
                headers=call.headers, content=call.content,
            )
        except httpx.TransportError as error:
            raise unreachable(self.url, error) from None
        if response.is_error:
            raise error_from_response(response)
        return call.read(response)

    @contextmanager
    def _stream(
        self, method: str, path: str, **options: Any
    ) -> Iterator[httpx.Response]:
        try:
            with self._http.stream(
                method, path, timeout=stream_timeout(self._timeout), **options
            ) as response:
                if response.is_error:
                    response.read()
                    raise error_from_response(response)
                yield response
        except httpx.TransportError as error:
            raise unreachable(self.url, error) from None

    # Sessions.

    def create_session(
        self, name: str, endpoints: list[str], *, description: str = "", **settings: Any
    ) -> SessionResponse:
        """A runner and its session; `settings`: prompt_template, context_strategy,
        cs_num_of_prev_prompts, attack_module, metric, system_prompt."""
        return self._send(
            calls.create_session(name, endpoints, description=description, **settings)
        )

    def get_session(self, runner_id: str, *, include_history: bool = False) -> SessionResponse:
        return self._send(calls.get_session(runner_id, include_history=include_history))

    def iter_sessions(self, *, page_size: int | None = None) -> Iterator[SessionMetadataOut]:
        """Every session, newest first, a page at a time (following `X-Next-After`)."""
        after: str | None = None
        while True:
            page = self._send(calls.session_page(limit=page_size, after=after))
            yield from page.items
            if page.next_after is None:
                return
            after = page.next_after

    def list_sessions(self, *, page_size: int | None = None) -> list[SessionMetadataOut]:
        return list(self.iter_sessions(page_size=page_size))

    def update_session(self, runner_id: str, *, if_match: str = "*", **changes: Any) -> SessionInfo:
        """Change several settings at once; `if_match`: the ETag read (`*`: whatever is there)."""
        return self._send(
            calls.update_session(runner_id, SessionChanges(**changes), if_match=if_match)
        )

    def delete_session(self, runner_id: str) -> None:
        self._send(calls.delete_session(runner_id))

    def get_chats(self, runner_id: str) -> dict[str, list[ChatRecordOut]]:
        return self._send(calls.get_chats(runner_id))

    # Endpoints.

    def create_endpoint(self, name: str, connector_type: str, **fields: Any) -> str:
        """Register an endpoint (fields: uri, token, model, params, max_calls_per_second,
        max_concurrency); returns its id."""
        body = EndpointCreate(name=name, connector_type=connector_type, **fields)
        return self._send(calls.create_endpoint(body))

    def get_endpoint(self, endpoint_id: str) -> EndpointOut:
        return self._send(calls.get_endpoint(endpoint_id))

    def list_endpoints(self) -> list[EndpointOut]:
        return self._send(calls.list_endpoints())

    def update_endpoint(self, endpoint_id: str, **changes: Any) -> None:
        self._send(calls.update_endpoint(endpoint_id, EndpointUpdate(**changes)))

    def delete_endpoint(self, endpoint_id: str) -> None:
        self._send(calls.delete_endpoint(endpoint_id))

    # Prompting.

    def send_prompt(
        self, runner_id: str, prompt: str, *, history_length: int = 10
    ) -> PromptInfo | StartedRun:
        """Send `prompt` to every endpoint of the session and wait until the batch ends; its
        records are in `current_chats`. A session with an attack module starts a run instead."""
        body = PromptCreate(user_prompt=prompt, history_length=history_length)
        answer = self._send(calls.send_prompt(runner_id, body))
        if not isinstance(answer, BatchOut) or answer.status in BATCH_ENDED:
            return answer
        # Follow the stream from now; the batch may have ended before the stream started, so
        # it is read again once the stream is open, and at each keep-alive (every 15 s) after.
        stream = self._stream_events(runner_id, after=None, follow=True)
        try:
            for item in stream:
                if isinstance(item, SessionEvent):
                    if ends_batch(item, answer.batch_id):
                        break
                    continue
                batch = self.get_batch(runner_id, answer.batch_id)
                if batch.status in BATCH_ENDED:
                    return batch
        finally:
            stream.close()
        return self.get_batch(runner_id, answer.batch_id)

    def get_batch(self, runner_id: str, batch_id: str) -> BatchOut:
        return self._send(calls.get_batch(runner_id, batch_id))

    def cancel(self, runner_id: str) -> Cancelled:
        """Stop the session's unfinished prompts and runs."""
        return self._send(calls.cancel_prompts(runner_id))

    def events(
        self, runner_id: str, *, after: int | None = None, follow: bool = True
    ) -> Iterator[SessionEvent]:
        """The session's events after event `after` (0: from the first). Without `after`, a
        followed stream starts from now and a replay (`follow=False`) from the first; a
        followed stream goes on until the caller stops iterating."""
        stream = self._stream_events(runner_id, after=after, follow=follow)
        try:
            for item in stream:
                if isinstance(item, SessionEvent):
                    yield item
        finally:
            stream.close()

    def _stream_events(
        self, runner_id: str, *, after: int | None, follow: bool
    ) -> Generator[SessionEvent | KeepAlive, None, None]:
        """Events, and `KEEP_ALIVE` first once the stream is open and then for each comment."""
        params = calls.events_params(after=after, follow=follow)
        with self._stream("GET", calls.events_path(runner_id), params=params) as response:
            yield KEEP_ALIVE
            parser = EventParser()
            for line in response.iter_lines():
                item = parser.feed(line)
                if item is not None:
                    yield item

    # Runs.

    def list_runs(self, runner_id: str) -> list[RunOut]:
        return self._send(calls.list_runs(runner_id))

    def get_run(self, runner_id: str, run_id: str) -> RunOut:
        return self._send(calls.get_run(runner_id, run_id))

    def cancel_run(self, runner_id: str, run_id: str) -> RunCancelled:
        return self._send(calls.cancel_run(runner_id, run_id))

    # Export and import.

    @contextmanager
    def export(
        self, runner_id: str, *, format: ExportFormat = "jsonl", endpoint: str | None = None
    ) -> Iterator[ExportStream]:
        """The session's export as it streams: `info` first, then iterate for the bytes."""
        params = calls.export_params(format, endpoint)
        with self._stream("GET", calls.export_path(runner_id), params=params) as response:
            yield ExportStream(calls.export_info(response, runner_id, format), response)

    def export_to(
        self,
        runner_id: str,
        output: Path | BinaryIO,
        *,
        format: ExportFormat = "jsonl",
        endpoint: str | None = None,
    ) -> ExportInfo:
        """Write the export to a file (a path or an open binary file); returns its headers."""
        with self.export(runner_id, format=format, endpoint=endpoint) as stream:
            if isinstance(output, Path):
                with output.open("wb") as file:
                    for chunk in stream:
                        file.write(chunk)
            else:
                for chunk in stream:
                    output.write(chunk)
            return stream.info

    def import_session(self, source: Path | bytes | Iterable[bytes]) -> ImportedSession:
        """Upload a JSONL export (a file, bytes, or chunks); a taken name gets a new one."""
        content: bytes | Iterable[bytes] = (
            _file_chunks(source) if isinstance(source, Path) else source
        )
        return self._send(calls.import_session(content))

    # Admin.

    def create_user(self, name: str, *, display_name: str = "") -> UserInfo:
        return self._send(calls.create_user(name, display_name=display_name))

    def create_workspace(self, name: str, *, description: str = "") -> WorkspaceInfo:
        return self._send(calls.create_workspace(name, description=description))

    def list_members(self) -> list[MemberInfo]:
        return self._send(calls.list_members())

    def put_member(self, user: str, role: Role | str) -> MemberInfo:
        return self._send(calls.put_member(user, role))

    def remove_member(self, user: str) -> None:
        self._send(calls.remove_member(user))

    def list_keys(self, *, user: str | None = None) -> list[ApiKeyInfo]:
        return self._send(calls.list_keys(user=user))

    def create_key(self, *, label: str = "", expires_in_days: float | None = None) -> CreatedApiKey:
        return self._send(calls.create_key(label=label, expires_in_days=expires_in_days))

    def revoke_key(self, key_id: str) -> ApiKeyInfo:
        return self._send(calls.revoke_key(key_id))

    def audit_log(self, *, limit: int | None = None, cursor: str | None = None) -> AuditPage:
        return self._send(calls.audit_log(limit=limit, cursor=cursor))


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            yield chunk
