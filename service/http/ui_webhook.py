"""Posts attack-mode progress to Moonshot's web UI webhook (`SPARRING_UI_ART_CALLBACK_URL`).

One background task per run, in the server process, follows the run's stored events
(`service.api.ui_callback`) and posts each progress body in order. Posting never blocks or fails
the run: the tasks run and settle without it, a failing webhook is logged once per run, and the
URL (which may carry a token) never reaches a log: only its scheme, host and port do. Posts go
straight to an httpx transport, not through `httpx.AsyncClient`, whose INFO log line quotes the
whole URL.
"""

import asyncio
import base64
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
from litestar import Litestar
from litestar.datastructures import State

from service.api.runs import StartedRun
from service.api.ui_callback import run_progress
from service.http.prompt_schemas import PromptInfo
from service.settings import Settings

log = logging.getLogger(__name__)

UI_WEBHOOK_STATE_KEY = "ui_webhook"
# Short: a webhook that does not answer only delays the next body of its own run.
POST_TIMEOUT = httpx.Timeout(5.0, connect=2.0)
JSON_HEADERS = {"content-type": "application/json"}
# A run whose batch never settles (no worker takes its tasks) is followed no longer than this.
MAX_FOLLOW_S = 3600.0


def safe_location(url: str) -> str:
    """Where the webhook is, for logs: scheme, host and port, no user info, path or query."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "?"
    return f"{parts.scheme or '?'}://{host}{f':{port}' if port is not None else ''}"


def _failure(error: Exception) -> str:
    # Only the kind of failure: httpx's messages quote the URL.
    if isinstance(error, httpx.HTTPStatusError):
        return f"status {error.response.status_code}"
    return type(error).__name__


def _basic_auth(url: httpx.URL) -> dict[str, str]:
    """User info in the URL as Basic credentials (a client would send it so; a transport not)."""
    if not url.username and not url.password:
        return {}
    pair = f"{url.username}:{url.password}".encode()
    return {"authorization": f"Basic {base64.b64encode(pair).decode()}"}


class UiWebhook:
    """The web UI's webhook and the runs being posted to it."""

    def __init__(
        self,
        url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        max_follow_s: float = MAX_FOLLOW_S,
    ) -> None:
        self._url = httpx.URL(url)
        self._headers = {**JSON_HEADERS, **_basic_auth(self._url)}
        self.location = safe_location(url)
        self._transport = transport or httpx.AsyncHTTPTransport()
        self._max_follow_s = max_follow_s
        self._runs: set[asyncio.Task[None]] = set()

    def follow(self, started: StartedRun, *, workspace: str) -> None:
        """Post the run's progress in the background; returns at once."""
        run = asyncio.create_task(
            self._post_progress(started, workspace), name=f"ui-webhook-{started.label}"
        )
        self._runs.add(run)
        run.add_done_callback(self._runs.discard)

    async def wait_idle(self) -> None:
        """Until every run followed so far has posted its last body (or given up)."""
        while self._runs:
            await asyncio.gather(*self._runs, return_exceptions=True)

    async def aclose(self) -> None:
        """Stop following runs and close the HTTP client."""
        for run in list(self._runs):
            run.cancel()
        await asyncio.gather(*self._runs, return_exceptions=True)
        await self._transport.aclose()

    async def _post_progress(
        self, started: StartedRun, workspace: str
    ) -> None:
        failed = False
        try:
            async with asyncio.timeout(self._max_follow_s):
                async for body in run_progress(started, workspace=workspace):
                    error = await self._post(body)
                    if error is not None and not failed:
                        failed = True
                        log.warning(
                            "The UI webhook at %s failed for %s of session %s (%s); it goes on, "
                            "later failures of it are not logged.",
                            self.location, started.label, started.runner_id, error,
                        )
        except TimeoutError:
            log.warning(
                "Stopped posting %s of session %s to the UI webhook: not finished after "
                "%.0f s.", started.label, started.runner_id, self._max_follow_s,
            )
        except Exception:
            # A background task has no caller to raise to; the run itself is unaffected.
            log.exception(
                "Following %s of session %s for the UI webhook failed.",
                started.label, started.runner_id,
            )

    async def _post(self, body: dict[str, Any]) -> str | None:
        """Post one body; the failure's kind, or None."""
        payload = PromptInfo.model_validate(body).model_dump_json().encode()
        request = httpx.Request(
            "POST", self._url, headers=self._headers, content=payload,
            extensions={"timeout": POST_TIMEOUT.as_dict()},
        )
        try:
            response = await self._transport.handle_async_request(request)
            try:
                await response.aread()
            finally:
                await response.aclose()
            response.request = request
            response.raise_for_status()
        except httpx.HTTPError as error:
            return _failure(error)
        return None


def ui_webhook_lifespan(
    settings: Settings,
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """A `UiWebhook` in the app's state while it runs, when the setting names one."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        url = settings.ui_art_callback_url
        webhook = UiWebhook(url.get_secret_value()) if url is not None else None
        app.state[UI_WEBHOOK_STATE_KEY] = webhook
        if webhook is not None:
            log.info("Attack-mode progress is posted to the UI webhook at %s.", webhook.location)
        try:
            yield
        finally:
            if webhook is not None:
                await webhook.aclose()

    return lifespan


def provide_ui_webhook(state: State) -> UiWebhook | None:
    return state.get(UI_WEBHOOK_STATE_KEY)
