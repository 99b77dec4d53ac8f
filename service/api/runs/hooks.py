"""What runs add to the prompt tasks of their batches: the score, and the next step queued."""

from dataclasses import dataclass

from models import AttackRun, BatchStatus, ChatRecord, PromptBatch, PromptTask
from models.runs import run_key
from service.api.prompting import Runtime
from service.api.runs.advancing import KickRun
from service.api.runs.counting import count_batch
from service.api.runs.scoring import needs_judge, scored
from service.api.runs.stopping import after_answer


@dataclass(frozen=True)
class RunHooks:
    kick: KickRun

    async def scored(self, record: ChatRecord, batch: PromptBatch, runtime: Runtime) -> ChatRecord:
        settings = batch.prompt_settings
        if not settings.get("metric") and not needs_judge(str(settings.get("attack_module"))):
            # Nothing to score: the run need not be read.
            return record.model_copy(update={"run_id": batch.run_id})
        run = await AttackRun.get(run_key(batch.workspace, batch.run_id))
        if run is None:
            return record.model_copy(update={"run_id": batch.run_id})
        return await scored(record, run, runtime)

    async def answered(self, task: PromptTask, batch: PromptBatch) -> None:
        """Stop the task's endpoint if the answer says so, before its batch can end: the step
        that the batch's end queues then sees every stop its answers call for."""
        await after_answer(task)

    async def batch_settled(self, batch: PromptBatch, status: BatchStatus) -> None:
        """Count the batch's answers: once per batch, not once per answer."""
        await count_batch(batch)

    async def batch_ended(self, batch: PromptBatch) -> None:
        """Queue the run's next step, which plans what follows."""
        await self.kick(batch.workspace, batch.session_id, batch.run_id)
