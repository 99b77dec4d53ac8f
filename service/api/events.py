"""A session's event log: records landing and batches changing status, numbered for replay.

Every event is stored before anyone is told, and a reader resumes from the number it saw
last, so a live stream survives restarts and may be served by any process.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from beanie import SortDirection
from beanie.operators import GT
from pydantic import BaseModel
from pymongo.errors import DuplicateKeyError

from models import EventCounter, EventKind, PromptTask, SessionEvent
from models.events import event_counter_key, event_key
from service.api.context import require_database
from service.api.counters import increment
from service.api.errors import InvalidInput
from service.api.notifier import EventNotifier, Subscription
from service.api.schemas import DEFAULT_WORKSPACE
from service.api.sessions.store import find_session

PAGE_SIZE = 200
# An event stored this long ago without a number lost its writer; the next writer numbers it.
ORPHAN_AFTER_S = 10.0


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
    """Store the event `fact` once, then give it the session's next number.

    Whoever stores the fact numbers it, so two writers of one fact use one number. A fact
    stored by a writer that died before numbering it is numbered by the next writer of it.
    """
    key = event_key(workspace, session_id, fact)
    now = time.time()
    event = SessionEvent(
        id=key,
        workspace=workspace,
        session_id=session_id,
        session_epoch=session_epoch,
        fact=fact,
        kind=kind,
        batch_id=batch_id,
        at=now,
        **fields,
    )
    try:
        await event.insert()
    except DuplicateKeyError:
        stored = await SessionEvent.get(key)
        if stored is None or stored.seq is not None or now - stored.at < ORPHAN_AFTER_S:
            return
    # Raw PyMongo for the two writes that must be atomic: the counter's `$inc` (upserted), and
    # numbering the event only while it has no number, so two writers of a fact use one.
    seq = await increment(
        EventCounter.get_pymongo_collection(),
        event_counter_key(workspace, session_id),
        "last_seq",
        1,
        {"workspace": workspace, "session_id": session_id},
    )
    await SessionEvent.get_pymongo_collection().update_one(
        {"_id": key, "seq": None},
        {"$set": {"seq": seq, "numbered_at": time.time()}},
    )


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
        SessionEvent.workspace == workspace,
        SessionEvent.session_id == runner_id,
        GT(SessionEvent.seq, after),
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
        session_changes = 0 if subscription is None else subscription.session_changes
        metadata = await find_session(runner_id, workspace)
        if metadata is None:
            return
        epoch = metadata.created_epoch
        if after is not None:
            cursor = after
        elif follow:
            cursor = await last_event_seq(runner_id, workspace=workspace)
        else:
            cursor = 0
        gap_since: float | None = None
        checked_at = last_sent = time.monotonic()
        pending: asyncio.Event | None = None
        woken = True
        while True:
            page: list[SessionEvent] = []
            # After a wait that ended by time alone there is nothing new to read; the wake
            # taken before the last read is kept, so one that came since is not lost.
            if woken:
                pending = None if subscription is None else subscription.pending()
                page = await _read_page(subscription, runner_id, cursor, workspace, gap_since)
            in_gap = False
            for stored in page:
                # Only numbered events are read (`seq > after`).
                seq = stored.seq or 0
                if seq != cursor + 1:
                    now = time.monotonic()
                    gap_since = gap_since if gap_since is not None else now
                    if now - gap_since < gap_wait_s:
                        in_gap = True
                        break
                gap_since = None
                cursor = seq
                # Events of an earlier session of the same name are skipped, not replayed.
                if stored.session_epoch == epoch:
                    last_sent = time.monotonic()
                    yield await _rendered(subscription, stored, seq)
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
                check = subscription.session_changes != session_changes
                session_changes = subscription.session_changes
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
