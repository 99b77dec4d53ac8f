"""How many live streams a key and a workspace hold open in this process, and the caps on it."""

from collections import Counter
from dataclasses import dataclass, field

from service.api.errors import RateLimited

# Streams last; a client refused should try again after a moment, not at once.
RETRY_AFTER_S = 5


@dataclass
class StreamSlot:
    """One open stream's place; `release()` gives it back, once however often it is called."""

    slots: "StreamSlots"
    holder: str
    workspace: str
    released: bool = False

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        self.slots.give_back(self)


@dataclass
class StreamSlots:
    """Counts open streams per holder (an API key, or a user) and per workspace.

    The counts live in the process: each server process has its own caps.
    """

    per_holder: int
    per_workspace: int
    _holders: Counter[str] = field(default_factory=Counter)
    _workspaces: Counter[str] = field(default_factory=Counter)

    def take(self, holder: str, workspace: str) -> StreamSlot:
        """A slot for one more stream; RateLimited when either cap is reached."""
        if self._holders[holder] >= self.per_holder:
            raise RateLimited(
                f"At most {self.per_holder} live streams per API key; close one first.",
                retry_after=RETRY_AFTER_S,
            )
        if self._workspaces[workspace] >= self.per_workspace:
            raise RateLimited(
                f"At most {self.per_workspace} live streams per workspace; close one first.",
                retry_after=RETRY_AFTER_S,
            )
        self._holders[holder] += 1
        self._workspaces[workspace] += 1
        return StreamSlot(self, holder, workspace)

    def give_back(self, slot: StreamSlot) -> None:
        for counts, name in ((self._holders, slot.holder), (self._workspaces, slot.workspace)):
            counts[name] -= 1
            if counts[name] <= 0:
                del counts[name]

    def held(self, *, holder: str | None = None, workspace: str | None = None) -> int:
        if holder is not None:
            return self._holders[holder]
        if workspace is not None:
            return self._workspaces[workspace]
        return sum(self._holders.values())
