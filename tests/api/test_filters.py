"""Filters of several conditions are one document, so the embedded server plans them with an
index (it reads the whole collection for Beanie's `$and`)."""

import pytest
from beanie.operators import GT, In

from models import PromptBatch, PromptTask, TaskStatus
from models.batches import batch_key
from service.api.filters import where
from service.api.prompting import api_send_prompt
from service.api.prompting.batches import tasks_of
from tests.factories import create_endpoint, create_session


class TestWhere:
    def test_conditions_on_different_fields_make_one_document(self):
        assert where({"workspace": "w"}, {"batch_id": "b"}, {"seq": {"$gt": 3}}) == {
            "workspace": "w", "batch_id": "b", "seq": {"$gt": 3},
        }

    def test_two_conditions_on_one_field_stay_an_and(self):
        assert where({"seq": {"$gt": 3}}, {"seq": {"$lt": 9}}) == {
            "$and": [{"seq": {"$gt": 3}}, {"seq": {"$lt": 9}}],
        }

    def test_an_operator_condition_stays_an_and(self):
        assert where({"workspace": "w"}, {"$or": [{"a": 1}, {"b": 2}]}) == {
            "$and": [{"workspace": "w"}, {"$or": [{"a": 1}, {"b": 2}]}],
        }

    def test_nothing_is_no_condition(self):
        assert where() == {}


class TestBeanieQueries:
    async def test_beanie_expressions_merge_into_one_document(self, db):
        query = PromptTask.find(where(
            PromptTask.workspace == "w", In(PromptTask.status, [TaskStatus.QUEUED]),
            GT(PromptTask.chat_record_id, 1),
        ))
        assert query.get_filter_query() == {
            "workspace": "w", "status": {"$in": ["queued"]}, "chat_record_id": {"$gt": 1},
        }

    async def test_a_batch_s_tasks_are_read_through_their_index(self, db, tier, task_queue):
        await create_endpoint("Echo A")
        await create_endpoint("Echo B")
        runner_id = await create_session(endpoints=["echo-a", "echo-b"])
        result = await api_send_prompt(runner_id, "Hi", enqueue=task_queue.enqueue, wait_s=30)
        batch = await PromptBatch.get(batch_key("default", result.batch_id))
        assert batch is not None
        query = tasks_of(batch)
        assert "$and" not in query.get_filter_query()
        assert sorted(task.endpoint for task in await query.to_list()) == ["echo-a", "echo-b"]
        if tier == "server":
            plan = await PromptTask.get_pymongo_collection().find(
                query.get_filter_query()
            ).explain()
            scan = plan["queryPlanner"]["winningPlan"]
            while "inputStage" in scan:
                scan = scan["inputStage"]
            assert scan["stage"] == "IXSCAN", plan["queryPlanner"]["winningPlan"]


def test_a_condition_that_is_not_a_mapping_is_refused():
    with pytest.raises(TypeError, match="mapping"):
        where({"workspace": "w"}, True)
