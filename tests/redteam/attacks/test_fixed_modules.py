"""`sample_attack_module` and `job_role_generator`: no randomness, no model."""

from service.redteam.attacks.job_roles import GROUPS, JobRoleGenerator
from service.redteam.attacks.sample import SampleAttack


def test_sample_sends_the_prompt_as_it_is_once_by_default():
    assert SampleAttack().attack_prompts("Hi there", configurations={}, seed=1) == ["Hi there"]


def test_job_role_appends_each_group_in_order():
    prompts = JobRoleGenerator().attack_prompts("Describe a nurse", configurations={}, seed=1)
    assert prompts == [f"Describe a nurse ({group})" for group in GROUPS]
    assert {"Male", "Female"} <= set(GROUPS)


def test_job_role_max_iteration_caps_the_groups():
    prompts = JobRoleGenerator().attack_prompts(
        "Describe a pilot", configurations={"max_iteration": 2}, seed=1
    )
    assert prompts == ["Describe a pilot (Male)", "Describe a pilot (Female)"]
    more = JobRoleGenerator().attack_prompts(
        "Describe a pilot", configurations={"max_iteration": 100}, seed=1
    )
    assert len(more) == len(GROUPS)
