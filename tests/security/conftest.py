"""The attacker's world: a `required`-mode server on loopback, two workspaces, a key per role.

Workspace `wa` has alice (owner), bob (editor) and carol (viewer); workspace `wb` has dave
(owner). Every test here speaks real HTTP to the app served by uvicorn on 127.0.0.1, on both
database tiers, and plays one of them against another.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from litestar import Litestar

from models import Role
from service.database import Database
from service.http import create_app
from service.settings import Settings
from tests.factories import create_key
from tests.support.live_server import live_server

WA, WB = "wa", "wb"


@dataclass(frozen=True)
class World:
    """The server's base URL and each person's key (alice, bob, carol in wa; dave in wb)."""

    url: str
    alice: str
    bob: str
    carol: str
    dave: str

    def client(self, key: str | None = None, **headers: str) -> httpx.AsyncClient:
        """A client of the server, sending `key` as a bearer token and JSON by default."""
        sent = {"content-type": "application/json", **headers}
        if key is not None:
            sent["authorization"] = f"Bearer {key}"
        return httpx.AsyncClient(base_url=self.url, headers=sent, timeout=30)


@pytest.fixture
def security_settings(required_settings: Settings) -> Settings:
    """The settings the attacker's server runs with; a test overrides fields it needs."""
    return required_settings


@pytest.fixture
def security_app(security_settings: Settings, db: Database) -> Litestar:
    return create_app(security_settings, database=db)


@pytest.fixture
async def world(security_app: Litestar, db: Database) -> AsyncIterator[World]:
    keys = {
        "alice": await create_key("alice", Role.OWNER, workspace=WA),
        "bob": await create_key("bob", Role.EDITOR, workspace=WA),
        "carol": await create_key("carol", Role.VIEWER, workspace=WA),
        "dave": await create_key("dave", Role.OWNER, workspace=WB),
    }
    async with live_server(security_app) as url:
        yield World(url=url, **keys)
