"""Factories for test data: each makes a valid thing, with overrides."""

import itertools
from typing import Any

from models import ChatRecord
from service.api import api_create_session
from service.api.runners import create_runner_with_session
from service.api.schemas import DEFAULT_WORKSPACE

_numbers = itertools.count(1)


def unique_runner_id(prefix: str = "runner") -> str:
    return f"{prefix}-{next(_numbers)}"


async def create_session(
    runner_id: str | None = None,
    endpoints: list[str] | None = None,
    runner_args: dict[str, Any] | None = None,
    *,
    workspace: str = DEFAULT_WORKSPACE,
) -> str:
    runner_id = runner_id or unique_runner_id()
    await api_create_session(
        runner_id,
        None,
        ["echo-a", "echo-b"] if endpoints is None else endpoints,
        runner_args or {},
        workspace=workspace,
    )
    return runner_id


async def create_runner(
    name: str | None = None,
    endpoints: list[str] | None = None,
    *,
    description: str = "",
    workspace: str = DEFAULT_WORKSPACE,
    **runner_args: Any,
) -> str:
    runner, _ = await create_runner_with_session(
        name or unique_runner_id("Runner"),
        description,
        ["echo-a"] if endpoints is None else endpoints,
        runner_args,
        workspace=workspace,
    )
    return runner.id


def make_chat_record(chat_record_id: int, endpoint: str = "echo-a", **fields: Any) -> ChatRecord:
    values: dict[str, Any] = {
        "chat_record_id": chat_record_id,
        "conn_id": endpoint,
        "prompt": f"prompt {chat_record_id}",
        "prepared_prompt": f"prompt {chat_record_id}",
        "predicted_result": f"answer {chat_record_id}",
        "duration": 0.01,
        "prompt_time": "2026-11-25 09:00:00.000000",
    }
    values.update(fields)
    return ChatRecord(**values)
