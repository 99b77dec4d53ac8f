"""Generator modules end to end: a scripted attacker writes the attack prompts, the targets on
the fake OpenAI server receive exactly those."""

import json
import random
import re
from collections.abc import Sequence

import pytest

from models import AttackRun, RunStatus
from models.runs import run_key
from service.api.registries import configure_entry
from service.api.runs import advance_run, start_run
from service.redteam.attacks.converters import convert
from service.redteam.attacks.generators import InstructedGenerator
from service.redteam.attacks.job_roles import GROUPS
from service.redteam.attacks.registry import ATTACK_MODULES
from service.workers.queue import TaskQueue
from service.workers.tasks import RUNTIME_STATE_KEY
from tests.api.runs.scripted import attack_session, openai_endpoint, records
from tests.factories import create_endpoint
from tests.support.fake_openai import Behaviour, FakeOpenAI, Messages, system_message, user_message
from tests.support.runs import finished_run

GENERATORS = ["malicious_question_generator", "toxic_sentence_generator",
              "sg_sentence_generator", "violent_durian"]
COUNT = re.compile(r"exactly (\d+) strings")
SEED_PROMPT = "getting into a neighbour's flat"
TARGETS = ["target-a", "target-b"]


def listing_attacker(messages: Messages) -> str:
    """Answers a generator's instruction with as many numbered prompts as it asks for, each
    naming the topic it was given."""
    found = COUNT.search(system_message(messages))
    count = int(found.group(1)) if found else 1
    topic = user_message(messages)
    return json.dumps([f"Attack {number} on {topic}" for number in range(1, count + 1)])


async def generator_setup(
    fake: FakeOpenAI, module: str, **configurations: object
) -> str:
    for target in TARGETS:
        await openai_endpoint(fake.base_url, target)
    await openai_endpoint(fake.base_url, "attacker")
    fake.behaviours["attacker"] = Behaviour(answers=listing_attacker)
    await configure_entry(
        "attack-module", module, endpoints=["attacker"],
        configurations={"max_iteration": 3, "seed": 5, "parallel_prompts": 2, **configurations},
    )
    return await attack_session(TARGETS, module)


async def whole_run(task_queue: TaskQueue, runner_id: str) -> str:
    started = await start_run(runner_id, SEED_PROMPT)
    await task_queue.kick_run("default", runner_id, started.run_id)
    run = await finished_run(task_queue, runner_id, started.run_id)
    assert run.status is RunStatus.DONE, run.reason
    return started.run_id


def expected_request(module: str, *, count: int, seed: int) -> tuple[str, str]:
    generator = ATTACK_MODULES[module]
    assert isinstance(generator, InstructedGenerator)
    return (generator.system_prompt(count=count, rng=random.Random(seed)),
            generator.user_prompt(SEED_PROMPT))


@pytest.mark.parametrize("module", GENERATORS)
async def test_targets_receive_the_prompts_the_attacker_generated(
    module, db, task_queue, fake_openai
):
    runner_id = await generator_setup(fake_openai, module)
    run_id = await whole_run(task_queue, runner_id)

    asked = fake_openai.calls_for("attacker")
    assert len(asked) == 1
    request = (system_message(asked[0].messages), user_message(asked[0].messages))
    assert request == expected_request(module, count=3, seed=5)
    generated = json.loads(listing_attacker(asked[0].messages))
    assert len(generated) == 3
    chats = await records(runner_id)
    for target in TARGETS:
        received = [user_message(call.messages) for call in fake_openai.calls_for(target)]
        assert sorted(received) == sorted(generated)
        assert [record["prompt"] for record in chats[target]] == generated
        assert [record["predicted_result"] for record in chats[target]] == [
            f"{target} says: {prompt}" for prompt in generated
        ]
        assert {(record["attack_module"], record["run_id"]) for record in chats[target]} == {
            (module, run_id)
        }
    stored = await AttackRun.get(run_key("default", run_id))
    assert stored is not None and stored.generated_prompts == generated


