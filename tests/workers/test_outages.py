"""Outages: told apart from other errors, waited out with backoff, logged once each."""

import logging

import pytest
from pymongo.errors import OperationFailure, ServerSelectionTimeoutError
from redis.exceptions import BusyLoadingError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

from service.workers.outages import OUTAGE_ERRORS, Backoff, Outage, Outages

SECRET_URL = "redis://:hunter2@127.0.0.1:1/0"


def test_backoff_doubles_up_to_its_longest_and_starts_over_when_reset():
    backoff = Backoff(first_s=0.1, longest_s=0.5)
    assert [backoff.next_delay() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    backoff.reset()
    assert backoff.next_delay() == 0.1


@pytest.mark.parametrize("error", [
    ServerSelectionTimeoutError("no server"), RedisConnectionError("refused"),
    BusyLoadingError("loading"),
])
def test_unreachable_dependencies_are_outages(error):
    assert isinstance(error, OUTAGE_ERRORS)


@pytest.mark.parametrize("error", [
    OperationFailure("bad query"), ResponseError("WRONGTYPE"), ValueError("a bug"),
])
def test_other_errors_are_not(error):
    # A task failing for these ends with its error rather than waiting forever.
    assert not isinstance(error, OUTAGE_ERRORS)


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(caplog):
    outage = Outage("Redis")
    with caplog.at_level(logging.INFO, logger="service.workers"):
        outage.succeeded()
        for _ in range(5):
            outage.failed(RedisConnectionError(f"Error connecting to {SECRET_URL}"))
        assert outage.down
        outage.succeeded()
        outage.succeeded()
        outage.failed(RedisConnectionError("again"))
    messages = [record.getMessage() for record in caplog.records]
    assert [message.split(" ")[2] for message in messages] == [
        "unreachable", "back", "unreachable",
    ]
    # The error's type only: its text may carry a URL with a password.
    assert all("hunter2" not in message for message in messages)


def test_outages_are_noted_against_the_dependency_that_failed():
    outages = Outages()
    outages.failed(ServerSelectionTimeoutError("no server"))
    assert outages.database.down and not outages.redis.down
    outages.failed(RedisConnectionError("refused"))
    assert outages.redis.down
    outages.succeeded()
    assert not outages.database.down and not outages.redis.down
