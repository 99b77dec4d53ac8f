"""No API key, endpoint token or URL password reaches the log, at any level, in either format.

The server runs with logging configured exactly as `sparring serve` configures it, at DEBUG,
with uvicorn's access log on, writing text lines or JSON lines; a scripted session sends keys
every way they can be sent, an endpoint with a token, a URI with a password and some failures,
and the whole output is read (each field of each JSON line decoded).
"""

import io
import logging
from collections.abc import AsyncIterator, Iterator

import pytest
from litestar import Litestar

from models import Role
from service.database import Database
from service.http.prompting_state import TASK_QUEUE_STATE_KEY
from service.logs import CHATTY_LOGGERS, SERVER_LOGGERS, configure_logging
from service.settings import Settings
from tests.factories import create_key
from tests.security.conftest import WA, WB, World
from tests.support.fake_openai import FakeOpenAI
from tests.support.live_server import live_server
from tests.support.logs import json_lines

TOKEN = "tok-Endpoint-Secret-7d1e0c"
PASSWORD = "pw-Url-Secret-93ab"
BAD_KEY = "spk_000000000000_NotAKeyButSecretLooking-42"


@pytest.fixture
def log_output(security_settings: Settings) -> Iterator[io.StringIO]:
    """Logging as `sparring serve` sets it up, into a buffer; the previous set-up afterwards."""
    loggers = [logging.getLogger(name) for name in ("", *CHATTY_LOGGERS, *SERVER_LOGGERS)]
    saved = [(logger, logger.handlers[:], logger.level, logger.propagate) for logger in loggers]
    buffer = io.StringIO()
    configure_logging(security_settings, stream=buffer)
    yield buffer
    for logger, handlers, level, propagate in saved:
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


@pytest.fixture(params=["text", "json"])
def security_settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    # Local mode lets endpoints reach the fake OpenAI server on loopback; keys still work.
    return Settings(**{
        **settings.model_dump(), "auth": "local", "log_level": "DEBUG", "log_format": request.param,
    })


def readable(output: str, log_format: str) -> str:
    """The log as text: JSON lines decoded (every field), so no escape hides a secret."""
    if log_format == "text":
        return output
    return "\n".join(str(value) for line in json_lines(output) for value in line.values())


@pytest.fixture
async def logged_world(
    security_app: Litestar, security_settings: Settings, db: Database, log_output
) -> AsyncIterator[World]:
    keys = {
        "alice": await create_key("alice", Role.OWNER, workspace=WA),
        "bob": await create_key("bob", Role.EDITOR, workspace=WA),
        "carol": await create_key("carol", Role.VIEWER, workspace=WA),
        "dave": await create_key("dave", Role.OWNER, workspace=WB),
    }
    async with live_server(security_app, security_settings) as url:
        yield World(url=url, **keys)


async def test_no_secret_in_any_log_line(
    logged_world: World,
    security_app: Litestar,
    security_settings: Settings,
    fake_openai: FakeOpenAI,
    log_output,
):
    world = logged_world
    fake_openai.valid_tokens.add(TOKEN)
    userinfo_uri = fake_openai.base_url.replace("://", f"://user:{PASSWORD}@")
    async with world.client(world.alice) as alice:
        created = await alice.post(
            "/api/v1/llm-endpoints",
            json={"name": "gpt", "connector_type": "openai-connector", "uri": fake_openai.base_url,
                  "token": TOKEN, "model": "gpt"},
        )
        assert created.status_code == 200, created.text
        # Credentials belong in the token; whether refused or stored, the password is not logged.
        with_password = await alice.post(
            "/api/v1/llm-endpoints",
            json={"name": "userinfo", "connector_type": "openai-connector", "uri": userinfo_uri,
                  "token": TOKEN, "model": "userinfo"},
        )
        endpoints = ["gpt"] + (["userinfo"] if with_password.status_code == 200 else [])
        session = await alice.post(
            "/api/v1/sessions", json={"name": "Logged", "endpoints": endpoints}
        )
        assert session.status_code == 200, session.text
        prompt = await alice.post("/api/v1/sessions/logged/prompt", json={"user_prompt": "Hi"})
        assert prompt.status_code in (200, 202), prompt.text
        await security_app.state[TASK_QUEUE_STATE_KEY].wait_idle()
        assert (await alice.get("/api/v1/sessions/nowhere")).status_code == 404
    async with world.client(**{"X-API-Key": world.bob}) as bob:
        assert (await bob.get("/api/v1/sessions/logged")).status_code == 200
    async with world.client() as anyone:
        events = await anyone.get(
            "/api/v1/sessions/logged/events",
            params={"access_token": world.carol, "follow": "false"},
        )
        assert events.status_code == 200, events.text
        bad = await anyone.get("/api/v1/sessions", headers={"Authorization": f"Bearer {BAD_KEY}"})
        assert bad.status_code == 401
        bad_query = await anyone.get(
            "/api/v1/sessions/logged/events", params={"access_token": BAD_KEY, "follow": "false"}
        )
        assert bad_query.status_code == 401

    raw = log_output.getvalue()
    output = readable(raw, security_settings.log_format)
    # The log did record all this: the access log at least, with the events line redacted.
    assert '"GET /api/v1/sessions/nowhere HTTP/1.1" 404' in output
    assert "/api/v1/sessions/logged/events?access_token=***&follow=false" in output
    for secret in (world.alice, world.bob, world.carol, BAD_KEY, TOKEN, PASSWORD):
        assert secret not in output and secret not in raw
        # The key's secret part alone is not there either (keys read `spk_<id>_<secret>`, and
        # the secret may itself hold `_`, so it is cut after the id, not at the last `_`).
        assert secret.split("_", 2)[-1] not in output
    if security_settings.log_format == "json":
        # Each of the service's access lines names its request (the fake OpenAI server's, a
        # uvicorn of its own in this process, names none).
        access = [line for line in json_lines(raw)
                  if line["logger"] == "uvicorn.access" and "/api/v1/" in line["message"]]
        assert len(access) >= 8 and all(line.get("request_id") for line in access)
