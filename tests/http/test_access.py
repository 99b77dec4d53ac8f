"""Every route × every role × own or other workspace answers exactly the status it should.

The table below must name every protected route of the app: a route added later fails
`test_the_table_covers_every_route` until someone decides who may use it.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from models import Role
from service.api.accounts import create_api_key, create_user
from service.api.bookmarks import api_insert_bookmark
from service.api.prompting import create_batch
from service.api.runs import start_run
from service.http import create_app
from tests.factories import (
    TEST_KEY_SECRET,
    create_endpoint,
    create_key,
    create_member,
    create_runner,
)
from tests.support.http_client import asgi_client

ROLES = (Role.VIEWER, Role.EDITOR, Role.OWNER)
OWN = "alpha"
OTHER = "beta"
# What exists only in the other workspace, and a name that exists nowhere, for comparing.
THEIR_SESSION, GHOST_SESSION = "theirs", "ghost-run"
# Names with letters beyond a-f, so no random hex id in an answer can contain them.
THEIR_MEMBER, GHOST_MEMBER = "quorra", "nobody"
THEIR_ENDPOINT, GHOST_ENDPOINT = "their-endpoint", "ghost-endpoint"
GHOST_KEY = "000000000000"
THEIR_BOOKMARK, GHOST_BOOKMARK = "their-mark", "ghost-mark"
ATTACK = {"attack_module": "sample_attack_module"}


@dataclass
class World:
    keys: dict[Role, str]
    # A server admin's key: a viewer in the own workspace.
    admin_key: str
    spare_keys: dict[Role, str]
    batches: dict[Role, str]
    their_key: str
    their_batch: str
    # A red-teaming run (stored, never queued) in each role's attack session, and theirs.
    runs: dict[Role, str]
    their_run: str


Request = tuple[str, dict[str, Any] | None]


@dataclass(frozen=True)
class Case:
    """Who may use a route, what it answers them, and what to ask of theirs and of others'."""

    needs: Role
    ok: int
    own: Callable[[World, Role], Request]
    # A request at something of the other workspace, as a template with `{name}`, and the name
    # there and a name that exists nowhere; None when the route addresses no one thing.
    other: tuple[str, dict[str, Any] | None, str, str] | Callable[[World], tuple] | None = None
    headers: dict[str, str] | None = None
    # For server admins only, whatever their role: every role above answers 403.
    admin_only: bool = False


def run(role: Role) -> str:
    return f"run-{role.value}"


def attack_session(role: Role) -> str:
    return f"atk-{role.value}"


def session_route(suffix: str = "", body: dict[str, Any] | None = None) -> Callable:
    return lambda world, role: (f"/api/v1/sessions/{run(role)}{suffix}", body)


def other_session(suffix: str = "", body: dict[str, Any] | None = None) -> tuple:
    return ("/api/v1/sessions/{name}" + suffix, body, THEIR_SESSION, GHOST_SESSION)


def both(suffix: str = "", body: dict[str, Any] | None = None) -> tuple[Callable, tuple]:
    """The same request at one's own session and at the other workspace's."""
    return session_route(suffix, body), other_session(suffix, body)


def fixed(path: str, body: dict[str, Any] | None = None) -> Callable:
    return lambda world, role: (path, body)


VIEW, EDIT, OWNS = Role.VIEWER, Role.EDITOR, Role.OWNER
SESSIONS = "/api/v1/sessions"
SESSION = SESSIONS + "/{runner_id}"
ENDPOINTS = "/api/v1/llm-endpoints"
PROMPT = {"user_prompt": "hello", "history_length": 0}


def other_endpoint(body: dict[str, Any] | None = None) -> tuple:
    return (ENDPOINTS + "/{name}", body, THEIR_ENDPOINT, GHOST_ENDPOINT)


def export_header(role: Role) -> dict[str, Any]:
    """The header line of an export with no records: the smallest file an import takes."""
    name = f"imported-{role.value}"
    return {
        "format": "sparring-session", "version": 1,
        "session": {
            "session_id": name, "name": name, "endpoints": ["echo-a"],
            "created_epoch": "1700000000.5", "created_datetime": "20231114-221320",
        },
    }


BOOKMARKS = "/api/v1/bookmarks"


def bookmark(name: str) -> dict[str, Any]:
    return {
        "name": name, "prompt": "p", "prepared_prompt": "p", "response": "r",
        "context_strategy": "", "prompt_template": "", "attack_module": "", "metric": "",
    }


