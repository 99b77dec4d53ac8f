"""Each kind of HTTP error the server answers comes back as the Python API's exception, with
the server's message and never the key; an attacker from another workspace sees NotFound."""

import socket

import pytest

from service.api.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionRequired,
    RateLimited,
    Stale,
    Unauthenticated,
    Unavailable,
    UnknownName,
)
from service.client import AsyncClient
from service.client.errors import STATUS_ERROR
from service.database import Database
from service.http import create_app
from service.http.errors import DOMAIN_STATUS
from service.settings import Settings
from tests.client.conftest import ECHOES, Team, make_team
from tests.conftest import TEST_BUCKET_SIZE
from tests.support.live_server import live_server
from tests.support.stoppable_database import stoppable_database


def test_every_status_of_the_servers_table_maps_back_to_a_class_it_came_from():
    for status, error_class in STATUS_ERROR.items():
        assert DOMAIN_STATUS[error_class] == status
    assert set(STATUS_ERROR) == set(DOMAIN_STATUS.values())


async def test_unknown_session_is_not_found(alice: AsyncClient):
    with pytest.raises(NotFound, match=r"Session no-such-session does not exist\."):
        await alice.get_session("no-such-session")


async def test_duplicate_is_conflict(alice: AsyncClient):
    await alice.create_session("Twice", ECHOES)
    with pytest.raises(Conflict):
        await alice.create_session("Twice", ECHOES)


async def test_unknown_name_is_unknown_name_with_moonshots_text(alice: AsyncClient):
    with pytest.raises(UnknownName, match=r"\[Session\] Metric no-such-metric does not exist"):
        await alice.create_session("Bad Metric", ECHOES, metric="no-such-metric")


async def test_a_validation_failure_is_invalid_input_naming_the_field(team: Team):
    async with team.client(team.ada) as ada:
        with pytest.raises(InvalidInput) as raised:
            await ada.create_user("admin")
    assert raised.value.field == "name"
    assert "body.name" in str(raised.value) and "reserved" in str(raised.value)


async def test_a_bad_key_is_unauthenticated_and_never_quoted(team: Team):
    wrong = "spk_" + "x" * 40
    async with team.client(wrong) as client:
        with pytest.raises(Unauthenticated) as raised:
            await client.list_sessions()
        assert wrong not in repr(client)
    assert wrong not in str(raised.value) and wrong not in repr(raised.value)
    assert raised.value.challenge is not None and raised.value.challenge.startswith("Bearer")


async def test_a_viewer_is_forbidden_to_change(team: Team):
    async with team.client(team.carol) as carol:
        with pytest.raises(Forbidden):
            await carol.create_session("Viewer Made", ECHOES)
        assert team.carol not in repr(carol)


async def test_a_stale_etag_is_stale_and_an_empty_one_precondition_required(alice: AsyncClient):
    await alice.create_session("Guarded", ECHOES)
    with pytest.raises(Stale):
        await alice.update_session("guarded", if_match='"not-the-revision"', metric="")
    with pytest.raises(PreconditionRequired):
        await alice.update_session("guarded", if_match="", metric="")


async def test_the_attacker_from_another_workspace_finds_nothing(team: Team, alice: AsyncClient):
    await alice.create_session("Secret Plans", ECHOES)
    async with team.client(team.dave) as dave:
        for attempt in (
            dave.get_session("secret-plans"),
            dave.get_chats("secret-plans"),
            dave.delete_session("secret-plans"),
            dave.send_prompt("secret-plans", "leak it"),
        ):
            with pytest.raises(NotFound):
                await attempt
        with pytest.raises(NotFound):
            async with dave.export("secret-plans"):
                pass
        assert [item.session_id for item in await dave.list_sessions()] == []
    assert (await alice.get_session("secret-plans")).session.session_id == "secret-plans"


async def test_too_many_requests_is_rate_limited_with_retry_after(
    required_settings: Settings, db: Database
):
    limited = Settings(**{**required_settings.model_dump(), "rate_limit_per_minute": 2})
    async with live_server(create_app(limited, database=db)) as url:
        team = await make_team(url)
        async with team.client(team.alice) as alice:
            await alice.list_sessions()
            await alice.list_sessions()
            with pytest.raises(RateLimited, match="More than 2 requests") as raised:
                await alice.list_sessions()
    assert 1 <= raised.value.retry_after <= 60


async def test_a_server_whose_database_is_down_is_unavailable(
    required_settings: Settings, tmp_path
):
    async with stoppable_database(tmp_path, bucket_size=TEST_BUCKET_SIZE) as outage:
        app = create_app(required_settings, database=outage.database)
        async with live_server(app) as url:
            team = await make_team(url)
            await outage.stop()
            try:
                async with team.client(team.alice) as alice:
                    with pytest.raises(Unavailable, match="Database unavailable"):
                        await alice.list_sessions()
            finally:
                await outage.start()


async def test_a_server_that_is_not_there_is_unavailable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with AsyncClient(f"http://127.0.0.1:{port}", "spk_secret_never_shown") as client:
        with pytest.raises(Unavailable, match="Cannot reach") as raised:
            await client.list_sessions()
    assert "spk_secret_never_shown" not in str(raised.value)
