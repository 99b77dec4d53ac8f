"""A fake OpenAI-compatible chat-completions server: real HTTP on 127.0.0.1, in its own thread.

Behaviour is chosen per model name, so one server can play a healthy endpoint, one that answers
500, one that hangs and one that rate-limits, side by side. A behaviour can also script what a
model says (`answers`), so one server plays a red-teaming run's target, attacker and judge. It
counts calls in flight, so tests can check concurrency limits from outside the service.
"""

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn

VALID_TOKEN = "sk-test-valid-token-0123456789"

Messages = list[dict[str, Any]]
# A scripted model: a function of the request's messages, or answers given in turn (the last
# one again once they run out).
Answers = Callable[[Messages], str] | list[str]


@dataclass
class Behaviour:
    """How the server answers one model."""

    latency_s: float = 0.0
    # Answer this status (with an OpenAI-style error body) instead of a completion.
    status: int = 200
    # Answer `status` only this many times, then complete normally (None: always).
    fail_times: int | None = None
    # Complete normally this many times before answering `status` (a model that breaks midway).
    succeed_times: int = 0
    # Sent with error answers, so the client's retries wait this long instead of its backoff.
    retry_after_ms: int | None = 10
    # Answer 200 with this HTML page instead of a completion (a proxy's or a web server's page).
    html: str | None = None
    # What the model says (None: "<model> says: <last user message>"). A callable runs on the
    # server's thread, one call at a time, so it may keep state of its own.
    answers: Answers | None = None


@dataclass
class Call:
    model: str
    messages: list[dict[str, Any]]
    body: dict[str, Any]
    authorization: str
    started: float
    finished: float = 0.0
    status: int = 0


@dataclass
class FakeOpenAI:
    """Start with `start()`, point endpoints at `base_url`, stop with `stop()`."""

    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    valid_tokens: set[str] = field(default_factory=lambda: {VALID_TOKEN})
    calls: list[Call] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=dict)
    max_in_flight: dict[str, int] = field(default_factory=dict)
    total_in_flight: int = 0
    max_total_in_flight: int = 0
    port: int = 0
    _failures: dict[str, int] = field(default_factory=dict)
    _successes: dict[str, int] = field(default_factory=dict)
    # How many scripted answers each model has given, for `answers` lists.
    _answered: dict[str, int] = field(default_factory=dict)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "FakeOpenAI":
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        # Listening before the thread starts: connections wait in the backlog, no start-up race.
        listener.listen(512)
        self.port = listener.getsockname()[1]
        config = uvicorn.Config(
            self._app, interface="asgi3", log_level="warning", lifespan="off",
            timeout_graceful_shutdown=5,
            backlog=512, limit_concurrency=None,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.serve(sockets=[listener])),  # type: ignore[union-attr]
            name="fake-openai",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def reset(self) -> None:
        self.behaviours.clear()
        self.calls.clear()
        self.in_flight.clear()
        self.max_in_flight.clear()
        self._failures.clear()
        self._successes.clear()
        self._answered.clear()
        self.total_in_flight = 0
        self.max_total_in_flight = 0

    def calls_for(self, model: str) -> list[Call]:
        return [call for call in self.calls if call.model == model]

    async def _app(self, scope: dict, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {key.decode().lower(): value.decode() for key, value in scope["headers"]}
        if not scope["path"].endswith("/chat/completions"):
            await self._answer(send, 404, {"error": {"message": "Not found", "type": "invalid"}})
            return
        request = json.loads(body)
        model = request.get("model", "")
        call = Call(
            model=model,
            messages=request.get("messages", []),
            body=request,
            authorization=headers.get("authorization", ""),
            started=time.monotonic(),
        )
        self.calls.append(call)
        behaviour = self.behaviours.get(model, Behaviour())
        self._enter(model)
        try:
            await asyncio.sleep(behaviour.latency_s)
        finally:
            self._leave(model)
        call.finished = time.monotonic()
        if call.authorization.removeprefix("Bearer ") not in self.valid_tokens:
            call.status = 401
            # Real servers quote part of the key here; the service must not pass it on.
            await self._answer(
                send, 401,
                {"error": {"message": f"Incorrect API key provided: {call.authorization}",
                           "type": "invalid_request_error", "code": "invalid_api_key"}},
            )
            return
        if behaviour.status != 200 and self._should_fail(model, behaviour):
            call.status = behaviour.status
            extra = {}
            if behaviour.retry_after_ms is not None:
                extra["retry-after-ms"] = str(behaviour.retry_after_ms)
            await self._answer(
                send, behaviour.status,
                {"error": {"message": f"fake failure {behaviour.status}", "type": "server_error"}},
                extra,
            )
            return
        call.status = 200
        if behaviour.html is not None:
            await self._answer_raw(send, 200, behaviour.html.encode(), b"text/html; charset=utf-8")
            return
        await self._answer(send, 200, completion(model, self._content(model, behaviour, call)))

    def _content(self, model: str, behaviour: Behaviour, call: Call) -> str:
        answers = behaviour.answers
        if answers is None:
            return answer_for(model, call.messages)
        if callable(answers):
            return answers(call.messages)
        given = self._answered.get(model, 0)
        self._answered[model] = given + 1
        return answers[min(given, len(answers) - 1)]

    def _should_fail(self, model: str, behaviour: Behaviour) -> bool:
        succeeded = self._successes.get(model, 0)
        if succeeded < behaviour.succeed_times:
            self._successes[model] = succeeded + 1
            return False
        if behaviour.fail_times is None:
            return True
        failed = self._failures.get(model, 0)
        if failed >= behaviour.fail_times:
            return False
        self._failures[model] = failed + 1
        return True

    def _enter(self, model: str) -> None:
        self.in_flight[model] = self.in_flight.get(model, 0) + 1
        self.max_in_flight[model] = max(self.max_in_flight.get(model, 0), self.in_flight[model])
        self.total_in_flight += 1
        self.max_total_in_flight = max(self.max_total_in_flight, self.total_in_flight)

    def _leave(self, model: str) -> None:
        # A call still running across `reset()` leaves counts of the test before untouched.
        if self.in_flight.get(model, 0) > 0:
            self.in_flight[model] -= 1
        self.total_in_flight = max(self.total_in_flight - 1, 0)

    @staticmethod
    async def _answer(send: Any, status: int, payload: dict, headers: dict | None = None) -> None:
        await FakeOpenAI._answer_raw(
            send, status, json.dumps(payload).encode(), b"application/json", headers
        )

    @staticmethod
    async def _answer_raw(
        send: Any, status: int, data: bytes, content_type: bytes, headers: dict | None = None
    ) -> None:
        raw_headers = [(b"content-type", content_type),
                       (b"content-length", str(len(data)).encode())]
        raw_headers += [(key.encode(), value.encode()) for key, value in (headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": data})


def answer_for(model: str, messages: Messages) -> str:
    """What the fake answers unscripted: deterministic, so tests can predict it."""
    return f"{model} says: {user_message(messages)}"


def user_message(messages: Messages) -> str:
    """The request's last user message."""
    return next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")


def system_message(messages: Messages) -> str:
    """The request's system message ("" when it has none)."""
    return next((m["content"] for m in messages if m.get("role") == "system"), "")


def completion(model: str, content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