def other_bookmark(query: bool = False) -> tuple:
    path = BOOKMARKS + ("?name={name}" if query else "/{name}")
    return (path, None, THEIR_BOOKMARK, GHOST_BOOKMARK)


ROUTES: dict[tuple[str, str], Case] = {
    ("GET", "/"): Case(VIEW, 200, fixed("/")),
    ("GET", SESSIONS): Case(VIEW, 200, fixed(SESSIONS)),
    ("GET", f"{SESSIONS}/name"): Case(VIEW, 200, fixed(f"{SESSIONS}/name")),
    ("GET", f"{SESSIONS}/available"): Case(VIEW, 200, fixed(f"{SESSIONS}/available")),
    ("POST", SESSIONS): Case(
        EDIT, 200,
        lambda world, role: (SESSIONS, {"name": f"New {role.value}", "endpoints": ["echo-a"]}),
    ),
    ("GET", SESSION): Case(VIEW, 200, *both()),
    ("PATCH", SESSION): Case(
        EDIT, 200, *both("", {"system_prompt": "p"}),
        headers={"If-Match": "*"},
    ),
    ("DELETE", SESSION): Case(EDIT, 200, *both()),
    ("GET", f"{SESSION}/close"): Case(VIEW, 200, *both("/close")),
    ("GET", f"{SESSION}/info"): Case(VIEW, 200, *both("/info")),
    ("GET", f"{SESSION}/chats"): Case(VIEW, 200, *both("/chats")),
    ("GET", f"{SESSION}/chats/{{endpoint}}"): Case(
        VIEW, 200, *both("/chats/echo-a")
    ),
    ("GET", f"{SESSION}/export"): Case(VIEW, 200, *both("/export")),
    ("POST", f"{SESSIONS}/import"): Case(
        EDIT, 201, lambda world, role: (f"{SESSIONS}/import", export_header(role)),
        headers={"Content-Type": "application/x-ndjson"},
    ),
    ("GET", f"{SESSION}/cs-num-of-prev-prompts"): Case(
        VIEW, 200, *both("/cs-num-of-prev-prompts")
    ),
    ("PUT", f"{SESSION}/cs-num-of-prev-prompts"): Case(
        EDIT, 200, *both("/cs-num-of-prev-prompts", {"cs_num_of_prev_prompts": 2}),
    ),
    ("PUT", f"{SESSION}/prompt-template/{{prompt_template_name}}"): Case(
        EDIT, 200, *both("/prompt-template/answer-template"),
    ),
    ("DELETE", f"{SESSION}/prompt-template/{{prompt_template_name}}"): Case(
        EDIT, 200, *both("/prompt-template/answer-template"),
    ),
    ("PUT", f"{SESSION}/context-strategy/{{ctx_strategy_name}}/{{num_of_prompt}}"): Case(
        EDIT, 200, *both("/context-strategy/add_previous_prompt/2"),
    ),
    ("DELETE", f"{SESSION}/context-strategy/{{ctx_strategy_name}}/{{num_of_prompt}}"): Case(
        EDIT, 200, *both("/context-strategy/add_previous_prompt/2"),
    ),
    ("PUT", f"{SESSION}/attack-module/{{atk_module_name}}"): Case(
        EDIT, 200, *both("/attack-module/sample_attack_module"),
    ),
    ("DELETE", f"{SESSION}/attack-module/{{atk_module_name}}"): Case(
        EDIT, 200, *both("/attack-module/sample_attack_module"),
    ),
    ("PUT", f"{SESSION}/metric/{{metric_name}}"): Case(
        EDIT, 200, *both("/metric/exactstrmatch")
    ),
    ("DELETE", f"{SESSION}/metric/{{metric_name}}"): Case(
        EDIT, 200, *both("/metric/exactstrmatch")
    ),
    ("PUT", f"{SESSION}/system-prompt"): Case(
        EDIT, 200, *both("/system-prompt", {"system_prompt": "s"}),
    ),
    ("DELETE", f"{SESSION}/system-prompt"): Case(
        EDIT, 200, *both("/system-prompt")
    ),
    ("POST", f"{SESSION}/prompt"): Case(
        EDIT, 200, *both("/prompt", PROMPT)
    ),
    ("POST", f"{SESSION}/cancel"): Case(
        EDIT, 200, *both("/cancel")
    ),
    ("GET", f"{SESSION}/events"): Case(
        VIEW, 200, *both("/events?follow=false")
    ),
    ("GET", f"{SESSION}/batches/{{batch_id}}"): Case(
        VIEW, 200,
        lambda world, role: (f"{SESSIONS}/{run(role)}/batches/{world.batches[role]}", None),
        lambda world: (
            f"{SESSIONS}/{{name}}/batches/{world.their_batch}", None, THEIR_SESSION, GHOST_SESSION
        ),
    ),
    ("GET", f"{SESSION}/runs"): Case(
        VIEW, 200,
        lambda world, role: (f"{SESSIONS}/{attack_session(role)}/runs", None),
        other_session("/runs"),
    ),
    ("GET", f"{SESSION}/runs/{{run_id}}"): Case(
        VIEW, 200,
        lambda world, role: (
            f"{SESSIONS}/{attack_session(role)}/runs/{world.runs[role]}", None
        ),
        lambda world: (
            f"{SESSIONS}/{{name}}/runs/{world.their_run}", None, "their-attack", GHOST_SESSION
        ),
    ),
    ("POST", f"{SESSION}/runs/{{run_id}}/cancel"): Case(
        EDIT, 200,
        lambda world, role: (
            f"{SESSIONS}/{attack_session(role)}/runs/{world.runs[role]}/cancel", None
        ),
        lambda world: (
            f"{SESSIONS}/{{name}}/runs/{world.their_run}/cancel", None, "their-attack",
            GHOST_SESSION,
        ),
    ),
    ("GET", ENDPOINTS): Case(VIEW, 200, fixed(ENDPOINTS)),
    ("GET", f"{ENDPOINTS}/name"): Case(VIEW, 200, fixed(f"{ENDPOINTS}/name")),
    ("POST", ENDPOINTS): Case(
        EDIT, 200, lambda world, role: (
            ENDPOINTS, {"name": f"ep-new-{role.value}", "connector_type": "echo"}
        ),
    ),
    ("GET", f"{ENDPOINTS}/{{endpoint_id}}"): Case(
        VIEW, 200, fixed(f"{ENDPOINTS}/echo-a"), other_endpoint()
    ),
    ("PUT", f"{ENDPOINTS}/{{endpoint_id}}"): Case(
        EDIT, 200, lambda world, role: (f"{ENDPOINTS}/ep-{role.value}", {"model": "m"}),
        other_endpoint({"model": "m"}),
    ),
    ("DELETE", f"{ENDPOINTS}/{{endpoint_id}}"): Case(
        EDIT, 200, lambda world, role: (f"{ENDPOINTS}/spare-{role.value}", None), other_endpoint()
    ),
    ("GET", "/api/v1/connectors"): Case(VIEW, 200, fixed("/api/v1/connectors")),
    ("GET", "/api/v1/runners"): Case(VIEW, 200, fixed("/api/v1/runners")),
    ("GET", "/api/v1/runners/{runner_id}"): Case(
        VIEW, 200, lambda world, role: (f"/api/v1/runners/{run(role)}", None),
        ("/api/v1/runners/{name}", None, THEIR_SESSION, GHOST_SESSION),
    ),
    ("GET", "/api/v1/prompt-templates"): Case(VIEW, 200, fixed("/api/v1/prompt-templates")),
    ("GET", "/api/v1/prompt-templates/name"): Case(
        VIEW, 200, fixed("/api/v1/prompt-templates/name")
    ),
    ("POST", "/api/v1/prompt-templates"): Case(
        EDIT, 201, lambda world, role: (
            "/api/v1/prompt-templates",
            {"name": f"tpl-{role.value}", "template": "Q: {{ prompt }}"},
        ),
    ),
    ("GET", "/api/v1/context-strategies"): Case(VIEW, 200, fixed("/api/v1/context-strategies")),
    ("GET", "/api/v1/context-strategies/name"): Case(
        VIEW, 200, fixed("/api/v1/context-strategies/name")
    ),
    ("GET", "/api/v1/attack-modules"): Case(VIEW, 200, fixed("/api/v1/attack-modules")),
    ("GET", "/api/v1/attack-modules/metadata"): Case(
        VIEW, 200, fixed("/api/v1/attack-modules/metadata")
    ),
    ("GET", "/api/v1/metrics"): Case(VIEW, 200, fixed("/api/v1/metrics")),
    # Built-ins exist in every workspace, so there is no "theirs" to reach for: each
    # workspace's settings are its own (tests/http/test_registries.py).
    ("PUT", "/api/v1/attack-modules/{name}/config"): Case(
        EDIT, 200, fixed(
            "/api/v1/attack-modules/charswap_attack/config", {"configurations": {"n": 1}}
        ),
    ),
    ("PUT", "/api/v1/metrics/{name}/config"): Case(
        EDIT, 200, fixed("/api/v1/metrics/bleuscore/config", {"configurations": {"n": 1}}),
    ),
    ("GET", "/api/v1/benchmarks/status"): Case(VIEW, 200, fixed("/api/v1/benchmarks/status")),
    ("GET", BOOKMARKS): Case(VIEW, 200, fixed(BOOKMARKS), other_bookmark(query=True)),
    ("POST", BOOKMARKS): Case(
        EDIT, 200, lambda world, role: (BOOKMARKS, bookmark(f"new-mark-{role.value}")),
    ),
    ("DELETE", BOOKMARKS): Case(
        EDIT, 200, lambda world, role: (f"{BOOKMARKS}?name=mark-{role.value}", None),
        other_bookmark(query=True),
    ),
    ("GET", f"{BOOKMARKS}/export"): Case(VIEW, 200, fixed(f"{BOOKMARKS}/export")),
    ("GET", f"{BOOKMARKS}/{{name}}"): Case(
        VIEW, 200, lambda world, role: (f"{BOOKMARKS}/mark-{role.value}", None), other_bookmark(),
    ),
    ("DELETE", f"{BOOKMARKS}/{{name}}"): Case(
        EDIT, 200, lambda world, role: (f"{BOOKMARKS}/mark-{role.value}", None), other_bookmark(),
    ),
    ("POST", "/api/v1/admin/users"): Case(
        VIEW, 201, lambda world, role: ("/api/v1/admin/users", {"name": f"user-{role.value}"}),
        admin_only=True,
    ),
    ("POST", "/api/v1/admin/workspaces"): Case(
        VIEW, 201, lambda world, role: ("/api/v1/admin/workspaces", {"name": f"ws-{role.value}"}),
        admin_only=True,
    ),
    ("GET", "/api/v1/admin/members"): Case(OWNS, 200, fixed("/api/v1/admin/members")),
    ("PUT", "/api/v1/admin/members/{user}"): Case(
        OWNS, 200,
        lambda world, role: (f"/api/v1/admin/members/new-{role.value}", {"role": "viewer"}),
    ),
    ("DELETE", "/api/v1/admin/members/{user}"): Case(
        OWNS, 200, lambda world, role: (f"/api/v1/admin/members/member-{role.value}", None),
        ("/api/v1/admin/members/{name}", None, THEIR_MEMBER, GHOST_MEMBER),
    ),
    # Every member manages their own keys (owners all of the workspace's).
    ("GET", "/api/v1/admin/keys"): Case(VIEW, 200, fixed("/api/v1/admin/keys")),
    ("POST", "/api/v1/admin/keys"): Case(
        VIEW, 201, lambda world, role: ("/api/v1/admin/keys", {"label": f"own-{role.value}"})
    ),
    ("DELETE", "/api/v1/admin/keys/{key_id}"): Case(
        VIEW, 200, lambda world, role: (f"/api/v1/admin/keys/{world.spare_keys[role]}", None),
        lambda world: ("/api/v1/admin/keys/{name}", None, world.their_key, GHOST_KEY),
    ),
    ("GET", "/api/v1/admin/audit"): Case(OWNS, 200, fixed("/api/v1/admin/audit")),
}
# Routes anyone may call; everything else is in the table above.
PUBLIC = re.compile(r"^/(health|ready|metrics)$|^/schema(/|$)")


