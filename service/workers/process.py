"""The `sparring worker` process: runs prompt tasks from Redis, rides out outages, stops clean.

It rides out outages: started while Redis or the database is down, it waits for them; losing
either later, its reads, acknowledgements and tasks wait with backoff and go on (`outages`).
Every half `task_requeue_after_s` it sweeps: stored unfinished tasks that Redis does not hold
are queued again. On SIGTERM (or SIGINT) it hands out no more tasks, hands back what it read
ahead, lets running tasks finish for most of `shutdown_grace_s`, hands back the rest and exits
within the grace.
"""

import asyncio
import contextlib
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from taskiq import AckableMessage, AcknowledgeType
from taskiq.receiver import Receiver

from service.metrics.worker_server import start_worker_metrics
from service.redteam.template_sandbox import close_template_sandbox
from service.settings import Settings
from service.workers.broker import ReclaimingStreamBroker, build_broker
from service.workers.fairness import reserved_slots
from service.workers.outages import OUTAGE_ERRORS, OUTAGES, REDIS_ERRORS, Backoff
from service.workers.queue import TaskQueue

log = logging.getLogger("service.workers")

HAND_BACK_ERRORS: tuple[type[Exception], ...] = (*REDIS_ERRORS, TimeoutError)
# Of the grace, what is kept for handing back and closing after running tasks had their time.
CLOSING_SHARE = 0.2
LONGEST_CLOSING_S = 5.0


def drain_time(grace_s: float) -> float:
    """How long running tasks may go on after SIGTERM, out of `grace_s`."""
    return grace_s - min(grace_s * CLOSING_SHARE, LONGEST_CLOSING_S)


def sweep_period(requeue_after_s: float) -> float:
    return max(requeue_after_s / 2, 0.2)


async def serve_worker(settings: Settings) -> None:
    """Run prompt tasks until SIGTERM or SIGINT; what it does not finish, another runs."""
    broker = build_broker(settings)
    if not isinstance(broker, ReclaimingStreamBroker):
        raise SystemExit("sparring worker needs SPARRING_REDIS_URL.")
    broker.is_worker_process = True
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stopping.set)
    # Made before the broker starts: its start-up hands this queue to the runtime, through
    # which a run's tasks are scored and queue the run's next step.
    queue = TaskQueue(settings, broker)
    # Scraped on its own port (SPARRING_WORKER_METRICS_PORT), from its own registry.
    metrics = start_worker_metrics(settings)
    try:
        if await _started(broker, stopping):
            await _run(broker, queue, settings, stopping)
    finally:
        await broker.shutdown()
        if metrics is not None:
            metrics.stop()
        # Its template worker processes would otherwise outlive it until they notice.
        await close_template_sandbox()
        log.info("Worker stopped.")


async def _started(broker: ReclaimingStreamBroker, stopping: asyncio.Event) -> bool:
    """Start the broker (open the database), trying again while it is unreachable; False if
    told to stop first."""
    backoff = Backoff()
    while not stopping.is_set():
        try:
            await broker.startup()
        except OUTAGE_ERRORS as error:
            OUTAGES.failed(error)
            await _sleep_unless(stopping, backoff.next_delay())
            continue
        OUTAGES.database.succeeded()
        return True
    return False


