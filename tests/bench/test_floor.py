"""The bench's floor: the database server's own time per command, and what a figure adds to it."""

import pytest

from bench.commands import Counted, counted_between
from bench.figures import rated, timed
from bench.floor import COUNTER_COLLECTION, PROBE_ID, CommandFloor, apply_floor, measure_floor

FLOOR = CommandFloor(
    collection="x", find_ms=1.0, update_ms=3.0, retryable_update_ms=9.0, find_and_modify_ms=9.0
)


class TestMeasureFloor:
    async def test_times_each_kind_and_leaves_the_collection_as_it_was(self, db):
        collection = db.database["chat_buckets"]
        await collection.insert_one({
            "_id": "kept", "workspace": "w", "session_id": "s", "endpoint": "e", "bucket_no": 0,
            "records": [],
        })
        floor = await measure_floor(db.database, "chat_buckets", calls=5)
        assert floor.collection == "chat_buckets"
        assert min(
            floor.find_ms, floor.update_ms, floor.retryable_update_ms, floor.find_and_modify_ms
        ) > 0
        assert floor.per_command_ms == pytest.approx((floor.find_ms + floor.update_ms) / 2)
        assert [doc["_id"] async for doc in collection.find({})] == ["kept"]
        assert COUNTER_COLLECTION not in await db.database.list_collection_names()

    async def test_a_probe_left_by_an_interrupted_run_is_reused_then_removed(self, db):
        collection = db.database["sessions"]
        await collection.insert_one({"_id": PROBE_ID, "n": 41})
        await measure_floor(db.database, "sessions", calls=2)
        assert await collection.find_one({"_id": PROBE_ID}) is None


class TestApplyFloor:
    def test_a_timed_figure_gets_commands_times_the_floor_and_the_rest_as_gap(self):
        figure = timed("c", "op", "an op", "N=1", [0.010, 0.012, 0.014], None, commands=2.0)
        apply_floor([figure], FLOOR)
        assert figure.floor_ms == pytest.approx(4.0)
        assert figure.gap_ms == pytest.approx(12.0 - 4.0)

    def test_a_rate_is_turned_into_time_per_operation(self):
        figure = rated("c", "fill", "appends", "K=1", "records/s",
                       {"per_s": 100.0, "records": 100, "seconds": 1.0}, None, commands=1.0)
        apply_floor([figure], FLOOR)
        assert figure.floor_ms == pytest.approx(2.0)
        assert figure.gap_ms == pytest.approx(10.0 - 2.0)

    def test_commands_counted_by_name_each_take_their_kinds_time(self):
        counted = Counted(4.0, {"find": 2.0, "update": 1.0, "findAndModify": 0.5, "hello": 0.5})
        figure = timed("c", "op", "an op", "N=1", [0.030], None, commands=counted)
        assert figure.commands == 4.0
        assert figure.command_mix == counted.by_name
        apply_floor([figure], FLOOR)
        # find 1.0, update 3.0, findAndModify 9.0, anything else the mean of find and update.
        assert figure.floor_ms == pytest.approx(2 * 1.0 + 1 * 3.0 + 0.5 * 9.0 + 0.5 * 2.0)
        assert figure.gap_ms == pytest.approx(30.0 - figure.floor_ms)

    def test_uncounted_figures_and_floors_set_by_the_case_are_left_alone(self):
        uncounted = timed("c", "op", "an op", "N=1", [0.010], None)
        own = timed("c", "op", "an op", "N=2", [0.010], None, commands=1.0)
        own.floor_ms, own.gap_ms = 7.0, 3.0
        apply_floor([uncounted, own], FLOOR)
        assert uncounted.floor_ms is None and uncounted.gap_ms is None
        assert (own.floor_ms, own.gap_ms) == (7.0, 3.0)


class TestCountedBetween:
    def test_per_call_by_kind_of_what_the_server_ran_in_between(self):
        before = {"find": 10, "update": 4, "insert": 0, "command": 7}
        after = {"find": 30, "update": 24, "insert": 10, "command": 7}
        counted = counted_between(before, after, calls=10)
        assert counted == Counted(5.0, {"find": 2.0, "update": 2.0, "insert": 1.0})

    def test_nothing_called_nothing_counted(self):
        assert counted_between({"find": 1}, {"find": 3}, calls=0) is None
