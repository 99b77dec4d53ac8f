"""Every name of Moonshot's catalogue can be set on a session through the Python API and read
back, as on Moonshot."""

import pytest

from service.api import (
    api_create_session,
    api_load_session,
    api_update_attack_module,
    api_update_context_strategy,
    api_update_metric,
    api_update_prompt_template,
)
from service.redteam.catalogue import BUILT_INS
from tests.factories import create_session
from tests.redteam.test_catalogue import MOONSHOT_CATALOGUE

# kind -> (the `runner_args` key, the metadata field, the update function)
SETTINGS = {
    "prompt-template": ("prompt_template", "prompt_template", api_update_prompt_template),
    "context-strategy": ("context_strategy", "context_strategy", api_update_context_strategy),
    "attack-module": ("attack_module", "attack_module", api_update_attack_module),
    # Moonshot reads the metric from `metric_id`.
    "metric": ("metric_id", "metric", api_update_metric),
}
NAMES = sorted({*MOONSHOT_CATALOGUE, *((entry.kind, entry.name) for entry in BUILT_INS)})


def test_the_cases_cover_the_whole_catalogue():
    assert len(NAMES) == len(BUILT_INS)
    assert set(MOONSHOT_CATALOGUE) <= set(NAMES)


@pytest.mark.parametrize(("kind", "name"), NAMES, ids=[f"{kind}:{name}" for kind, name in NAMES])
async def test_created_with_then_cleared_and_updated_to(db, kind, name):
    argument, field, update = SETTINGS[kind]
    session_id = f"with-{kind}"
    await api_create_session(session_id, None, ["echo-a"], {argument: name})
    loaded = await api_load_session(session_id)
    assert loaded is not None and loaded[field] == name
    assert await update(session_id, "") is True
    assert (await api_load_session(session_id))[field] == ""
    other = await create_session(workspace="elsewhere")
    assert await update(other, name, workspace="elsewhere") is True
    assert (await api_load_session(other, workspace="elsewhere"))[field] == name
