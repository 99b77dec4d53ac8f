"""Stream slots: per holder and per workspace caps, given back once."""

import pytest

from service.api.errors import RateLimited
from service.api.stream_slots import RETRY_AFTER_S, StreamSlots


class TestStreamSlots:
    def test_a_holder_gets_its_cap_and_not_one_more_until_one_is_given_back(self):
        slots = StreamSlots(per_holder=2, per_workspace=10)
        first = slots.take("key:a", "wa")
        slots.take("key:a", "wa")
        with pytest.raises(RateLimited) as refused:
            slots.take("key:a", "wa")
        assert refused.value.retry_after == RETRY_AFTER_S
        assert "per API key" in str(refused.value)
        assert slots.held(holder="key:a") == 2
        first.release()
        slots.take("key:a", "wa")
        assert slots.held(holder="key:a") == 2

    def test_the_workspace_cap_counts_every_holder_in_it_and_no_other_workspace(self):
        slots = StreamSlots(per_holder=5, per_workspace=3)
        for holder in ("key:a", "key:b", "key:c"):
            slots.take(holder, "wa")
        with pytest.raises(RateLimited) as refused:
            slots.take("key:d", "wa")
        assert "per workspace" in str(refused.value)
        # Nothing was counted for the refused one.
        assert slots.held(holder="key:d") == 0
        slots.take("key:e", "wb")
        assert (slots.held(workspace="wa"), slots.held(workspace="wb")) == (3, 1)

    def test_a_slot_given_back_twice_counts_once(self):
        slots = StreamSlots(per_holder=1, per_workspace=1)
        slot = slots.take("key:a", "wa")
        slot.release()
        slot.release()
        assert slots.held() == 0
        slots.take("key:a", "wa")
        with pytest.raises(RateLimited):
            slots.take("key:a", "wa")
