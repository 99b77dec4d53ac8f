"""In `required` mode endpoints cannot reach the server's own networks: no port scanner.

The check is on the address connected to, so a name resolving to loopback is refused too, and
every refused call reads the same whatever listens (or not) at that address.
"""

import socket

import pytest

from service.settings import Settings
from tests.security.conftest import World
from tests.support.fake_openai import VALID_TOKEN, FakeOpenAI

ENDPOINTS = "/api/v1/llm-endpoints"
NOT_ALLOWED = "the endpoint's address is not allowed"


@pytest.fixture
def allow_networks() -> list[str]:
    """SPARRING_ENDPOINT_ALLOW_NETWORKS; strict unless a test parametrizes it."""
    return []


@pytest.fixture
def mode() -> str:
    return "required"


@pytest.fixture
def security_settings(settings: Settings, mode: str, allow_networks: list[str]) -> Settings:
    return Settings(**{
        **settings.model_dump(), "auth": mode, "endpoint_allow_networks": allow_networks,
    })


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def prompt_endpoints(world: World, uris: dict[str, str]) -> dict[str, str]:
    """Alice makes one endpoint per uri, a session of them, prompts it; the answers by name."""
    async with world.client(world.alice) as alice:
        for name, uri in uris.items():
            created = await alice.post(ENDPOINTS, json={
                "name": name, "connector_type": "openai-connector", "uri": uri,
                "token": VALID_TOKEN, "model": "model-a",
                "params": {"timeout": 5, "max_attempts": 1},
            })
            assert created.status_code == 200, created.text
        made = await alice.post(
            "/api/v1/sessions", json={"name": "Scanner", "endpoints": list(uris)}
        )
        assert made.status_code == 200, made.text
        answered = await alice.post("/api/v1/sessions/scanner/prompt", json={"user_prompt": "Hi"})
        assert answered.status_code == 200, answered.text
    chats = answered.json()["current_chats"]
    return {name: chats[name][0]["predicted_result"] for name in uris}


async def test_own_networks_are_refused_alike_and_never_called(
    world: World, fake_openai: FakeOpenAI
):
    port = fake_openai.port
    answers = await prompt_endpoints(world, {
        "loopback": fake_openai.base_url,
        "loopback-closed": f"http://127.0.0.1:{closed_port()}/v1",
        "loopback-v6": f"http://[::1]:{port}/v1",
        "by-name": f"http://localhost:{port}/v1",
        "mapped": f"http://[::ffff:127.0.0.1]:{port}/v1",
        "unspecified": f"http://0.0.0.0:{port}/v1",
        "metadata": "http://169.254.169.254/latest/v1",
        "private": "http://10.0.0.1:8080/v1",
        "the-service": world.url + "/v1",
    })
    causes = {answer.removeprefix(f"[error] endpoint {name}: ") for name, answer in answers.items()}
    assert len(causes) == 1, answers
    (cause,) = causes
    assert cause.startswith(NOT_ALLOWED), answers
    assert fake_openai.calls == []


@pytest.mark.parametrize("allow_networks", [["127.0.0.0/8"]])
async def test_a_listed_network_is_reached(world: World, fake_openai: FakeOpenAI):
    answers = await prompt_endpoints(world, {
        "loopback": fake_openai.base_url,
        "metadata": "http://169.254.169.254/latest/v1",
    })
    assert answers["loopback"] == "model-a says: Hi"
    assert answers["metadata"].startswith(f"[error] endpoint metadata: {NOT_ALLOWED}")
    assert len(fake_openai.calls) == 1


@pytest.mark.parametrize("mode", ["local"])
async def test_local_mode_reaches_local_servers(world: World, fake_openai: FakeOpenAI):
    answers = await prompt_endpoints(world, {
        "loopback": fake_openai.base_url,
        "by-name": f"http://localhost:{fake_openai.port}/v1",
    })
    assert answers == {"loopback": "model-a says: Hi", "by-name": "model-a says: Hi"}
    assert len(fake_openai.calls) == 2
