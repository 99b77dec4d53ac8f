"""Red-teaming runs over HTTP: a run's status and counts, and where to find it."""

from pydantic import BaseModel

from models import RunStatus
from service.api.runs import RunView


def run_location(runner_id: str, run_id: str) -> str:
    """The run's own route, as a `Location` header gives it."""
    return f"/api/v1/sessions/{runner_id}/runs/{run_id}"


class RunOut(RunView):
    """A run: what it attacks with, its status and times (epoch seconds), and per endpoint what
    was sent, answered, failed and successful (the metric said the attack worked), and why it
    stopped being attacked."""


class RunCancelled(BaseModel):
    run_id: str
    status: RunStatus
