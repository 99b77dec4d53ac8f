"""Group commit: calls that arrive while one database command of theirs is on its way go
together in the next one.

On the embedded server every command pays a fixed cost under one lock, so when many tasks of a
process each want the same kind of write or read (ten answers to one prompt landing together,
each logging its event, ending its task and reading its batch), one command for all of them is
the saving. A call that finds nothing in flight is sent at once (at the loop's next turn, with
whatever joined it in this one), so an idle process waits for nothing; under load the group is
whatever arrived during the command before.
"""

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# Sends one command for the items of a group (all with one key); one result per item, in order.
Flush = Callable[[Hashable, Sequence[Item]], Awaitable[Sequence[Result]]]


@dataclass
class _Key(Generic[Item, Result]):
    """A key's calls waiting for the next command, and the task sending them."""

    sender: "asyncio.Task[None] | None" = None
    waiting: list[tuple[Item, "asyncio.Future[Result]"]] = field(default_factory=list)


class Coalescer(Generic[Item, Result]):
    """Runs `flush` for groups of concurrent calls with one key, one group after another.

    Each call gets its own result, or the exception its group's command raised. A call that is
    cancelled leaves its group's command to go on for the others (a command on its way cannot
    be taken back anyway).
    """

    def __init__(self, flush: Flush[Item, Result]) -> None:
        self._flush = flush
        self._keys: dict[Hashable, _Key[Item, Result]] = {}

    async def call(self, key: Hashable, item: Item) -> Result:
        loop = asyncio.get_running_loop()
        state = self._keys.get(key)
        if state is None or _stale(state, loop):
            state = self._keys[key] = _Key()
        result: asyncio.Future[Result] = loop.create_future()
        state.waiting.append((item, result))
        if state.sender is None:
            state.sender = loop.create_task(self._send(key, state))
        return await result

    async def _send(self, key: Hashable, state: "_Key[Item, Result]") -> None:
        group: list[tuple[Item, asyncio.Future[Result]]] = []
        try:
            while state.waiting:
                group, state.waiting = state.waiting, []
                try:
                    results = await self._flush(key, [item for item, _ in group])
                except Exception as error:  # noqa: BLE001 - handed to every caller of the group
                    for _, waiter in group:
                        if not waiter.done():
                            waiter.set_exception(error)
                    continue
                for (_, waiter), result in zip(group, results, strict=True):
                    if not waiter.done():
                        waiter.set_result(result)
        finally:
            if self._keys.get(key) is state:
                del self._keys[key]
            # Cut short (the loop is closing): whoever still waits hears of it, unless the loop
            # is gone already (its sender is only being collected).
            for _, waiter in [*group, *state.waiting]:
                if not waiter.done() and not waiter.get_loop().is_closed():
                    waiter.cancel()


def _stale(state: _Key[Item, Result], loop: asyncio.AbstractEventLoop) -> bool:
    """A key left by a sender that cannot send any more: one of a closed loop (a test's), or
    one cancelled before it ran."""
    sender = state.sender
    return sender is not None and (sender.get_loop() is not loop or sender.done())
