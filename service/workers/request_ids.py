"""The request id travels with the task: queued in its labels, set while the task runs.

So a worker's log lines for a task (in process or in `sparring worker`) carry the id of the
request that queued it, and what the task queues in turn (a run's step queues prompt tasks and
its next step) carries the same id. Tasks queued by no request (recovery at start, the
workers' sweep) carry none: their lines have no request to point to.
"""

import contextlib
from contextvars import Token

from taskiq import TaskiqMessage, TaskiqMiddleware, TaskiqResult

from service.request_context import (
    bind_request_id,
    current_request_id,
    unbind_request_id,
    well_formed,
)

REQUEST_ID_LABEL = "request_id"


class RequestIdMiddleware(TaskiqMiddleware):
    """pre_send: the current request id into the labels; pre_execute: from the labels into
    the context; post_execute: the context as it was."""

    def __init__(self) -> None:
        super().__init__()
        # By taskiq message id: each task's pre_execute and post_execute run in its own
        # asyncio task (`Receiver.callback`), so each token is reset where it was made.
        self._tokens: dict[str, Token[str | None]] = {}

    def pre_send(self, message: TaskiqMessage) -> TaskiqMessage:
        request_id = current_request_id()
        if request_id is not None:
            message.labels[REQUEST_ID_LABEL] = request_id
        return message

    def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        # Labels come back from Redis: an id that is not well formed is not logged.
        label = message.labels.get(REQUEST_ID_LABEL)
        request_id = well_formed(label) if isinstance(label, str) else None
        self._tokens[message.task_id] = bind_request_id(request_id)
        return message

    def post_execute(self, message: TaskiqMessage, result: TaskiqResult[object]) -> None:
        token = self._tokens.pop(message.task_id, None)
        if token is None:
            return
        # A message delivered twice at once (claimed from a worker thought dead) ran its
        # pre_execute in another task: that task's context ends with it anyway.
        with contextlib.suppress(ValueError):
            unbind_request_id(token)
