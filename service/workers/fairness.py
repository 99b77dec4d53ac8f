"""The order prompt tasks run in: round robin over workspaces, then over a workspace's sessions.

Each workspace with work waiting gets the next free slot in turn, and within a workspace each
session in turn; a session's own tasks keep their order. A workspace that floods therefore
takes only its share of the slots while another has work waiting, and all of them while no one
else does (nothing idles while work waits, so a flood ends no later than first come first served).
"""

from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")

def reserved_slots(max_tasks: int) -> int:
    """Slots beyond `max_tasks` that only a workspace with nothing running may take.

    Turns alone make a light workspace wait for the next slot to free, up to one call of the
    flood's; with these, its task starts at once, and the flood keeps all its slots.
    """
    return max(1, max_tasks // 10)


# Labels a queued prompt task carries, so a broker can place it without reading the database.
WORKSPACE_LABEL = "workspace"
SESSION_LABEL = "session"


def scheduling_labels(workspace: str, session: str) -> dict[str, str]:
    return {WORKSPACE_LABEL: workspace, SESSION_LABEL: session}


def labels_place(labels: Mapping[str, Any]) -> tuple[str, str]:
    """(workspace, session) from a message's labels; a message without them shares one queue."""
    return str(labels.get(WORKSPACE_LABEL, "")), str(labels.get(SESSION_LABEL, ""))


class FairQueue(Generic[Item]):
    """Per-workspace queues of per-session queues, taken round robin at both levels."""

    def __init__(self) -> None:
        # Insertion order is the turn order: the next to serve is first, a served one goes last.
        self._workspaces: OrderedDict[str, OrderedDict[str, deque[Item]]] = OrderedDict()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def push(self, workspace: str, session: str, item: Item) -> None:
        """Queue `item`; a workspace (or session) with nothing waiting is served next: it is
        owed a turn by every one that was served while it waited for nothing."""
        sessions = self._workspaces.get(workspace)
        if sessions is None:
            sessions = self._workspaces[workspace] = OrderedDict()
            self._workspaces.move_to_end(workspace, last=False)
        items = sessions.get(session)
        if items is None:
            items = sessions[session] = deque()
            sessions.move_to_end(session, last=False)
        items.append(item)
        self._size += 1

    def pop(self) -> Item | None:
        """The next item in turn, or None when nothing waits."""
        if not self._workspaces:
            return None
        return self._take(next(iter(self._workspaces)))

    def pop_where(self, eligible: Callable[[str], bool]) -> Item | None:
        """The next item in turn of a workspace `eligible` accepts, or None."""
        for workspace in self._workspaces:
            if eligible(workspace):
                return self._take(workspace)
        return None

    def _take(self, workspace: str) -> Item:
        sessions = self._workspaces[workspace]
        session, items = next(iter(sessions.items()))
        item = items.popleft()
        self._size -= 1
        if items:
            sessions.move_to_end(session)
        else:
            del sessions[session]
        if sessions:
            self._workspaces.move_to_end(workspace)
        else:
            del self._workspaces[workspace]
        return item

    def clear(self) -> list[Item]:
        """Everything still waiting, removed."""
        waiting = [
            item for sessions in self._workspaces.values() for items in sessions.values()
            for item in items
        ]
        self._workspaces.clear()
        self._size = 0
        return waiting
