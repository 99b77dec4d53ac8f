"""The client's world: a `required`-mode server under uvicorn on loopback, on both database
tiers, with echo endpoints and keys: alice owns workspace `wa`, carol views it, dave owns `wb`
(the attacker from another workspace), ada is a server admin."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from models import Role
from service.api.accounts import create_user
from service.client import AsyncClient
from service.database import Database
from service.http import create_app
from service.settings import Settings
from tests.factories import create_endpoint, create_key
from tests.support.live_server import live_server

WA, WB = "wa", "wb"
ECHOES = ["echo-a", "echo-b"]


@dataclass(frozen=True)
class Team:
    """The server's URL and each person's key."""

    url: str
    alice: str
    carol: str
    dave: str
    ada: str

    def client(self, key: str | None) -> AsyncClient:
        return AsyncClient(self.url, key)


async def make_team(url: str) -> Team:
    for endpoint in ECHOES:
        await create_endpoint(endpoint, workspace=WA)
    await create_user("ada", admin=True)
    return Team(
        url=url,
        alice=await create_key("alice", Role.OWNER, workspace=WA),
        carol=await create_key("carol", Role.VIEWER, workspace=WA),
        dave=await create_key("dave", Role.OWNER, workspace=WB),
        ada=await create_key("ada", Role.OWNER, workspace="adm"),
    )


@pytest.fixture
async def team(required_settings: Settings, db: Database) -> AsyncIterator[Team]:
    async with live_server(create_app(required_settings, database=db)) as url:
        yield await make_team(url)


@pytest.fixture
async def alice(team: Team) -> AsyncIterator[AsyncClient]:
    async with team.client(team.alice) as client:
        yield client
