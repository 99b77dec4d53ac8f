"""A session's event log: records landing and batches changing status, numbered for replay.

Every event is stored before anyone is told, and a reader resumes from the number it saw
last, so a live stream survives restarts and may be served by any process.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Hashable, Sequence
from contextlib import ExitStack, aclosing
from dataclasses import dataclass
from typing import Any, cast

from beanie import SortDirection
from beanie.operators import GT
from pydantic import BaseModel
from pymongo.errors import BulkWriteError, ConnectionFailure, DuplicateKeyError

from models import EventCounter, EventKind, PromptTask, SessionEvent
from models.events import event_counter_key, event_key
from service.api.atomic import only_duplicates
from service.api.coalescing import Coalescer
from service.api.context import require_database
from service.api.counters import increment
from service.api.errors import InvalidInput
from service.api.filters import where
from service.api.notifier import EventNotifier, Subscription
from service.api.schemas import DEFAULT_WORKSPACE
from service.api.sessions.store import find_session

PAGE_SIZE = 200
# The fact of a void event: a number taken by a second writer of a fact stored already.
VOID_FACT = "void|"
# While the database does not answer, a stream asks again after this long, doubling up to the
# most: a restart is usually over in seconds, and a stream waiting longer still shows it lives.
OUTAGE_RETRY_S = 0.5
OUTAGE_RETRY_MAX_S = 5.0


@dataclass(frozen=True)
class Outage:
    """The database does not answer: the stream asks again in `retry_s`, from where it was."""

    retry_s: float


@dataclass
class _Position:
    """Where a stream is, kept across database outages so that a retry resumes without a gap."""

    cursor: int | None
    session_changes: int
    epoch: str | None = None
    gap_since: float | None = None
    # Set on every read that succeeds, so an outage's wait starts short again after one.
    answered: bool = False


class _TaskRecord(BaseModel):
    """A prompt task read for its record only."""

    record: dict[str, Any] | None = None


@dataclass(frozen=True)
class Event:
    """One event as a stream sends it: its number, its name and its data."""

    seq: int
    name: str
    data: dict[str, Any]


async def log_event(
    workspace: str,
    session_id: str,
    session_epoch: str,
    fact: str,
    kind: EventKind,
    batch_id: str,
    **fields: Any,
) -> None:
    """Store the event `fact` once, with the session's next number.

    The number is taken first and the event stored with it, so a stored event always has its
    number (a reader never waits on one being set). Events of a session logged while the
    previous ones are being stored go together: one command takes their numbers, one stores
    them (`_store_events`). A second writer of a fact finds it stored; the number it took is
    then given to a void event, which readers step over, so they do not wait on it as on a gap.
    """
    now = time.time()
    event = SessionEvent(
        id=event_key(workspace, session_id, fact),
        workspace=workspace,
        session_id=session_id,
        session_epoch=session_epoch,
        fact=fact,
        kind=kind,
        batch_id=batch_id,
        at=now,
        numbered_at=now,
        **fields,
    )
    await _EVENT_WRITES.call((workspace, session_id), event)


async def _store_events(session: Hashable, events: Sequence[SessionEvent]) -> list[None]:
    """Number the session's `events` in order with one `$inc` and store them in one insert."""
    workspace, session_id = cast(tuple[str, str], session)
    last = await _take_seqs(workspace, session_id, len(events))
    numbered = [
        event.model_copy(update={"seq": last - len(events) + 1 + index})
        for index, event in enumerate(events)
    ]
    try:
        await SessionEvent.insert_many(numbered, ordered=False)
    except BulkWriteError as error:
        if not only_duplicates(error):
            raise
        for failure in error.details["writeErrors"]:
            stored = numbered[failure["index"]]
            await _stored_already(workspace, session_id, stored.id, cast(int, stored.seq))
    return [None] * len(events)


_EVENT_WRITES: Coalescer[SessionEvent, None] = Coalescer(_store_events)


async def _take_seqs(workspace: str, session_id: str, count: int) -> int:
    """Take the session's next `count` numbers; returns the last of them."""
    # Raw PyMongo: the counter's `$inc` must be atomic (`increment`).
    return await increment(
        EventCounter.get_pymongo_collection(),
        event_counter_key(workspace, session_id),
        "last_seq",
        count,
        {"workspace": workspace, "session_id": session_id},
    )