def app_routes(app) -> set[tuple[str, str]]:
    return {
        (method, route.path_format)
        for route in app.routes
        for method in getattr(route, "route_handler_map", {})
        if method not in ("OPTIONS", "HEAD") and not PUBLIC.match(route.path_format)
    }


async def build_world() -> World:
    keys = {}
    spare_keys = {}
    batches = {}
    runs = {}
    users = {Role.OWNER: "olga", Role.EDITOR: "ed", Role.VIEWER: "vic"}
    for role, user in users.items():
        keys[role] = await create_key(user, role, workspace=OWN)
    for workspace in (OWN, OTHER):
        await create_endpoint("echo-a", workspace=workspace)
    await create_endpoint(THEIR_ENDPOINT, workspace=OTHER)
    for role in ROLES:
        await create_endpoint(f"spare-{role.value}", workspace=OWN)
    for role in ROLES:
        await create_runner(run(role), endpoints=["echo-a"], workspace=OWN)
        await create_endpoint(f"ep-{role.value}", workspace=OWN)
        batches[role], _ = await create_batch(run(role), "queued", 0, workspace=OWN)
        await create_runner(attack_session(role), endpoints=["echo-a"], workspace=OWN, **ATTACK)
        runs[role] = (await start_run(attack_session(role), "seed", workspace=OWN)).run_id
        await create_member(f"member-{role.value}", Role.VIEWER, workspace=OWN)
        await create_user(f"new-{role.value}")
        spare = await create_api_key(
            users[role], workspace=OWN, secret=TEST_KEY_SECRET, actor="test"
        )
        spare_keys[role] = spare.id
    for role in ROLES:
        await api_insert_bookmark(*bookmark(f"mark-{role.value}").values(), workspace=OWN)
    await api_insert_bookmark(*bookmark(THEIR_BOOKMARK).values(), workspace=OTHER)
    await create_member("mallory", Role.OWNER, workspace=OTHER)
    await create_member(THEIR_MEMBER, Role.EDITOR, workspace=OTHER)
    await create_runner(THEIR_SESSION, endpoints=["echo-a"], workspace=OTHER)
    their_batch, _ = await create_batch(THEIR_SESSION, "theirs", 0, workspace=OTHER)
    await create_runner("their-attack", endpoints=["echo-a"], workspace=OTHER, **ATTACK)
    their_run = (await start_run("their-attack", "theirs", workspace=OTHER)).run_id
    their_key = await create_api_key("mallory", workspace=OTHER, secret=TEST_KEY_SECRET, actor="t")
    await create_user("ada", admin=True)
    admin_key = await create_key("ada", Role.VIEWER, workspace=OWN)
    return World(
        keys=keys, admin_key=admin_key, spare_keys=spare_keys, batches=batches,
        their_key=their_key.id, their_batch=their_batch, runs=runs, their_run=their_run,
    )