async def _run(
    broker: ReclaimingStreamBroker, queue: TaskQueue, settings: Settings,
    stopping: asyncio.Event,
) -> None:
    drain_s = drain_time(settings.shutdown_grace_s)
    with ThreadPoolExecutor(max_workers=1) as executor:
        receiver = TrackingReceiver(
            broker=broker,
            executor=executor,
            run_startup=False,
            # The broker hands out at most `worker_max_tasks` in turn; the reserved slots
            # beyond them go to workspaces with nothing running here.
            max_async_tasks=settings.worker_max_tasks + reserved_slots(settings.worker_max_tasks),
            max_prefetch=0,
            # Acknowledged once it ran: a task of a worker that dies stays pending, for another.
            ack_type=AcknowledgeType.WHEN_EXECUTED,
            wait_tasks_timeout=drain_s,
        )
        finished = asyncio.Event()
        receiving = asyncio.create_task(_receive(receiver, finished))
        sweeping = asyncio.create_task(_sweep(queue, settings.task_requeue_after_s))
        log.info(
            "Worker running prompt tasks from Redis stream %r (up to %d at once).",
            settings.task_queue,
            settings.worker_max_tasks,
        )
        await _first(stopping, receiving)
        started = _now()
        drained_by = started + drain_s
        closed_by = started + settings.shutdown_grace_s
        log.info(
            "Worker stopping: %d running task(s) get up to %.1f s to finish.",
            len(receiver.running), drain_s,
        )
        sweeping.cancel()
        await broker.stop_listening(timeout_s=_left(drained_by, 1.0))
        finished.set()
        # Read ahead and never started: to the other workers at once.
        await _hand_back(broker, unstarted_only=True, timeout_s=_left(drained_by, 2.0))
        # The receiver returns once its running tasks ended (or at `drain_s`).
        _, unfinished = await asyncio.wait({receiving}, timeout=_left(drained_by))
        for task in unfinished:
            task.cancel()
        # What still runs is cancelled and goes back whole, acknowledged by no one.
        broker.stop_acknowledging()
        leftovers = set(receiver.running)
        for task in leftovers:
            task.cancel()
        if leftovers:
            await asyncio.wait(leftovers, timeout=_left(closed_by, 1.0))
        await _hand_back(broker, unstarted_only=False, timeout_s=_left(closed_by, 2.0) / 2)
        await asyncio.gather(sweeping, *unfinished, return_exceptions=True)
        log.info("Worker drained in %.1f s.", _now() - started)


def _now() -> float:
    return asyncio.get_running_loop().time()


def _left(deadline: float, at_most: float | None = None) -> float:
    """Seconds until `deadline` (never below a little), at most `at_most`."""
    left = max(deadline - _now(), 0.05)
    return left if at_most is None else min(left, at_most)


async def _first(stopping: asyncio.Event, receiving: asyncio.Task[None]) -> None:
    """Until told to stop (or the receiver ended, which it does not by itself)."""
    waiting = asyncio.create_task(stopping.wait())
    await asyncio.wait({waiting, receiving}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()


async def _hand_back(
    broker: ReclaimingStreamBroker, *, unstarted_only: bool, timeout_s: float
) -> None:
    try:
        count = await asyncio.wait_for(
            broker.hand_back(unstarted_only=unstarted_only), timeout_s
        )
    except HAND_BACK_ERRORS as error:
        # They stay pending in their streams: another worker claims them after the idle time.
        log.warning("Could not hand prompt tasks back (%s); another worker will claim them.",
                    type(error).__name__)
        return
    if count:
        log.info("Handed %d prompt task(s) back to the queue.", count)


async def _receive(receiver: Receiver, finished: asyncio.Event) -> None:
    """Run the receiver until `finished`; should it fail (the broker's listen rides out
    outages itself), start it again after a pause rather than at once, again and again."""
    backoff = Backoff(first_s=1.0)
    while not finished.is_set():
        try:
            await receiver.listen(finished)
        except Exception:
            log.exception("The task receiver failed; starting it again.")
            await _sleep_unless(finished, backoff.next_delay())


async def _sweep(queue: TaskQueue, requeue_after_s: float) -> None:
    """Every half `requeue_after_s`, queue again stored unfinished tasks Redis lacks."""
    while True:
        await asyncio.sleep(sweep_period(requeue_after_s))
        try:
            count = await queue.requeue_stale(requeue_after_s)
        except OUTAGE_ERRORS as error:
            OUTAGES.failed(error)
            continue
        if count:
            log.info("Queued %d stored prompt task(s) again that Redis did not hold.", count)


async def _sleep_unless(event: asyncio.Event, delay_s: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), delay_s)


class TrackingReceiver(Receiver):
    """taskiq's receiver, noting the asyncio task of each task it runs (to cancel them)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.running: set[asyncio.Task[Any]] = set()

    async def callback(self, message: bytes | AckableMessage, raise_err: bool = False) -> None:
        current = asyncio.current_task()
        if current is not None:
            self.running.add(current)
        try:
            await super().callback(message, raise_err)
        finally:
            if current is not None:
                self.running.discard(current)