async def _stored_already(workspace: str, session_id: str, key: str, seq: int) -> None:
    """The fact was stored before: number it with `seq` if it has no number (stored by an
    earlier version that numbered events after storing them, whose writer died in between),
    else store a void event under `seq`, so that no reader waits for that number."""
    numbered = await SessionEvent.get_pymongo_collection().update_one(
        {"_id": key, "seq": None}, {"$set": {"seq": seq, "numbered_at": time.time()}}
    )
    if numbered.modified_count:
        return
    with contextlib.suppress(DuplicateKeyError):
        await SessionEvent(
            id=event_key(workspace, session_id, f"{VOID_FACT}{seq}"),
            workspace=workspace,
            session_id=session_id,
            # Matches no session's epoch, so streams step over it without sending it.
            session_epoch="",
            seq=seq,
            fact=f"{VOID_FACT}{seq}",
            kind=EventKind.VOID,
            batch_id="",
            at=time.time(),
        ).insert()


async def last_event_seq(runner_id: str, *, workspace: str = DEFAULT_WORKSPACE) -> int:
    """The number of the session's newest event (0 before the first)."""
    require_database()
    counter = await EventCounter.get(event_counter_key(workspace, runner_id))
    return 0 if counter is None else counter.last_seq


async def read_events(
    runner_id: str,
    *,
    after: int,
    workspace: str = DEFAULT_WORKSPACE,
    limit: int = PAGE_SIZE,
) -> list[SessionEvent]:
    """Stored events of the session after number `after`, in order."""
    return await SessionEvent.find(
        where(
            SessionEvent.workspace == workspace,
            SessionEvent.session_id == runner_id,
            GT(SessionEvent.seq, after),
        ),
        sort=[("seq", SortDirection.ASCENDING)],
        limit=limit,
    ).to_list()


async def _event(stored: SessionEvent, seq: int) -> Event:
    if stored.kind is EventKind.RECORD:
        task = await PromptTask.find_one(PromptTask.id == stored.task_id).project(_TaskRecord)
        return Event(
            seq=seq,
            name="chat_record",
            data={
                "batch_id": stored.batch_id,
                "conn_id": stored.endpoint,
                "chat_record": None if task is None else task.record,
            },
        )
    if stored.kind is EventKind.RUN:
        return Event(seq=seq, name="run", data={"run_id": stored.run_id, "status": stored.status})
    return Event(
        seq=seq,
        name="batch",
        data={"batch_id": stored.batch_id, "status": stored.status},
    )


async def _read_page(
    subscription: Subscription | None,
    runner_id: str,
    cursor: int,
    workspace: str,
    gap_since: float | None,
) -> list[SessionEvent]:
    def read() -> Awaitable[list[SessionEvent]]:
        return read_events(runner_id, after=cursor, workspace=workspace)

    # While a number is missing the stream asks again itself: filling it may wake no one.
    if subscription is None or gap_since is not None:
        return await read()
    return await subscription.shared(("page", cursor), read)


async def _rendered(subscription: Subscription | None, stored: SessionEvent, seq: int) -> Event:
    if subscription is None:
        return await _event(stored, seq)
    return await subscription.kept(("event", stored.id, seq), lambda: _event(stored, seq))


async def follow_events(
    runner_id: str,
    *,
    after: int | None = None,
    workspace: str = DEFAULT_WORKSPACE,
    notifier: EventNotifier | None = None,
    poll_s: float = 0.1,
    gap_wait_s: float = 2.0,
    session_check_s: float = 2.0,
    heartbeat_s: float | None = None,
    follow: bool = True,
) -> AsyncIterator[Event | None]:
    """`follow_events_telling_outages` for a reader that only waits out a database outage."""
    # Closed with this one, so a stream that goes away lets go of its watch at once.
    async with aclosing(follow_events_telling_outages(
        runner_id, after=after, workspace=workspace, notifier=notifier, poll_s=poll_s,
        gap_wait_s=gap_wait_s, session_check_s=session_check_s, heartbeat_s=heartbeat_s,
        follow=follow,
    )) as items:
        async for item in items:
            if not isinstance(item, Outage):
                yield item


