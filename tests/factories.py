"""Factories for test data: each makes a valid thing, with overrides."""

import itertools
from typing import Any

from models import ChatRecord, Role, User, Workspace
from service.api import api_create_session
from service.api.accounts import add_member, create_api_key, create_user, create_workspace
from service.api.endpoints import api_create_endpoint
from service.api.schemas import DEFAULT_WORKSPACE
from service.api.sessions.runners import create_runner_with_session
from service.auth.secret import derive_api_key_secret
from service.tokens import TokenCipher

_numbers = itertools.count(1)
# The key endpoint tokens are encrypted with in tests (the `settings` fixture's `secret_key`).
TEST_SECRET_KEY = "sparring-tests-endpoint-token-key"
TEST_CIPHER = TokenCipher(TEST_SECRET_KEY.encode())
# What apps built with the test settings hash API keys with.
TEST_KEY_SECRET = derive_api_key_secret(TEST_SECRET_KEY.encode())


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


async def create_member(user: str, role: Role, *, workspace: str) -> None:
    """Make `user` a member of `workspace` with `role`, creating either if missing."""
    if await User.get(user) is None:
        await create_user(user)
    if await Workspace.get(workspace) is None:
        await create_workspace(workspace, actor="factory")
    await add_member(user, role, workspace=workspace, actor="factory")


async def create_key(user: str, role: Role, *, workspace: str, **options: Any) -> str:
    """A working API key of a (new) member; returns the key itself."""
    await create_member(user, role, workspace=workspace)
    created = await create_api_key(
        user, workspace=workspace, secret=TEST_KEY_SECRET, actor="factory", **options
    )
    return created.key


async def create_endpoint(
    name: str,
    connector_type: str = "echo",
    *,
    uri: str = "",
    token: str = "",
    model: str = "",
    max_calls_per_second: int = 1000,
    max_concurrency: int = 100,
    params: dict[str, Any] | None = None,
    workspace: str = DEFAULT_WORKSPACE,
) -> str:
    """Register an endpoint (by default an offline `echo` one); returns its id."""
    return await api_create_endpoint(
        name, connector_type, uri, token, max_calls_per_second, max_concurrency, model,
        params or {}, workspace=workspace, cipher=TEST_CIPHER,
    )
