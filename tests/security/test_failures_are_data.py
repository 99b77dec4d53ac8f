"""Failures are data: a call that blows up writes an `[error] ` record and the batch settles."""

import pytest

from models import PromptBatch
from models.batches import UNFINISHED_BATCH
from service.settings import Settings
from tests.security.conftest import World
from tests.support.fake_openai import VALID_TOKEN, Behaviour, FakeOpenAI

ENDPOINTS = "/api/v1/llm-endpoints"
NGINX = "<html><head><title>Welcome to nginx!</title></head><body>It works</body></html>"


@pytest.fixture
def security_settings(required_settings: Settings) -> Settings:
    # Shorter than the 60 s default, so a stuck batch fails the test quickly (202, not 200).
    return required_settings.model_copy(update={"prompt_wait_s": 15.0})


def assert_no_traceback(text: str) -> None:
    assert "Traceback" not in text and 'File "' not in text and ".py" not in text


async def assert_settled(world: World, runner_id: str) -> None:
    batches = await PromptBatch.find({"session_id": runner_id}).to_list()
    assert batches and all(batch.status not in UNFINISHED_BATCH for batch in batches)


async def test_an_endpoint_answering_html_gives_an_error_record(
    world: World, fake_openai: FakeOpenAI
):
    fake_openai.behaviours["web-page"] = Behaviour(html=NGINX)
    async with world.client(world.alice) as alice:
        created = await alice.post(ENDPOINTS, json={
            "name": "pages", "connector_type": "openai-connector", "uri": fake_openai.base_url,
            "token": VALID_TOKEN, "model": "web-page",
            "params": {"timeout": 10, "max_attempts": 1},
        })
        assert created.status_code == 200, created.text
        made = await alice.post("/api/v1/sessions", json={"name": "Pages", "endpoints": ["pages"]})
        assert made.status_code == 200, made.text
        answered = await alice.post("/api/v1/sessions/pages/prompt", json={"user_prompt": "Hi"})
    assert answered.status_code == 200, answered.text
    info = answered.json()
    assert info["current_status"] == "COMPLETED_WITH_ERRORS"
    answer = info["current_chats"]["pages"][0]["predicted_result"]
    assert answer.startswith("[error] endpoint pages: ")
    assert "not a chat completion" in answer
    assert VALID_TOKEN not in answer and "nginx" not in answer
    assert_no_traceback(answer)
    assert len(fake_openai.calls) == 1
    await assert_settled(world, "pages")

