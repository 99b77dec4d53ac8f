"""Which database an api function works on: never another one by surprise."""

from dataclasses import replace
from types import SimpleNamespace

import pytest

from service.api import api_create_session, api_get_all_session_names, use_database
from service.api.context import ANOTHER_DATABASE, require_database, resolve_database
from service.api.errors import NoDatabase, RejectedArgument
from service.database import current_database


def elsewhere(db) -> SimpleNamespace:
    """Something shaped like another database of the same client."""
    return SimpleNamespace(
        name=f"{db.database.name}-elsewhere", client=db.client, get_collection=lambda name: None
    )


class TestRequireDatabase:
    def test_the_initialised_database(self, db):
        assert require_database() is db

    def test_none_is_moonshots_error(self, monkeypatch):
        monkeypatch.setattr("service.database._current", None)
        with pytest.raises(NoDatabase, match=r"No database instance provided\."):
            require_database()


class TestResolveDatabase:
    async def test_none_and_the_initialised_database_are_the_same(self, db):
        assert await resolve_database(None) is db
        assert await resolve_database(db.database) is db

    @pytest.mark.parametrize("database_instance", [[], {}, 123, "db"])
    async def test_what_is_not_a_database_is_moonshots_error(self, db, database_instance):
        with pytest.raises(NoDatabase):
            await resolve_database(database_instance)

    async def test_another_database_is_refused_and_nothing_moves(self, db):
        with pytest.raises(RejectedArgument) as raised:
            await api_create_session("elsewhere", elsewhere(db), [], {})
        assert str(raised.value) == ANOTHER_DATABASE
        assert raised.value.field == "database_instance"
        assert isinstance(raised.value, RuntimeError)
        assert current_database() is db
        assert await api_get_all_session_names() == []

    async def test_with_none_initialised_the_one_given_becomes_it(self, db, monkeypatch):
        monkeypatch.setattr("service.database._current", None)
        bound = await resolve_database(db.database)
        assert bound.database is db.database and current_database() is bound
        assert bound.owns_client is False


class TestUseDatabase:
    async def test_the_database_in_use_is_kept(self, db):
        assert await use_database(db.database) is db.database
        assert current_database() is db

    @pytest.mark.parametrize("database", [None, [], 123])
    async def test_what_is_not_a_database_is_refused(self, db, database):
        with pytest.raises(NoDatabase):
            await use_database(database)
        assert current_database() is db

    async def test_switching_releases_the_one_used_so_far(self, db, monkeypatch):
        # A stand-in for the current database, so that releasing it leaves the test's own open.
        stand_in = replace(db, owns_client=False)
        monkeypatch.setattr("service.database._current", stand_in)
        released = []

        async def release() -> None:
            released.append(True)

        monkeypatch.setattr(stand_in, "close", release)
        target = db.database
        monkeypatch.setattr(stand_in, "database", elsewhere(db))
        assert await use_database(target) is target
        assert released == [True]
        assert current_database() is not stand_in
        assert current_database().database is target
