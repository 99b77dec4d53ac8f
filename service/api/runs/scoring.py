"""Scoring a run's answer before it is stored, so the record lands with its verdict.

`pair` is scored by its own judge (1-10 against the goal); any other run by the session's
metric, through the metric's judge endpoint when it names one. A judge that fails, or a metric
that cannot score, leaves `score_error` and no score: a made-up score would mislead.
"""

from typing import Any

from models import AttackRun, ChatRecord
from service.api.prompting import Runtime
from service.api.runs.calls import endpoint_call
from service.redteam.attacks.errors import JudgeFailure as PairJudgeFailure
from service.redteam.attacks.pair import Pair
from service.redteam.attacks.registry import ATTACK_MODULES
from service.redteam.metrics import METRICS, Case, Score, score_answer
from service.redteam.metrics.configuration import MetricConfigurationError
from service.redteam.metrics.judging import JudgeFailure
from service.redteam.records import is_error_record

TARGET = "target"
NO_ANSWER = "the endpoint gave no answer, so there is nothing to score"


def needs_judge(attack_module: str) -> bool:
    """Whether the module scores answers itself, with its own judge, whatever the metric."""
    return isinstance(ATTACK_MODULES.get(attack_module), Pair)


def pair_judge_endpoint(run: AttackRun) -> str | None:
    """`pair`'s judge: the module's second endpoint, else its attacker."""
    endpoints = run.module_endpoints
    return endpoints[1] if len(endpoints) > 1 else (endpoints[0] if endpoints else None)


async def scored(record: ChatRecord, run: AttackRun, runtime: Runtime) -> ChatRecord:
    """`record` with the run's id and the verdict on its answer."""
    module = ATTACK_MODULES.get(run.attack_module)
    updates: dict[str, Any] = {"run_id": run.run_id}
    if isinstance(module, Pair) or run.metric:
        if is_error_record(record.model_dump()):
            updates["score_error"] = NO_ANSWER
        elif isinstance(module, Pair):
            updates.update(await _pair_verdict(module, record, run, runtime))
        else:
            updates.update(await _metric_verdict(record, run, runtime))
    return record.model_copy(update=updates)


async def _pair_verdict(
    module: Pair, record: ChatRecord, run: AttackRun, runtime: Runtime
) -> dict[str, Any]:
    endpoint = pair_judge_endpoint(run)
    if endpoint is None:
        return {"score_error": "pair has no judge endpoint"}
    judge = endpoint_call(endpoint, runtime, workspace=run.workspace)
    try:
        verdict = await module.judge(
            judge, run.seed_prompt, attack_prompt=record.prompt,
            target_answer=record.predicted_result,
        )
    except PairJudgeFailure as error:
        return {"score_error": f"judge: {error}"}
    settings = module.settings(run.module_configurations)
    return {
        "score": float(verdict.score),
        "success": verdict.successful(settings.success_score),
        "explanation": verdict.explanation or None,
    }


async def _metric_verdict(record: ChatRecord, run: AttackRun, runtime: Runtime) -> dict[str, Any]:
    metric = METRICS[run.metric]
    target = run.metric_configurations.get(TARGET)
    case = Case(
        prompt=record.prompt,
        answer=record.predicted_result,
        target=None if target is None else str(target),
        configurations=run.metric_configurations,
    )
    judge = (
        endpoint_call(run.metric_endpoints[0], runtime, workspace=run.workspace)
        if run.metric_endpoints else None
    )
    try:
        verdict = await score_answer(metric, case, judge)
    except MetricConfigurationError as error:
        return {"score_error": str(error)}
    if isinstance(verdict, JudgeFailure):
        return {"score_error": f"judge {verdict.kind.value}: {verdict.detail}"}
    return _score_fields(verdict)


def _score_fields(verdict: Score) -> dict[str, Any]:
    return {
        "score": float(verdict.score),
        "success": bool(verdict.success),
        "explanation": verdict.explanation,
    }
