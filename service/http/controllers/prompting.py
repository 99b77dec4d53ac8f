"""Prompting a session: send a prompt to all its endpoints, cancel, read a batch, live events."""

import json
import math
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency, Provide
from litestar.enums import MediaType
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from litestar.serialization import encode_json

from service.api.accounts import Principal
from service.api.events import Outage, follow_events_telling_outages
from service.api.limits import Limits
from service.api.notifier import EventNotifier
from service.api.prompting import BatchWatch, api_send_prompt, cancel_prompts, get_batch
from service.api.runs import cancel_runs, start_run
from service.api.stream_slots import StreamSlots
from service.http.auth import ACCESS_TOKEN_OPT
from service.http.deps import ExistingSession, Workspace
from service.http.errors import InvalidBody
from service.http.live_state import provide_notifier, provide_stream_slots
from service.http.params import RunnerId
from service.http.prompt_schemas import BatchOut, Cancelled, PromptCreate, PromptInfo
from service.http.prompting_state import (
    provide_batch_ended,
    provide_batch_watch,
    provide_task_queue,
)
from service.http.run_schemas import run_location
from service.http.schemas import MAX_INT64
from service.http.ui_webhook import UiWebhook, provide_ui_webhook
from service.settings import Settings
from service.workers.queue import TaskQueue

LAST_EVENT_ID_HEADER = "last-event-id"
HEARTBEAT_S = 15.0
# Tells a browser's EventSource how long to wait before it reconnects (ms).
RETRY_MS = 2000
# Sent while the database does not answer: the stream stays open and goes on once it is back.
OUTAGE_COMMENT = "database unavailable; retrying"

Wait = Annotated[
    bool,
    QueryParameter(
        description="false: answer 202 at once with the batch id; true: wait for the answers "
        "(up to SPARRING_PROMPT_WAIT_S, then 202 with what has landed)."
    ),
]
Follow = Annotated[
    bool,
    QueryParameter(
        description="false: send the stored events (after the given one, else all), then end."
    ),
]
LastEventId = Annotated[
    int | None,
    QueryParameter(
        ge=0, le=MAX_INT64,
        description="Resume after this event (for clients that cannot send Last-Event-ID).",
    ),
]


def _bad_header(message: str, given: str) -> InvalidBody:
    # Located in the header it came in, as Moonshot's validation errors locate theirs.
    return InvalidBody(message, errors=[{
        "loc": ["header", "Last-Event-ID"], "msg": message, "type": "value_error", "input": given,
    }])


def _resume_after(request: Request, last_event_id: int | None) -> int | None:
    header = request.headers.get(LAST_EVENT_ID_HEADER)
    if header is None or not header.strip():
        return last_event_id
    try:
        after = int(header.strip())
    except ValueError as error:
        raise _bad_header("Last-Event-ID must be an event number.", header) from error
    if not 0 <= after <= MAX_INT64:
        raise _bad_header("Last-Event-ID must be 0 or more.", header)
    return after


