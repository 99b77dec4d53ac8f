"""Changes that read the document back, with and without `findAndModify`, on both tiers."""

import asyncio

import pytest

from models import PromptTask
from service.api.atomic import update_and_read
from service.database import Database


@pytest.fixture(params=[False, True], ids=["find-and-modify", "update-then-read"])
def scans(request: pytest.FixtureRequest, db: Database, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Each way, on each tier: the embedded server takes the second."""
    monkeypatch.setattr(db, "find_and_modify_scans", request.param)
    return bool(request.param)


@pytest.fixture
def collection(db: Database):
    # Any collection of the service; these functions are not tied to one document class.
    return PromptTask.get_pymongo_collection()


class TestUpdateAndRead:
    async def test_answers_the_document_after_the_change(self, scans, collection):
        await collection.insert_one({"_id": "t1", "status": "queued", "attempts": 0})
        after = await update_and_read(
            collection, {"_id": "t1", "status": "queued"},
            {"$set": {"status": "running"}, "$inc": {"attempts": 1}},
        )
        assert after == {"_id": "t1", "status": "running", "attempts": 1}

    async def test_a_query_that_matches_nothing_changes_nothing(self, scans, collection):
        await collection.insert_one({"_id": "t1", "status": "done"})
        missing = await update_and_read(collection, {"_id": "t2"}, {"$set": {"status": "x"}})
        unmatched = await update_and_read(
            collection, {"_id": "t1", "status": "queued"}, {"$set": {"status": "running"}}
        )
        assert (missing, unmatched) == (None, None)
        assert await collection.find_one({"_id": "t1"}) == {"_id": "t1", "status": "done"}

    async def test_of_racing_claims_exactly_one_wins(self, scans, collection):
        await collection.insert_one({"_id": "t1", "status": "queued"})
        claims = await asyncio.gather(*(
            update_and_read(
                collection, {"_id": "t1", "status": "queued"}, {"$set": {"status": "running"}}
            )
            for _ in range(10)
        ))
        assert sum(claim is not None for claim in claims) == 1


async def test_the_embedded_server_is_recognised(db: Database, tier: str):
    build = await db.client.admin.command("buildInfo") if tier == "server" else {}
    assert db.find_and_modify_scans is ("secantusVersion" in build)
