"""Database command latency, from the command listener every service client carries."""

import pytest
from prometheus_client import generate_latest
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

from service.metrics.database import DatabaseCommandMetrics
from service.metrics.series import REGISTRY
from tests.metrics.scraping import increase, parse

pytestmark = pytest.mark.server_only


def _page():
    return parse(generate_latest(REGISTRY).decode())


async def test_commands_are_timed_by_name_and_outcome(bound_database, server_uri):
    client: AsyncMongoClient = AsyncMongoClient(
        server_uri, event_listeners=[DatabaseCommandMetrics()]
    )
    try:
        before = _page()
        await client.admin.command("ping")
        with pytest.raises(OperationFailure):
            await client.admin.command("noSuchCommandHere")
        after = _page()
    finally:
        await client.close()
    name = "sparring_database_command_duration_seconds_count"
    assert increase(before, after, name, command="ping", outcome="succeeded") == 1
    assert increase(before, after, name, command="noSuchCommandHere", outcome="failed") == 1
