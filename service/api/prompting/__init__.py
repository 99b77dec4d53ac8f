"""Sending a prompt to every endpoint of a session: batches, their tasks, cancel and recovery.

A batch and one task per endpoint (its chat record id reserved) are stored before anything is
queued. A task moves queued -> running -> appending -> done, or to cancelled, each step one
update by `_id` that names the step it leaves (`transitions`), so two copies of a task (a
redelivery, a restart) never both append, and a cancel that has answered is never followed by
an append.

Modules by job, each importing only those listed before it: `transitions` (the conditional
writes), `batches` (reading batches and results, waiting for one), `local` (what one process
shares about its batches: one read each, and their ends told to waiting handlers),
`admission` (the cap on a workspace's unfinished tasks), `settling` (ending tasks and batches,
cancel), `creating` (storing a batch), `running` (running a task), `recovery` (start-up, and
the sweep of tasks that never reached the queue).
Nothing in them imports this package's `__init__`.
"""

from service.api.prompting.admission import unfinished_tasks
from service.api.prompting.batches import (
    MOONSHOT_STATUS,
    BatchWakes,
    BatchWatch,
    PromptResult,
    get_batch,
    task_places,
    wait_for_batch,
)
from service.api.prompting.creating import (
    DEFAULT_HISTORY_LENGTH,
    Enqueue,
    api_send_prompt,
    create_batch,
)
from service.api.prompting.local import ProcessBatches
from service.api.prompting.recovery import recover_unfinished, stale_unfinished_tasks
from service.api.prompting.running import Limiter, Runtime, run_prompt_task
from service.api.prompting.settling import cancel_prompts

__all__ = [
    "DEFAULT_HISTORY_LENGTH",
    "MOONSHOT_STATUS",
    "BatchWakes",
    "BatchWatch",
    "Enqueue",
    "Limiter",
    "ProcessBatches",
    "PromptResult",
    "Runtime",
    "api_send_prompt",
    "cancel_prompts",
    "create_batch",
    "get_batch",
    "recover_unfinished",
    "run_prompt_task",
    "stale_unfinished_tasks",
    "task_places",
    "unfinished_tasks",
    "wait_for_batch",
]
