"""Shared by the prompting tests: endpoints on the fake OpenAI server, a session's chats."""

from models import ChatRecord
from models.chats import RUN_FIELDS
from service.api import api_get_all_chats_from_session
from tests.factories import create_endpoint
from tests.support.fake_openai import VALID_TOKEN, FakeOpenAI

# A record sent by hand: Moonshot's fields and who sent it (a run's records carry more).
CONTRACT_FIELDS = set(ChatRecord.model_fields) - RUN_FIELDS


async def fake_endpoint(fake: FakeOpenAI, name: str, *, token: str = VALID_TOKEN, **options):
    params = {"timeout": options.pop("timeout", 5), "max_attempts": options.pop("attempts", 1)}
    return await create_endpoint(
        name, "openai-connector", uri=fake.base_url, token=token, model=name, params=params,
        **options,
    )


async def chats(runner_id: str) -> dict[str, list[dict]]:
    return await api_get_all_chats_from_session(runner_id)
