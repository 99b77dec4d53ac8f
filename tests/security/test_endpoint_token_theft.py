"""An editor cannot point someone else's endpoint elsewhere and have its token sent there."""

from collections.abc import Iterator

import pytest

from service.tokens import TOKEN_MASK
from tests.security.conftest import World
from tests.support.fake_openai import VALID_TOKEN, FakeOpenAI

ENDPOINTS = "/api/v1/llm-endpoints"


@pytest.fixture
def listener() -> Iterator[FakeOpenAI]:
    """The editor's own server: it notes every Authorization header it is sent."""
    server = FakeOpenAI().start()
    yield server
    server.stop()


async def alice_makes_open(world: World, fake: FakeOpenAI) -> None:
    async with world.client(world.alice) as alice:
        created = await alice.post(ENDPOINTS, json={
            "name": "open", "connector_type": "openai-connector", "uri": fake.base_url,
            "token": VALID_TOKEN, "model": "model-a",
            "params": {"timeout": 10, "max_attempts": 1},
        })
        assert created.status_code == 200, created.text


async def bob_prompts_through_open(world: World) -> dict:
    async with world.client(world.bob) as bob:
        made = await bob.post(
            "/api/v1/sessions", json={"name": "Bobs Probe", "endpoints": ["open"]}
        )
        assert made.status_code == 200, made.text
        answered = await bob.post(
            "/api/v1/sessions/bobs-probe/prompt", json={"user_prompt": "Hi"}
        )
        assert answered.status_code == 200, answered.text
        return answered.json()


def names_token(response) -> bool:
    return response.status_code == 422 and any(
        error["loc"][-1] == "token" for error in response.json()["error"]
    )


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({}, id="uri-only"),
        pytest.param({"token": TOKEN_MASK}, id="uri-with-the-mask"),
        pytest.param({"token": None}, id="uri-with-null-token"),
    ],
)
async def test_moving_the_uri_without_the_token_is_refused(
    world: World, fake_openai: FakeOpenAI, listener: FakeOpenAI, change: dict
):
    await alice_makes_open(world, fake_openai)
    async with world.client(world.bob) as bob:
        moved = await bob.put(f"{ENDPOINTS}/open", json={"uri": listener.base_url, **change})
        assert names_token(moved), moved.text
        assert VALID_TOKEN not in moved.text
        assert (await bob.get(f"{ENDPOINTS}/open")).json()["uri"] == fake_openai.base_url
    info = await bob_prompts_through_open(world)
    assert info["current_chats"]["open"][0]["predicted_result"] == "model-a says: Hi"
    assert listener.calls == []
    assert [call.authorization for call in fake_openai.calls] == [f"Bearer {VALID_TOKEN}"]


async def test_changing_the_connector_type_without_the_token_is_refused(
    world: World, fake_openai: FakeOpenAI
):
    await alice_makes_open(world, fake_openai)
    async with world.client(world.bob) as bob:
        changed = await bob.put(f"{ENDPOINTS}/open", json={"connector_type": "echo"})
        assert names_token(changed), changed.text
        assert (await bob.get(f"{ENDPOINTS}/open")).json()["connector_type"] == "openai-connector"


async def test_a_new_uri_with_an_empty_token_clears_it(
    world: World, fake_openai: FakeOpenAI, listener: FakeOpenAI
):
    await alice_makes_open(world, fake_openai)
    async with world.client(world.bob) as bob:
        moved = await bob.put(f"{ENDPOINTS}/open", json={"uri": listener.base_url, "token": ""})
        assert moved.status_code == 200, moved.text
        assert (await bob.get(f"{ENDPOINTS}/open")).json()["token"] == ""
    info = await bob_prompts_through_open(world)
    assert "refused the token" in info["current_chats"]["open"][0]["predicted_result"]
    assert [call.authorization for call in listener.calls] == ["Bearer no-token"]
    assert fake_openai.calls == []


async def test_unchanged_uri_and_type_need_no_token(world: World, fake_openai: FakeOpenAI):
    # Clients PUT back what they read: the same uri and type, the masked token.
    await alice_makes_open(world, fake_openai)
    async with world.client(world.bob) as bob:
        read = (await bob.get(f"{ENDPOINTS}/open")).json()
        kept = await bob.put(f"{ENDPOINTS}/open", json={**read, "max_concurrency": 3})
        assert kept.status_code == 200, kept.text
    info = await bob_prompts_through_open(world)
    assert info["current_chats"]["open"][0]["predicted_result"] == "model-a says: Hi"
    assert [call.authorization for call in fake_openai.calls] == [f"Bearer {VALID_TOKEN}"]


async def test_a_new_uri_with_a_new_token_is_allowed(
    world: World, fake_openai: FakeOpenAI, listener: FakeOpenAI
):
    await alice_makes_open(world, fake_openai)
    async with world.client(world.bob) as bob:
        moved = await bob.put(
            f"{ENDPOINTS}/open", json={"uri": listener.base_url, "token": "sk-bobs-own"}
        )
        assert moved.status_code == 200, moved.text
    await bob_prompts_through_open(world)
    assert [call.authorization for call in listener.calls] == ["Bearer sk-bobs-own"]


@pytest.mark.parametrize(
    "uri",
    [
        "http://user:pw-secret@example.com/v1",
        "https://pw-secret@example.com/v1",
        "http://:pw-secret@example.com/v1",
        "http://@example.com/v1",
    ],
)
async def test_credentials_in_the_uri_are_refused(world: World, fake_openai: FakeOpenAI, uri):
    async with world.client(world.alice) as alice:
        created = await alice.post(ENDPOINTS, json={
            "name": "creds", "connector_type": "openai-connector", "uri": uri, "token": "t",
        })
        assert created.status_code == 422, created.text
        assert created.json()["error"][0]["loc"][-1] == "uri"
        assert "pw-secret" not in created.text
        assert (await alice.get(f"{ENDPOINTS}/creds")).status_code == 404
    await alice_makes_open(world, fake_openai)
    async with world.client(world.alice) as alice:
        updated = await alice.put(f"{ENDPOINTS}/open", json={"uri": uri, "token": "t"})
        assert updated.status_code == 422, updated.text
        assert updated.json()["error"][0]["loc"][-1] == "uri"
        assert "pw-secret" not in updated.text
        assert (await alice.get(f"{ENDPOINTS}/open")).json()["uri"] == fake_openai.base_url


async def test_a_refused_uri_is_never_quoted_back(world: World):
    # Too long for the body's bounds: pydantic refuses it before the domain sees it, and its
    # error would otherwise quote the whole URI, password included.
    uri = "http://user:pw-secret@example.com/" + "a" * 3000
    async with world.client(world.alice) as alice:
        created = await alice.post(ENDPOINTS, json={
            "name": "long", "connector_type": "openai-connector", "uri": uri, "token": "t",
        })
        missing = await alice.post(ENDPOINTS, json={"uri": uri, "token": "t"})
    assert created.status_code == missing.status_code == 422, created.text
    assert created.json()["error"][0]["loc"] == ["body", "uri"]
    assert "pw-secret" not in created.text
    assert "pw-secret" not in missing.text
