"""The bench's floor: the database server's own time per command, and what a figure adds to it."""

from datetime import timedelta
from typing import Any

import pytest
from pymongo import monitoring

from bench.commands import CommandCounter, Counted, Reading, Tally, counted_between
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
    def test_a_timed_figure_gets_commands_times_the_floor_and_its_gap_over_its_commands(self):
        counted = Counted(2.0, {}, database_ms=7.5)
        figure = timed("c", "op", "an op", "N=1", [0.010, 0.012, 0.014], None, commands=counted)
        apply_floor([figure], FLOOR)
        assert figure.floor_ms == pytest.approx(4.0)
        assert figure.database_ms == 7.5
        assert figure.gap_ms == pytest.approx(12.0 - 7.5)

    def test_a_rate_is_turned_into_time_per_operation(self):
        figure = rated("c", "fill", "appends", "K=1", "records/s",
                       {"per_s": 100.0, "records": 100, "seconds": 1.0}, None,
                       commands=Counted(1.0, {}, database_ms=6.0))
        apply_floor([figure], FLOOR)
        assert figure.floor_ms == pytest.approx(2.0)
        assert figure.gap_ms == pytest.approx(10.0 - 6.0)

    def test_without_timed_commands_there_is_a_floor_and_no_gap(self):
        figure = timed("c", "op", "an op", "N=1", [0.010], None, commands=3.0)
        apply_floor([figure], FLOOR)
        assert figure.floor_ms == pytest.approx(6.0)
        assert figure.database_ms is None and figure.gap_ms is None

    def test_commands_counted_by_name_each_take_their_kinds_time(self):
        counted = Counted(4.0, {"find": 2.0, "update": 1.0, "findAndModify": 0.5, "hello": 0.5})
        figure = timed("c", "op", "an op", "N=1", [0.030], None, commands=counted)
        assert figure.commands == 4.0
        assert figure.command_mix == counted.by_name
        apply_floor([figure], FLOOR)
        # find 1.0, update 3.0, findAndModify 9.0, anything else the mean of find and update.
        assert figure.floor_ms == pytest.approx(2 * 1.0 + 1 * 3.0 + 0.5 * 9.0 + 0.5 * 2.0)

    def test_uncounted_figures_and_floors_set_by_the_case_are_left_alone(self):
        uncounted = timed("c", "op", "an op", "N=1", [0.010], None)
        own = timed("c", "op", "an op", "N=2", [0.010], None, commands=1.0)
        own.floor_ms, own.gap_ms = 7.0, 3.0
        apply_floor([uncounted, own], FLOOR)
        assert uncounted.floor_ms is None and uncounted.gap_ms is None
        assert (own.floor_ms, own.gap_ms) == (7.0, 3.0)


class TestCountedBetween:
    def test_per_call_by_kind_of_what_the_server_ran_in_between(self):
        before = Reading({"find": 10, "update": 4, "insert": 0, "command": 7})
        after = Reading({"find": 30, "update": 24, "insert": 10, "command": 7})
        counted = counted_between(before, after, calls=10)
        assert counted == Counted(5.0, {"find": 2.0, "update": 2.0, "insert": 1.0})

    def test_the_time_in_flight_is_shared_among_the_calls(self):
        counted = counted_between(
            Reading({"find": 1}, busy_s=0.5), Reading({"find": 5}, busy_s=0.9), calls=4
        )
        assert counted is not None
        assert counted.database_ms == pytest.approx(100.0)

    def test_nothing_called_nothing_counted(self):
        assert counted_between(Reading({"find": 1}), Reading({"find": 3}), calls=0) is None

    def test_a_reading_goes_over_the_wire_and_back_unchanged(self):
        reading = Reading({"find": 3, "update": 1}, busy_s=0.25)
        assert reading.to_dict()["count"] == 4
        assert Reading.from_dict(reading.to_dict()) == reading


class TestTally:
    def test_stretches_apart_add_up(self):
        tally = Tally()
        tally.add(Reading({"find": 2}, 1.0), Reading({"find": 3, "update": 1}, 1.5))
        tally.add(Reading({"find": 9, "update": 1}, 4.0), Reading({"find": 10, "update": 1}, 4.25))
        counted = tally.counted(2)
        assert counted is not None
        assert (counted.per_call, counted.by_name) == (1.5, {"find": 1.0, "update": 0.5})
        assert counted.database_ms == pytest.approx(375.0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def started(request_id: int, connection: tuple[str, int] = ("127.0.0.1", 1)) -> Any:
    return monitoring.CommandStartedEvent(
        {"find": "sessions"}, "db", request_id, connection, request_id
    )


def answered(request_id: int, connection: tuple[str, int] = ("127.0.0.1", 1)) -> Any:
    return monitoring.CommandSucceededEvent(
        timedelta(0), {"ok": 1}, "find", request_id, connection, request_id, database_name="db"
    )


class TestCommandCounter:
    def test_counts_by_name_and_times_the_union_of_what_is_in_flight(self):
        clock = Clock()
        counter = CommandCounter(clock=clock)
        counter.started(started(1))
        clock.now = 1.0
        # The same request id on another connection is another command.
        counter.started(started(1, ("127.0.0.1", 2)))
        clock.now = 2.0
        counter.succeeded(answered(1))
        clock.now = 3.0
        counter.failed(monitoring.CommandFailedEvent(
            timedelta(0), {"ok": 0}, "find", 1, ("127.0.0.1", 2), 1, database_name="db"
        ))
        clock.now = 10.0
        counter.started(started(2))
        clock.now = 10.5
        assert counter.reading() == Reading({"find": 3}, busy_s=3.5)
        counter.succeeded(answered(2))
        clock.now = 20.0
        assert counter.reading() == Reading({"find": 3}, busy_s=3.5)
        assert counter.count == 3

    def test_an_answer_to_a_command_it_never_saw_start_is_not_timed(self):
        clock = Clock()
        counter = CommandCounter(clock=clock)
        clock.now = 5.0
        counter.succeeded(answered(7))
        assert counter.reading() == Reading({}, busy_s=0.0)
