"""Red-teaming runs: an attack module sends many attack prompts to every endpoint of a session,
through the same batches, tasks and workers as a prompt sent by hand, and each answer is scored.

Modules by job, each importing only those listed before it: `options` (a run's own settings),
`transitions` (its conditional writes, events and turns), `state` (what it has done, read from
its batches and tasks), `counting` (its counts per endpoint), `calls` (attacker and judge
endpoints), `scoring` (the verdict on an answer), `stopping` (an endpoint done with),
`planning` (the next attack prompts), `advancing` (one step of a run), `starting`, `views`,
`cancelling`, `hooks` (what runs add to prompt tasks), `recovery` (runs owed a step).
"""

from service.api.runs.advancing import advance_run
from service.api.runs.cancelling import cancel_run, cancel_runs
from service.api.runs.scoring import scored
from service.api.runs.starting import StartedRun, start_run
from service.api.runs.views import EndpointCounts, RunCounts, RunView, get_run, list_runs

__all__ = [
    "EndpointCounts",
    "RunCounts",
    "RunView",
    "StartedRun",
    "advance_run",
    "cancel_run",
    "cancel_runs",
    "get_run",
    "list_runs",
    "scored",
    "start_run",
]