@pytest.fixture
def app(required_settings, db):
    return create_app(required_settings, database=db)


def test_the_table_covers_every_route(app):
    assert app_routes(app) == set(ROUTES)


def _other_request(case: Case, world: World) -> tuple | None:
    return case.other(world) if callable(case.other) else case.other


async def call(
    client: httpx.AsyncClient, method: str, request: Request, key: str, case: Case
) -> httpx.Response:
    path, body = request
    headers = {"Authorization": f"Bearer {key}", **(case.headers or {})}
    return await client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(("method", "template"), sorted(ROUTES), ids=lambda value: str(value))
async def test_route_role_and_workspace(app, method, template):
    case = ROUTES[(method, template)]
    world = await build_world()
    async with asgi_client(app) as client:
        if case.admin_only:
            response = await call(
                client, method, case.own(world, Role.VIEWER), world.admin_key, case
            )
            assert response.status_code == case.ok, response.text
        for role in ROLES:
            allowed = not case.admin_only and role.allows(case.needs)
            other = _other_request(case, world)
            if other is not None:
                path, body, theirs, ghost = other
                response = await call(
                    client, method, (path.format(name=theirs), body), world.keys[role], case
                )
                assert response.status_code == (404 if allowed else 403), (role, response.text)
                missing = await call(
                    client, method, (path.format(name=ghost), body), world.keys[role], case
                )
                # Exactly as if it did not exist: same status, same words.
                assert response.status_code == missing.status_code
                assert response.text.replace(theirs, ghost) == missing.text
            response = await call(client, method, case.own(world, role), world.keys[role], case)
            expected = case.ok if allowed else 403
            assert response.status_code == expected, (role, response.text)
            if method == "GET" and allowed:
                # No listing or count shows the other workspace's things.
                for name in (
                    THEIR_SESSION, "mallory", THEIR_MEMBER, THEIR_ENDPOINT, THEIR_BOOKMARK,
                    world.their_key,
                    world.their_batch, OTHER,
                ):
                    assert name not in response.text, (role, name)