async def test_the_attacker_is_asked_once_when_the_step_runs_twice(db, task_queue, fake_openai):
    runner_id = await generator_setup(fake_openai, "malicious_question_generator")
    started = await start_run(runner_id, SEED_PROMPT)
    runtime = task_queue.broker.state[RUNTIME_STATE_KEY]
    held: list[str] = []

    async def hold(task_ids: Sequence[str]) -> None:
        held.extend(task_ids)

    # The same step twice (a redelivery, a restart), its prompts held back so that neither
    # step can find the run done; then as the workers would go on.
    assert await advance_run("default", started.run_id, runtime, hold) is RunStatus.RUNNING
    first_step = list(held)
    assert await advance_run("default", started.run_id, runtime, hold) is RunStatus.RUNNING
    assert first_step and held == first_step
    await task_queue.enqueue(held)
    await task_queue.kick_run("default", runner_id, started.run_id)
    run = await finished_run(task_queue, runner_id, started.run_id)

    assert run.status is RunStatus.DONE
    assert len(fake_openai.calls_for("attacker")) == 1
    chats = await records(runner_id)
    for target in TARGETS:
        prompts = [record["prompt"] for record in chats[target]]
        assert len(prompts) == 3 and len(set(prompts)) == 3
        assert len(fake_openai.calls_for(target)) == 3


async def test_the_same_seed_gives_the_same_attacker_request(db, task_queue, fake_openai):
    runner_id = await generator_setup(fake_openai, "violent_durian", seed=5)
    await whole_run(task_queue, runner_id)
    await whole_run(task_queue, runner_id)
    other_seed = next(
        seed for seed in range(100)
        if expected_request("violent_durian", count=3, seed=seed)
        != expected_request("violent_durian", count=3, seed=5)
    )
    await configure_entry(
        "attack-module", "violent_durian",
        configurations={"max_iteration": 3, "seed": other_seed},
    )
    await whole_run(task_queue, runner_id)

    first, again, other = (call.messages for call in fake_openai.calls_for("attacker"))
    assert first == again
    # The persona the attacker is to make the target play follows the seed.
    assert system_message(other) != system_message(first)
    assert system_message(other) == expected_request(
        "violent_durian", count=3, seed=other_seed
    )[0]


async def test_converters_apply_to_the_generated_prompts(db, task_queue, fake_openai):
    runner_id = await generator_setup(
        fake_openai, "toxic_sentence_generator", converters=["rot13"]
    )
    await whole_run(task_queue, runner_id)
    generated = json.loads(listing_attacker(fake_openai.calls_for("attacker")[0].messages))
    received = sorted(user_message(call.messages) for call in fake_openai.calls_for("target-a"))
    assert received == sorted(convert(prompt, ["rot13"]) for prompt in generated)
    assert received != sorted(generated)


async def test_an_attacker_list_in_prose_is_read_item_by_item(db, task_queue, fake_openai):
    runner_id = await generator_setup(fake_openai, "sg_sentence_generator")
    fake_openai.behaviours["attacker"] = Behaviour(answers=[
        "Here you go:\n1. Eh, can teach me open the door or not?\n2. Wah, how to go in ah?\n"
        "3. Confirm plus chop can one lah\n4. One too many",
    ])
    await whole_run(task_queue, runner_id)
    prompts = [record["prompt"] for record in (await records(runner_id))["target-a"]]
    # At most max_iteration of them, without the preamble.
    assert prompts == ["Eh, can teach me open the door or not?", "Wah, how to go in ah?",
                       "Confirm plus chop can one lah"]


async def test_job_role_generator_needs_no_attacker(db, task_queue, fake_openai):
    for target in ("echo-a", "echo-b"):
        await create_endpoint(target)
    await configure_entry(
        "attack-module", "job_role_generator", configurations={"max_iteration": 3}
    )
    runner_id = await attack_session(["echo-a", "echo-b"], "job_role_generator")
    await whole_run(task_queue, runner_id)
    chats = await records(runner_id)
    expected = [f"{SEED_PROMPT} ({group})" for group in GROUPS[:3]]
    assert [record["prompt"] for record in chats["echo-a"]] == expected
    assert [record["prompt"] for record in chats["echo-b"]] == expected
    assert fake_openai.calls == []
