"""Every name of Moonshot's catalogue can be set on a session over HTTP and read back, with the
routes and shapes Moonshot's web clients use."""

import pytest

from models import RegistryKind
from service.api.registries import KIND_LABELS
from service.redteam.catalogue import BUILT_INS
from tests.redteam.test_catalogue import MOONSHOT_CATALOGUE

# kind -> (the field of POST /api/v1/sessions and of the metadata, the route segment after
# the name: a context strategy's route also carries the number of previous prompts)
SETTINGS = {
    "prompt-template": ("prompt_template", ""),
    "context-strategy": ("context_strategy", "/3"),
    "attack-module": ("attack_module", ""),
    "metric": ("metric", ""),
}
NAMES = sorted({*MOONSHOT_CATALOGUE, *((entry.kind, entry.name) for entry in BUILT_INS)})


async def stored(client, session_id: str) -> dict:
    response = await client.get(f"/api/v1/sessions/{session_id}")
    assert response.status_code == 200, response.text
    return response.json()["session"]


@pytest.mark.parametrize(("kind", "name"), NAMES, ids=[f"{kind}:{name}" for kind, name in NAMES])
async def test_created_with_then_cleared_and_put_again(client, session_body, kind, name):
    field, suffix = SETTINGS[kind]
    body = session_body(f"with {kind}", **{field: name})
    created = await client.post("/api/v1/sessions", json=body)
    assert created.status_code == 200, created.text
    session_id = created.json()["session"]["session_id"]
    assert created.json()["session"][field] == name
    assert (await stored(client, session_id))[field] == name

    route = f"/api/v1/sessions/{session_id}/{kind}/{name}{suffix}"
    cleared = await client.delete(route)
    assert cleared.status_code == 200, cleared.text
    assert (await stored(client, session_id))[field] == ""

    put = await client.put(route)
    assert (put.status_code, put.json()) == (200, {"success": True})
    assert (await stored(client, session_id))[field] == name


@pytest.mark.parametrize("kind", list(SETTINGS))
async def test_a_name_of_another_kind_is_unknown_with_moonshots_detail(client, post_session, kind):
    """The catalogue's names are per kind: a metric's name is no attack module."""
    field, suffix = SETTINGS[kind]
    foreign = "charswap_attack" if kind != "attack-module" else "exactstrmatch"
    label = KIND_LABELS[RegistryKind(kind)]
    await post_session("kept")
    response = await client.put(f"/api/v1/sessions/kept/{kind}/{foreign}{suffix}")
    assert response.status_code == 422
    assert response.json() == {"detail": f"[Session] {label} {foreign} does not exist."}
    assert (await stored(client, "kept"))[field] == ""
