"""Registries: built-ins from the catalogue, a workspace's own prompt templates, and the
endpoints and configurations a workspace sets on an attack module or metric."""

import asyncio

import pytest

from models import RegistryConfig, RegistryKind
from models.keys import registry_key
from service.api.errors import Conflict, InvalidInput, NotFound, RejectedArgument, UnknownName
from service.api.registries import (
    MAX_CONFIGURATION_BYTES,
    configure_entry,
    create_prompt_template,
    find_entry,
    list_entries,
    require_entry,
)
from service.api.schemas import RegistryItem
from service.redteam.catalogue import built_ins_of
from tests.factories import create_endpoint

TEMPLATE = RegistryKind.PROMPT_TEMPLATE


class TestCreatePromptTemplate:
    async def test_stores_it_and_returns_it(self, db):
        created = await create_prompt_template(
            "polite", "Says please.", "Please: {{ prompt }}", workspace="wa"
        )
        assert created == RegistryItem(
            kind=TEMPLATE, name="polite", description="Says please.", title="polite",
            template="Please: {{ prompt }}", built_in=False, runnable=True,
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
    async def test_a_built_in_carries_its_template_and_moonshots_defaults(self, db):
        found = await find_entry(RegistryKind.ATTACK_MODULE, "charswap_attack")
        assert found is not None and found.built_in
        assert (found.title, found.endpoints, found.configurations) == (
            "Character Swap Attack", [], {"max_iteration": 10, "word_swap_ratio": 0.2}
        )
        judge = await find_entry(RegistryKind.METRIC, "gpt4annotator")
        assert judge is not None
        assert judge.endpoints == ["llm-judge-openai-gpt4-annotator"]
        # Runnable: a run refuses to start until its endpoints name one of the workspace's.
        assert (judge.runnable, judge.reason) == (True, "")
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
        with pytest.raises(UnknownName) as raised:
            await require_entry(kind, "nowhere", field="some_field")
        # Still what Moonshot raises (RuntimeError) and what the domain calls bad input.
        assert isinstance(raised.value, RejectedArgument | RuntimeError | InvalidInput)
        assert str(raised.value) == f"[Session] {label} nowhere does not exist."
        assert raised.value.field == "some_field"

    async def test_another_workspaces_template_is_unknown(self, db):
        await create_prompt_template("polite", "", "{{ prompt }}", workspace="wa")
        with pytest.raises(RejectedArgument):
            await require_entry(TEMPLATE, "polite", field="prompt_template", workspace="wb")


ATTACK = RegistryKind.ATTACK_MODULE
METRIC = RegistryKind.METRIC


class TestConfigureEntry:
    async def test_sets_endpoints_and_configurations_and_lists_them(self, db):
        await create_endpoint("Attacker", workspace="wa")
        item = await configure_entry(
            ATTACK, "malicious_question_generator", endpoints=["attacker"],
            configurations={"max_iteration": 3}, workspace="wa",
        )
        assert (item.endpoints, item.configurations) == (["attacker"], {"max_iteration": 3})
        assert await find_entry(ATTACK, "malicious_question_generator", workspace="wa") == item
        listed = {entry.name: entry for entry in await list_entries(ATTACK, workspace="wa")}
        assert listed["malicious_question_generator"] == item
        # Every other entry keeps Moonshot's defaults.
        assert listed["violent_durian"].endpoints == ["openai-gpt4"]

    async def test_a_field_left_out_is_kept(self, db):
        await create_endpoint("Judge", workspace="wa")
        await configure_entry(METRIC, "gpt4annotator", endpoints=["judge"], workspace="wa")
        item = await configure_entry(
            METRIC, "gpt4annotator", configurations={"temperature": 0}, workspace="wa"
        )
        assert (item.endpoints, item.configurations) == (["judge"], {"temperature": 0})
        cleared = await configure_entry(METRIC, "gpt4annotator", endpoints=[], workspace="wa")
        assert (cleared.endpoints, cleared.configurations) == ([], {"temperature": 0})

    async def test_is_one_document_per_workspace_and_entry_addressed_by_id(self, db):
        for _ in range(2):
            await configure_entry(METRIC, "bleuscore", configurations={"n": 4}, workspace="wa")
        stored = await RegistryConfig.find(RegistryConfig.workspace == "wa").to_list()
        assert [document.id for document in stored] == [registry_key("wa", "metric", "bleuscore")]

    async def test_concurrent_first_settings_make_one_document_and_keep_both_fields(self, db):
        await create_endpoint("Judge")
        await asyncio.gather(
            *(
                configure_entry(METRIC, "refusal", endpoints=["judge"])
                if number % 2
                else configure_entry(METRIC, "refusal", configurations={"n": 1})
                for number in range(10)
            )
        )
        assert await RegistryConfig.find_all().count() == 1
        item = await find_entry(METRIC, "refusal")
        assert item is not None
        assert (item.endpoints, item.configurations) == (["judge"], {"n": 1})

    async def test_another_workspace_sees_its_own_values_only(self, db):
        await configure_entry(ATTACK, "charswap_attack", configurations={"x": 1}, workspace="wa")
        theirs = await find_entry(ATTACK, "charswap_attack", workspace="wb")
        assert theirs is not None
        assert theirs.configurations == {"max_iteration": 10, "word_swap_ratio": 0.2}
        ours = await find_entry(ATTACK, "charswap_attack", workspace="wa")
        assert ours is not None and ours.configurations == {"x": 1}

    async def test_an_unknown_endpoint_is_moonshots_message_and_stores_nothing(self, db):
        await create_endpoint("Judge", workspace="wb")
        with pytest.raises(UnknownName) as raised:
            await configure_entry(METRIC, "refusal", endpoints=["judge"], workspace="wa")
        assert str(raised.value) == "[Runner] Connector endpoint judge does not exist."
        assert raised.value.field == "endpoints"
        assert await RegistryConfig.find_all().to_list() == []

    @pytest.mark.parametrize("kind", [ATTACK, METRIC, "attack-module", "metric"])
    async def test_an_unknown_entry_is_not_found(self, db, kind):
        with pytest.raises(NotFound, match="nowhere does not exist"):
            await configure_entry(kind, "nowhere", configurations={})
        assert await RegistryConfig.find_all().to_list() == []

    async def test_a_kind_given_as_text_is_accepted(self, db):
        item = await configure_entry("metric", "spelling", configurations={"lang": "en"})
        assert item.kind is METRIC and item.configurations == {"lang": "en"}

    @pytest.mark.parametrize(
        ("kind", "arguments", "field"),
        [
            (TEMPLATE, {"configurations": {}}, "kind"),
            (RegistryKind.CONTEXT_STRATEGY, {"configurations": {}}, "kind"),
            ("nonsense", {"configurations": {}}, "kind"),
            (METRIC, {}, None),
            (METRIC, {"endpoints": "judge"}, "endpoints"),
            (METRIC, {"endpoints": [""]}, "endpoints"),
            (METRIC, {"endpoints": [1]}, "endpoints"),
            (METRIC, {"endpoints": [f"e{n}" for n in range(33)]}, "endpoints"),
            (METRIC, {"configurations": ["a"]}, "configurations"),
            (METRIC, {"configurations": {"x": float("nan")}}, "configurations"),
            (METRIC, {"configurations": {"x": object()}}, "configurations"),
            (METRIC, {"configurations": {"x": "y" * MAX_CONFIGURATION_BYTES}}, "configurations"),
        ],
        ids=[
            "prompt-template", "context-strategy", "no-such-kind", "nothing-to-set",
            "endpoints-not-a-list", "empty-endpoint-id", "endpoint-not-text", "too-many-endpoints",
            "configurations-not-an-object", "nan", "not-json", "too-large",
        ],
    )
    async def test_bad_input_names_the_field_and_stores_nothing(self, db, kind, arguments, field):
        with pytest.raises(InvalidInput) as raised:
            await configure_entry(kind, "samplemetric", **arguments)
        assert raised.value.field == field
        assert await RegistryConfig.find_all().to_list() == []

    async def test_keys_mongodb_would_refuse_are_kept(self, db):
        odd = {"$set": {"a.b": 1}, "": None, "nested": [{"$where": "1"}]}
        item = await configure_entry(METRIC, "samplemetric", configurations=odd)
        assert item.configurations == odd
        assert (await find_entry(METRIC, "samplemetric")).configurations == odd  # type: ignore[union-attr]

    async def test_the_catalogues_defaults_are_not_changed_by_a_caller(self, db):
        first = await find_entry(METRIC, "faithfulness")
        assert first is not None
        first.configurations["embeddings"].append("mine")
        again = await find_entry(METRIC, "faithfulness")
        assert again is not None
        assert again.configurations == {"embeddings": ["azure-langchain-openai-embedding-ada-2"]}