class PromptingController(Controller):
    path = "/api/v1/sessions/{runner_id:str}"
    tags = ["Prompting"]
    dependencies = {
        "task_queue": Provide(provide_task_queue, sync_to_thread=False),
        "batch_watch": Provide(provide_batch_watch, sync_to_thread=False),
        "batch_ended": Provide(provide_batch_ended, sync_to_thread=False),
    }

    @post(
        "/prompt",
        status_code=200,
        summary="Send a prompt to every endpoint of the session",
        description="With an attack module set, starts a red-teaming run on the prompt and "
        "answers at once with the session id (a JSON string, as Moonshot does) and the run in "
        "the Location header; its progress goes to SPARRING_UI_ART_CALLBACK_URL.",
        dependencies={"ui_webhook": Provide(provide_ui_webhook, sync_to_thread=False)},
        responses={
            202: ResponseSpec(
                data_container=BatchOut,
                description="Not all answers in yet: the batch and what has landed so far.",
            )
        },
    )
    async def prompt(
        self,
        runner_id: RunnerId,
        data: JSONBody[PromptCreate],
        workspace: Workspace,
        principal: NamedDependency[Principal],
        settings: NamedDependency[Settings],
        task_queue: NamedDependency[TaskQueue],
        existing_session: ExistingSession,
        ui_webhook: NamedDependency[UiWebhook | None],
        batch_watch: NamedDependency[BatchWatch],
        wait: Wait = True,
    ) -> Response[PromptInfo | BatchOut | bytes]:
        if existing_session.attack_module:
            # A red-teaming run: stored, then its first step queued; it answers at once.
            started = await start_run(
                runner_id, data.user_prompt, data.history_length, workspace=workspace,
                created_by=principal.user, max_queued=task_queue.max_queued_per_workspace,
                limits=Limits.from_settings(settings),
            )
            await task_queue.kick_run(workspace, runner_id, started.run_id)
            if ui_webhook is not None:
                ui_webhook.follow(started, workspace=workspace)
            # Moonshot's attack mode: the runner id, as a JSON string; progress goes to the UI.
            # Encoded here: Litestar sends a `str` as it is, without JSON's quotes.
            return Response(
                encode_json(runner_id),
                media_type=MediaType.JSON,
                headers={"Location": run_location(runner_id, started.run_id)},
            )
        result = await api_send_prompt(
            runner_id,
            data.user_prompt,
            data.history_length,
            enqueue=task_queue.enqueue,
            wait_s=settings.prompt_wait_s if wait else 0.0,
            workspace=workspace,
            created_by=principal.user,
            limits=Limits.from_settings(settings),
            watch=batch_watch,
            session=existing_session,
        )
        if result.finished:
            return Response(PromptInfo.model_validate(result.prompt_info()))
        return Response(BatchOut.model_validate(result.model_dump()), status_code=202)

    @get("/batches/{batch_id:str}", summary="A batch: its status and what has landed")
    async def get_batch(
        self, runner_id: RunnerId, batch_id: FromPath[str], workspace: Workspace
    ) -> BatchOut:
        result = await get_batch(runner_id, batch_id, workspace=workspace)
        return BatchOut.model_validate(result.model_dump())

    @post("/cancel", status_code=200, summary="Stop the session's unfinished runs and prompts")
    async def cancel(
        self,
        runner_id: RunnerId,
        workspace: Workspace,
        batch_ended: NamedDependency[Callable[[str], None]],
    ) -> Cancelled:
        runs = await cancel_runs(runner_id, workspace=workspace)
        batches = await cancel_prompts(runner_id, workspace=workspace, ended=batch_ended)
        return Cancelled(cancelled=batches, runs=runs)

    @get(
        "/events",
        opt={ACCESS_TOKEN_OPT: True},
        summary="Server-Sent Events: each chat record as it lands, each batch and run status",
        description="Every event has an id; reconnect with Last-Event-ID (or ?last_event_id=) "
        "to resume. Also takes the API key as ?access_token= (EventSource cannot send headers). "
        "Open streams are capped per API key and per workspace (429 with Retry-After beyond).",
        dependencies={
            "notifier": Provide(provide_notifier, sync_to_thread=False),
            "stream_slots": Provide(provide_stream_slots, sync_to_thread=False),
        },
        responses={429: ResponseSpec(data_container=None, description="Too many open streams.")},
    )
    async def events(
        self,
        request: Request,
        runner_id: RunnerId,
        workspace: Workspace,
        existing_session: ExistingSession,
        principal: NamedDependency[Principal],
        notifier: NamedDependency[EventNotifier],
        stream_slots: NamedDependency[StreamSlots],
        last_event_id: LastEventId = None,
        follow: Follow = True,
    ) -> ServerSentEvent:
        after = _resume_after(request, last_event_id)
        holder = f"key:{principal.key_id}" if principal.key_id else f"user:{principal.user}"
        slot = stream_slots.take(holder, workspace)

        async def messages() -> AsyncIterator[ServerSentEventMessage]:
            try:
                async for event in follow_events_telling_outages(
                    runner_id, after=after, workspace=workspace, notifier=notifier,
                    heartbeat_s=HEARTBEAT_S, follow=follow,
                ):
                    # Comments carry no data line: a browser dispatches no empty message.
                    if event is None:
                        yield ServerSentEventMessage(data=None, comment="keep-alive")
                    elif isinstance(event, Outage):
                        # Should the connection drop meanwhile, reconnect no sooner than the
                        # stream itself asks again.
                        yield ServerSentEventMessage(
                            data=None, comment=OUTAGE_COMMENT,
                            retry=max(RETRY_MS, math.ceil(event.retry_s * 1000)),
                        )
                    else:
                        yield ServerSentEventMessage(
                            id=event.seq,
                            event=event.name,
                            data=json.dumps(event.data, separators=(",", ":")),
                            retry=RETRY_MS,
                        )
            finally:
                # Runs when the stream ends and when the client goes away (cancelled).
                slot.release()

        # Also after the response, in case the stream never started.
        return ServerSentEvent(
            messages(), headers={"X-Accel-Buffering": "no"}, background=BackgroundTask(slot.release)
        )
