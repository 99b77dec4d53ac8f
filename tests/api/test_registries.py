"""Registries: built-ins from the catalogue plus a workspace's own prompt templates."""

import pytest

from models import RegistryKind
from service.api.errors import Conflict, InvalidInput, RejectedArgument
from service.api.registries import (
    create_prompt_template,
    find_entry,
    list_entries,
    require_entry,
)
from service.api.schemas import RegistryItem
from service.redteam.catalogue import built_ins_of

TEMPLATE = RegistryKind.PROMPT_TEMPLATE


class TestCreatePromptTemplate:
    async def test_stores_it_and_returns_it(self, db):
        created = await create_prompt_template(
            "polite", "Says please.", "Please: {{ prompt }}", workspace="wa"
        )
        assert created == RegistryItem(
            kind=TEMPLATE, name="polite", description="Says please.",
            template="Please: {{ prompt }}", built_in=False,
        )
        assert await find_entry(TEMPLATE, "polite", workspace="wa") == created

    @pytest.mark.parametrize("name", ["polite", "answer-template"])
    async def test_a_taken_name_is_a_conflict(self, db, name):
        await create_prompt_template("polite", "", "{{ prompt }}")
        with pytest.raises(Conflict, match=f"Prompt template {name} already exists"):
            await create_prompt_template(name, "", "Again {{ prompt }}")
        (kept,) = [item for item in await list_entries(TEMPLATE) if not item.built_in]
        assert kept.template == "{{ prompt }}"

    async def test_the_same_name_in_another_workspace_is_another_template(self, db):
        await create_prompt_template("polite", "", "A {{ prompt }}", workspace="wa")
        await create_prompt_template("polite", "", "B {{ prompt }}", workspace="wb")
        found = [await find_entry(TEMPLATE, "polite", workspace=w) for w in ("wa", "wb")]
        assert [item.template for item in found if item] == ["A {{ prompt }}", "B {{ prompt }}"]

    @pytest.mark.parametrize(
        ("name", "template", "field"),
        [
            ("  ", "{{ prompt }}", "name"),
            ("broken", "{% if %}", "template"),
            ("no-prompt", "Hello there", "template"),
            ("too-long", "{{ prompt }}" + "x" * 100_000, "template"),
        ],
        ids=["blank name", "does not compile", "no prompt", "too long"],
    )
    async def test_bad_input_names_the_field_and_stores_nothing(self, db, name, template, field):
        with pytest.raises(InvalidInput) as raised:
            await create_prompt_template(name, "", template)
        assert raised.value.field == field
        assert all(item.built_in for item in await list_entries(TEMPLATE))


class TestListEntries:
    async def test_built_ins_first_then_the_workspaces_own_by_name(self, db):
        for name in ("zeta", "alpha"):
            await create_prompt_template(name, "", f"{name} {{{{ prompt }}}}", workspace="wa")
        await create_prompt_template("other", "", "{{ prompt }}", workspace="wb")
        items = await list_entries(TEMPLATE, workspace="wa")
        built_in_names = [entry.name for entry in built_ins_of(TEMPLATE)]
        assert [item.name for item in items] == [*built_in_names, "alpha", "zeta"]
        assert [item.built_in for item in items] == [True] * len(built_in_names) + [False] * 2

    @pytest.mark.parametrize("kind", list(RegistryKind))
    async def test_each_kind_lists_its_built_ins_only(self, db, kind):
        await create_prompt_template("polite", "", "{{ prompt }}")
        items = await list_entries(kind)
        assert {item.kind for item in items} <= {kind}
        assert [item.name for item in items if item.built_in] == [
            entry.name for entry in built_ins_of(kind)
        ]


class TestFindEntry:
    async def test_a_built_in_carries_its_template_and_extra(self, db):
        found = await find_entry(RegistryKind.ATTACK_MODULE, "charswap_attack")
        assert found is not None and found.built_in
        assert found.extra == {"endpoints": [], "configurations": {"max_iteration": 10}}
        template = await find_entry(TEMPLATE, "answer-template")
        assert template is not None and "{{ prompt }}" in template.template

    async def test_an_unknown_name_is_none(self, db):
        assert await find_entry(TEMPLATE, "nowhere") is None
        # A name of another kind is not found under this one.
        assert await find_entry(TEMPLATE, "charswap_attack") is None


class TestRequireEntry:
    async def test_a_known_or_empty_name_passes(self, db):
        await create_prompt_template("polite", "", "{{ prompt }}", workspace="wa")
        await require_entry(TEMPLATE, "polite", field="prompt_template", workspace="wa")
        await require_entry(TEMPLATE, "answer-template", field="prompt_template")
        await require_entry(TEMPLATE, "", field="prompt_template")

    @pytest.mark.parametrize(
        ("kind", "label"),
        [
            (RegistryKind.PROMPT_TEMPLATE, "Prompt Template"),
            (RegistryKind.CONTEXT_STRATEGY, "Context Strategy"),
            (RegistryKind.ATTACK_MODULE, "Attack Module"),
            (RegistryKind.METRIC, "Metric"),
        ],
    )
    async def test_an_unknown_name_is_rejected_in_moonshots_words(self, db, kind, label):
        with pytest.raises(RejectedArgument) as raised:
            await require_entry(kind, "nowhere", field="some_field")
        assert str(raised.value) == f"[Session] {label} nowhere does not exist."
        assert raised.value.field == "some_field"

    async def test_another_workspaces_template_is_unknown(self, db):
        await create_prompt_template("polite", "", "{{ prompt }}", workspace="wa")
        with pytest.raises(RejectedArgument):
            await require_entry(TEMPLATE, "polite", field="prompt_template", workspace="wb")