async def follow_events_telling_outages(
    runner_id: str,
    *,
    after: int | None = None,
    workspace: str = DEFAULT_WORKSPACE,
    notifier: EventNotifier | None = None,
    poll_s: float = 0.1,
    gap_wait_s: float = 2.0,
    session_check_s: float = 2.0,
    heartbeat_s: float | None = None,
    follow: bool = True,
    outage_retry_s: float = OUTAGE_RETRY_S,
    outage_retry_max_s: float = OUTAGE_RETRY_MAX_S,
) -> AsyncGenerator[Event | Outage | None, None]:
    """The session's events after `after`, as they are stored; ends when the session is deleted,
    or with `follow=False` once the stored ones are given. `after=None` means from now on when
    following, and from the first event with `follow=False` (a replay). With
    `heartbeat_s`, None comes after that long without an event, so a stream shows it is alive.

    With a `notifier` the stream reads only when woken (new events, or the session changed), so
    an idle stream asks nothing of the database; without one it polls every `poll_s` and checks
    the session every `session_check_s`.

    A number is handed out just before it is set on its stored event, so one may briefly be
    missing while a later one is there: the reader polls up to `gap_wait_s` for it before moving
    on (a writer that died in between leaves such a gap for good).

    While the database does not answer the stream waits and asks again (from `outage_retry_s`,
    doubling up to `outage_retry_max_s`), from the last event it gave, so it misses nothing;
    an `Outage` comes before each wait, for the client to be told.
    """
    if after is not None and after < 0:
        raise InvalidInput("Last-Event-ID must be 0 or more.", field="last_event_id")
    require_database()
    with ExitStack() as held:
        # Subscribed before the first read, so nothing written after that read is missed.
        subscription = (
            None if notifier is None or not follow
            else held.enter_context(notifier.subscribe(workspace, runner_id))
        )
        position = _Position(
            cursor=after,
            session_changes=0 if subscription is None else subscription.session_changes,
        )
        retry_s = outage_retry_s
        while True:
            try:
                async with aclosing(_follow(
                    runner_id, workspace, position, subscription,
                    poll_s=poll_s, gap_wait_s=gap_wait_s, session_check_s=session_check_s,
                    heartbeat_s=heartbeat_s, follow=follow,
                )) as items:
                    async for item in items:
                        yield item
                return
            except ConnectionFailure:
                # PyMongo reconnects by itself once the server answers; the stream only waits.
                if position.answered:
                    retry_s, position.answered = outage_retry_s, False
                # Time spent in the outage does not count towards giving up on a missing number.
                position.gap_since = None
                yield Outage(retry_s)
                await asyncio.sleep(retry_s)
                retry_s = min(retry_s * 2, outage_retry_max_s)


async def _follow(
    runner_id: str,
    workspace: str,
    position: _Position,
    subscription: Subscription | None,
    *,
    poll_s: float,
    gap_wait_s: float,
    session_check_s: float,
    heartbeat_s: float | None,
    follow: bool,
) -> AsyncGenerator[Event | None, None]:
    """`follow_events` from `position` on, until it ends or a database error stops it; the
    position moves only past events given, so a call after an error goes on from there."""
    metadata = await find_session(runner_id, workspace)
    # A session deleted (or deleted and made again) while the database was away ends it too.
    if metadata is None or position.epoch not in (None, metadata.created_epoch):
        return
    epoch = position.epoch = metadata.created_epoch
    if position.cursor is None:
        position.cursor = (
            await last_event_seq(runner_id, workspace=workspace) if follow else 0
        )
    cursor = position.cursor
    position.answered = True
    checked_at = last_sent = time.monotonic()
    pending: asyncio.Event | None = None
    woken = True
    while True:
        page: list[SessionEvent] = []
        # After a wait that ended by time alone there is nothing new to read; the wake
        # taken before the last read is kept, so one that came since is not lost.
        if woken:
            pending = None if subscription is None else subscription.pending()
            page = await _read_page(
                subscription, runner_id, cursor, workspace, position.gap_since
            )
            position.answered = True
        in_gap = False
        for stored in page:
            # Only numbered events are read (`seq > after`).
            seq = stored.seq or 0
            if seq != cursor + 1:
                now = time.monotonic()
                if position.gap_since is None:
                    position.gap_since = now
                if now - position.gap_since < gap_wait_s:
                    in_gap = True
                    break
            position.gap_since = None
            # Events of an earlier session of the same name are skipped, not replayed.
            if stored.session_epoch == epoch:
                # Rendered before the position moves: a read failing here is retried.
                event = await _rendered(subscription, stored, seq)
                cursor = position.cursor = seq
                last_sent = time.monotonic()
                yield event
            else:
                cursor = position.cursor = seq
        else:
            if len(page) == PAGE_SIZE:
                continue
            if not follow:
                return
        now = time.monotonic()
        if heartbeat_s is not None and now - last_sent >= heartbeat_s:
            last_sent = now
            yield None
        if subscription is None:
            check = now - checked_at >= session_check_s
        else:
            check = subscription.session_changes != position.session_changes
            position.session_changes = subscription.session_changes
        if check:
            checked_at = now
            current = await find_session(runner_id, workspace)
            if current is None or current.created_epoch != epoch:
                return
        if subscription is None or pending is None or in_gap:
            await asyncio.sleep(poll_s)
            woken = True
            continue
        timeout_s = None
        if heartbeat_s is not None:
            timeout_s = max(0.0, heartbeat_s - (time.monotonic() - last_sent))
        woken = await subscription.wait(pending, timeout_s)
