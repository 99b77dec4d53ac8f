"""A Moonshot data folder imported into a workspace: exactly, idempotently, item by item."""

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from models import DOCUMENTS, ChatBucket, ChatCounter, Endpoint, RegistryKind, Runner, Session
from models.keys import bucket_key
from service.api import (
    api_get_all_chats_from_session,
    api_get_all_endpoint,
    api_get_all_session_names,
    api_load_session,
    api_read_endpoint,
    reserve_chat_record_id,
)
from service.api.accounts import create_workspace
from service.api.errors import NotFound
from service.api.registries import find_entry
from service.api.sessions.runners import create_runner_with_session
from service.moonshot_import.importer import import_moonshot_folder
from service.moonshot_import.reader import MissingDataFolder
from service.moonshot_import.report import ImportReport, ItemKind, Outcome
from tests.conftest import TEST_BUCKET_SIZE
from tests.factories import TEST_CIPHER
from tests.moonshot_import.moonshot_folder import (
    MoonshotFolder,
    RunnerSpec,
    moonshot_record,
    runner_spec,
)

OPENAI_TOKEN = "sk-moonshot-secret-token-1234"
HF_TOKEN = "hf-secret-token-5678"
BIG = runner_spec(
    "big-runner", {"echo-a": 6_000, "echo-b": 4_000},
    prompt_template="polite-answer", context_strategy="add_previous_prompt",
    cs_num_of_prev_prompts=3, metric="samplemetric", system_prompt="Be careful.",
)
SMALL = runner_spec("small-runner", {"echo-a": 3, "huggingface-gpt2": 2}, tag="small ")
EMPTY = runner_spec("empty-runner", {"echo-b": 0})
NO_SESSION = runner_spec("idle-runner", {"echo-a": 0})
CORRUPT = runner_spec("corrupt-runner", {"echo-a": 1})
MISSING = runner_spec("missing-runner", {"echo-a": 1})
SESSIONS = (BIG, SMALL, EMPTY)
MOONSHOT_FIELDS = set(moonshot_record(1, "x"))


def build_folder(root: Path, sessions: tuple[RunnerSpec, ...] = SESSIONS) -> Path:
    folder = MoonshotFolder(root)
    folder.endpoint("echo-a")
    folder.endpoint("echo-b", max_calls_per_second=50)
    folder.endpoint(
        "openai-gpt4", name="OpenAI GPT4", connector_type="openai-connector",
        uri="https://api.openai.com/v1", token=OPENAI_TOKEN, model="gpt-4",
        params={"timeout": 300, "max_attempts": 3, "temperature": 0.5},
    )
    # Moonshot's other connectors: kept, with its type, as an endpoint Sparring cannot run.
    folder.endpoint(
        "huggingface-gpt2", name="HuggingFace GPT2", connector_type="huggingface-connector",
        uri="https://api-inference.huggingface.co/models/gpt2", token=HF_TOKEN,
    )
    # A file not named after its name's slug: sessions refer to it by the file's name.
    folder.endpoint("local-judge", name="Local Judge Model")
    folder.endpoint("zero-rate", max_calls_per_second=0)
    (root / "connectors-endpoints" / "broken.json").write_text("{ not json", encoding="utf-8")
    folder.template("polite-answer", "Answer this: {{ prompt }}", "Asks for an answer.")
    folder.template("broken-template", "{% if %}")
    folder.write("attack-modules", "attack_modules_config", {
        "malicious_question_generator": {
            "endpoints": ["echo-a"], "configurations": {"max_iteration": 3},
        },
        "no_such_module": {"configurations": {"max_iteration": 1}},
    })
    folder.write("metrics", "metrics_config", {
        "samplemetric": {
            "endpoints": ["echo-a", "echo-b"],
            "configurations": {"threshold_value": "0.35", "num_of_prompts_to_calculate": 1},
        },
        "llamaguardannotator": {"endpoints": ["my-llama-guard"]},
    })
    for spec in sessions:
        folder.runner(spec)
    folder.runner(NO_SESSION, with_session=False)
    folder.corrupt_runner(CORRUPT)
    folder.runner_without_database(MISSING)
    return root


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built once: the import only reads it.
    return build_folder(tmp_path_factory.mktemp("moonshot-data"))


@pytest.fixture(scope="module")
def small_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same folder without the 10,000-record runner, for what does not need it."""
    return build_folder(tmp_path_factory.mktemp("moonshot-small"), (SMALL, EMPTY))


async def run_import(data_dir: Path, workspace: str = "default", **kwargs: Any) -> ImportReport:
    return await import_moonshot_folder(data_dir, workspace=workspace, cipher=TEST_CIPHER, **kwargs)


def outcomes(report: ImportReport) -> dict[tuple[ItemKind, str], Outcome]:
    return {(item.kind, item.name): item.outcome for item in report.items}


def expected_chats(spec: RunnerSpec) -> dict[str, list[dict[str, Any]]]:
    return {endpoint: spec.records.get(endpoint, []) for endpoint in spec.endpoints}


async def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every stored document of every collection, for comparing two states."""
    state = {}
    for document in DOCUMENTS:
        collection = document.get_pymongo_collection()
        state[collection.name] = sorted(
            [found async for found in collection.find({})], key=lambda found: str(found["_id"])
        )
    return state


def assert_same_records(stored: dict[str, list[dict]], expected: dict[str, list[dict]]) -> None:
    assert list(stored) == list(expected)
    for endpoint, records in expected.items():
        got = stored[endpoint]
        assert len(got) == len(records), endpoint
        for mine, theirs in zip(got, records, strict=True):
            # Every Moonshot field, in order; plus who sent it, which Moonshot does not keep.
            assert {name: mine[name] for name in MOONSHOT_FIELDS} == theirs
            assert set(mine) == MOONSHOT_FIELDS | {"sent_by"}


class TestImportMoonshotFolder:
    async def test_reports_every_item_with_what_became_of_it(self, db, data_dir):
        report = await run_import(data_dir)
        endpoint, template = ItemKind.ENDPOINT, ItemKind.PROMPT_TEMPLATE
        assert outcomes(report) == {
            (endpoint, "broken"): Outcome.FAILED,
            (endpoint, "echo-a"): Outcome.IMPORTED,
            (endpoint, "echo-b"): Outcome.IMPORTED,
            (endpoint, "huggingface-gpt2"): Outcome.IMPORTED,
            (endpoint, "local-judge"): Outcome.IMPORTED,
            (endpoint, "openai-gpt4"): Outcome.IMPORTED,
            (endpoint, "zero-rate"): Outcome.FAILED,
            (template, "polite-answer"): Outcome.IMPORTED,
            (template, "broken-template"): Outcome.FAILED,
            (ItemKind.ATTACK_MODULE, "malicious_question_generator"): Outcome.IMPORTED,
            (ItemKind.ATTACK_MODULE, "no_such_module"): Outcome.FAILED,
            (ItemKind.METRIC, "samplemetric"): Outcome.IMPORTED,
            (ItemKind.METRIC, "llamaguardannotator"): Outcome.FAILED,
            (ItemKind.SESSION, "big-runner"): Outcome.IMPORTED,
            (ItemKind.SESSION, "corrupt-runner"): Outcome.FAILED,
            (ItemKind.SESSION, "empty-runner"): Outcome.IMPORTED,
            (ItemKind.SESSION, "idle-runner"): Outcome.SKIPPED,
            (ItemKind.SESSION, "missing-runner"): Outcome.FAILED,
            (ItemKind.SESSION, "small-runner"): Outcome.IMPORTED,
        }
        reasons = {item.name: item.reason for item in report.items}
        assert reasons["big-runner"] == reasons["small-runner"] == ""
        assert "not valid JSON" in reasons["broken"]
        assert "max_calls_per_second" in reasons["zero-rate"]
        assert "huggingface-connector" in reasons["huggingface-gpt2"]
        assert "not a readable Moonshot database" in reasons["corrupt-runner"]
        assert "missing-runner.db is missing" in reasons["missing-runner"]
        assert "no_such_module does not exist" in reasons["no_such_module"]
        assert "my-llama-guard does not exist" in reasons["llamaguardannotator"]
        assert reasons["idle-runner"] == "its database holds no session"
        assert report.records == 10_005 and report.failed
        summary = report.summary()
        assert summary.startswith(
            "Imported 11 item(s) into workspace default (10005 chat record(s)); skipped 1; "
            "failed 7."
        )
        assert "failed   session missing-runner: its database missing-runner.db is missing" in (
            summary
        )

    async def test_sessions_answer_the_same_records_in_the_same_order(self, db, data_dir):
        await run_import(data_dir)
        assert sorted(await api_get_all_session_names()) == sorted(s.runner_id for s in SESSIONS)
        for spec in SESSIONS:
            stored = await api_get_all_chats_from_session(spec.runner_id)
            assert_same_records(stored, expected_chats(spec))
        metadata = await api_load_session(BIG.runner_id)
        assert metadata == {
            "session_id": "big-runner",
            "endpoints": ["echo-a", "echo-b"],
            "created_epoch": "1732000000.25",
            "created_datetime": "20241119-071040",
            "prompt_template": "polite-answer",
            "context_strategy": "add_previous_prompt",
            "cs_num_of_prev_prompts": 3,
            "attack_module": "",
            "metric": "samplemetric",
            "system_prompt": "Be careful.",
        }
        runner = await Runner.get("default|big-runner")
        assert runner is not None
        assert (runner.name, runner.description) == (
            "Big Runner", "Runner big-runner from Moonshot"
        )

    async def test_buckets_and_counters_are_where_appends_would_put_them(self, db, data_dir):
        await run_import(data_dir)
        bucket = await ChatBucket.get_pymongo_collection().find_one(
            {"_id": bucket_key("default", "big-runner", "echo-b", 7)}
        )
        assert bucket is not None
        ids = [record["chat_record_id"] for record in bucket["records"]]
        assert ids == list(range(7 * TEST_BUCKET_SIZE, 8 * TEST_BUCKET_SIZE))
        assert await ChatBucket.find(
            ChatBucket.session_id == "big-runner", ChatBucket.endpoint == "echo-a"
        ).count() == 6_000 // TEST_BUCKET_SIZE + 1
        # The next prompt's record follows the imported ones.
        assert await reserve_chat_record_id("big-runner", "echo-a") == 6_001
        assert await reserve_chat_record_id("small-runner", "huggingface-gpt2") == 3
        assert await ChatCounter.get_pymongo_collection().find_one(
            {"_id": "default|empty-runner|echo-b"}
        ) is None
        assert await reserve_chat_record_id("empty-runner", "echo-b") == 1

    async def test_endpoints_keep_their_fields_and_tokens_are_encrypted(self, db, data_dir):
        await run_import(data_dir)
        openai = await api_read_endpoint("openai-gpt4")
        assert openai == {
            "id": "openai-gpt4", "name": "OpenAI GPT4", "connector_type": "openai-connector",
            "uri": "https://api.openai.com/v1", "token": "********",
            "max_calls_per_second": 5, "max_concurrency": 2, "model": "gpt-4",
            "params": {"timeout": 300, "max_attempts": 3, "temperature": 0.5},
            "created_date": openai["created_date"],
        }
        stored = {
            document.endpoint_id: document
            async for document in Endpoint.find(Endpoint.workspace == "default")
        }
        assert TEST_CIPHER.decrypt(stored["openai-gpt4"].token_encrypted) == OPENAI_TOKEN
        assert TEST_CIPHER.decrypt(stored["huggingface-gpt2"].token_encrypted) == HF_TOKEN
        raw = repr([found async for found in Endpoint.get_pymongo_collection().find({})])
        assert OPENAI_TOKEN not in raw and HF_TOKEN not in raw
        # Kept with Moonshot's connector type and its file's id.
        assert stored["huggingface-gpt2"].connector_type == "huggingface-connector"
        assert (stored["local-judge"].name, stored["local-judge"].connector_type) == (
            "Local Judge Model", "echo"
        )
        listed = [endpoint["id"] for endpoint in await api_get_all_endpoint()]
        assert sorted(listed) == [
            "echo-a", "echo-b", "huggingface-gpt2", "local-judge", "openai-gpt4"
        ]

    async def test_templates_and_entry_settings_are_the_workspaces(self, db, data_dir):
        await run_import(data_dir)
        template = await find_entry(RegistryKind.PROMPT_TEMPLATE, "polite-answer")
        assert template is not None and not template.built_in
        assert (template.template, template.description) == (
            "Answer this: {{ prompt }}", "Asks for an answer."
        )
        assert await find_entry(RegistryKind.PROMPT_TEMPLATE, "broken-template") is None
        attacker = await find_entry(RegistryKind.ATTACK_MODULE, "malicious_question_generator")
        assert attacker is not None
        assert (attacker.endpoints, attacker.configurations) == (["echo-a"], {"max_iteration": 3})
        metric = await find_entry(RegistryKind.METRIC, "samplemetric")
        assert metric is not None and metric.endpoints == ["echo-a", "echo-b"]
        assert metric.configurations == {
            "threshold_value": "0.35", "num_of_prompts_to_calculate": 1
        }


class TestRunningTwice:
    async def test_the_second_run_changes_nothing_and_says_so(self, db, data_dir):
        first = await run_import(data_dir)
        before = await snapshot()
        second = await run_import(data_dir)
        assert await snapshot() == before
        assert second.changed_nothing and second.records == 0
        assert "Nothing changed" in second.summary()
        again = outcomes(second)
        for key, outcome in outcomes(first).items():
            # What failed fails again, for the same reason; everything else is skipped.
            assert again[key] == (Outcome.FAILED if outcome is Outcome.FAILED else Outcome.SKIPPED)
        reasons = {item.name: item.reason for item in second.items}
        assert reasons["big-runner"] == "a session with this runner id is already in the workspace"
        assert reasons["echo-a"] == "already in the workspace"
        assert reasons["samplemetric"] == "already set so"

    async def test_an_import_cut_short_is_completed_by_the_next(self, db, data_dir):
        # What a process killed mid-import leaves: the runner and part of its chats, no session.
        await Runner(
            id="default|big-runner", workspace="default", runner_id="big-runner",
            name="Big Runner", created_at=1.0,
        ).insert()
        await ChatBucket.get_pymongo_collection().insert_one({
            "_id": bucket_key("default", "big-runner", "echo-a", 0), "workspace": "default",
            "session_id": "big-runner", "endpoint": "echo-a", "bucket_no": 0,
            "records": [moonshot_record(1, "echo-a", tag="stale ") | {"sent_by": ""}],
        })
        report = await run_import(data_dir)
        assert outcomes(report)[(ItemKind.SESSION, "big-runner")] is Outcome.IMPORTED
        assert_same_records(
            await api_get_all_chats_from_session("big-runner"), expected_chats(BIG)
        )

    async def test_a_failure_part_way_leaves_nothing_of_that_session(self, db, data_dir):
        class StopsMidSession:
            """A progress display that fails once a session is half written."""

            def __init__(self) -> None:
                self.label = ""
                self.done = 0

            def begin(self, label: str, total: int) -> None:
                self.label, self.done = label, 0

            def advance(self, amount: int = 1) -> None:
                self.done += amount
                if self.label == "session big-runner" and self.done > 3_000:
                    raise OSError("the terminal went away")

            def end(self) -> None:
                return None

        with pytest.raises(OSError, match="terminal went away"):
            await run_import(data_dir, progress=StopsMidSession())
        scope = {"session_id": "big-runner"}
        for document in (ChatBucket, ChatCounter, Session):
            assert await document.get_pymongo_collection().count_documents(scope) == 0
        assert await Runner.get("default|big-runner") is None
        report = await run_import(data_dir)
        assert outcomes(report)[(ItemKind.SESSION, "big-runner")] is Outcome.IMPORTED
        assert_same_records(
            await api_get_all_chats_from_session("big-runner"), expected_chats(BIG)
        )


class TestWhatIsThereAlready:
    async def test_a_session_of_the_same_runner_id_is_left_alone(self, db, small_data_dir):
        await create_runner_with_session("Small Runner", "mine", ["echo-a"], {})
        report = await run_import(small_data_dir)
        assert outcomes(report)[(ItemKind.SESSION, "small-runner")] is Outcome.SKIPPED
        assert await api_get_all_chats_from_session("small-runner") == {"echo-a": []}

    async def test_another_runner_under_the_id_is_not_taken_over(self, db, small_data_dir):
        await create_runner_with_session("Small Runner", "mine", ["echo-a"], {})
        await Session.get_pymongo_collection().delete_one({"_id": "default|small-runner"})
        await Runner.get_pymongo_collection().update_one(
            {"_id": "default|small-runner"}, {"$set": {"name": "small runner (mine)"}}
        )
        report = await run_import(small_data_dir)
        (item,) = [item for item in report.items if item.name == "small-runner"]
        assert item.outcome is Outcome.SKIPPED and "another runner" in item.reason
        assert await api_load_session("small-runner") is None


class TestBadInput:
    async def test_a_missing_folder_is_refused(self, db, tmp_path):
        with pytest.raises(MissingDataFolder, match="is not a folder"):
            await run_import(tmp_path / "nowhere")
        assert await api_get_all_endpoint() == []

    async def test_bad_runners_leave_nothing_behind(self, db, small_data_dir):
        await run_import(small_data_dir)
        for runner_id in ("corrupt-runner", "missing-runner"):
            scope = {"session_id": runner_id}
            for document in (ChatBucket, ChatCounter, Session):
                assert await document.get_pymongo_collection().count_documents(scope) == 0
            assert await Runner.get(f"default|{runner_id}") is None

    async def test_a_chat_table_missing_fails_that_session_only(self, db, tmp_path):
        folder = MoonshotFolder(tmp_path)
        folder.endpoint("echo-a")
        spec = runner_spec("half-runner", {"echo-a": 2, "echo-b": 2})
        folder.runner(spec)
        connection = sqlite3.connect(folder.database_path("half-runner"))
        with connection:
            connection.execute("DROP TABLE echo_b")
        connection.close()
        folder.runner(runner_spec("whole-runner", {"echo-a": 2}))
        report = await run_import(tmp_path)
        got = outcomes(report)
        assert got[(ItemKind.SESSION, "half-runner")] is Outcome.FAILED
        assert got[(ItemKind.SESSION, "whole-runner")] is Outcome.IMPORTED
        assert await Runner.get("default|half-runner") is None
        assert await ChatBucket.find(ChatBucket.session_id == "half-runner").count() == 0

    async def test_bad_json_files_are_reported_and_the_rest_imported(self, db, tmp_path):
        folder = MoonshotFolder(tmp_path)
        folder.endpoint("echo-a")
        folder.runner(runner_spec("good-runner", {"echo-a": 2}))
        (tmp_path / "generated-outputs" / "runners" / "bad-runner.json").write_text("{")
        folder.write("generated-outputs/runners", "list-runner", ["not", "an", "object"])
        (tmp_path / "metrics" / "metrics_config.json").write_text("[1, 2]")
        folder.write("attack-modules", "attack_modules_config", {"charswap_attack": 3})
        report = await run_import(tmp_path)
        got = outcomes(report)
        assert got[(ItemKind.SESSION, "bad-runner")] is Outcome.FAILED
        assert got[(ItemKind.SESSION, "list-runner")] is Outcome.FAILED
        assert got[(ItemKind.FILE, "metrics_config.json")] is Outcome.FAILED
        assert got[(ItemKind.FILE, "attack_modules_config.json")] is Outcome.FAILED
        assert got[(ItemKind.SESSION, "good-runner")] is Outcome.IMPORTED
        reasons = {item.name: item.reason for item in report.items}
        assert "bad-runner.json is not valid JSON" in reasons["bad-runner"]
        assert "holds list, not a JSON object" in reasons["metrics_config.json"]
        assert "charswap_attack holds int" in reasons["attack_modules_config.json"]

    async def test_an_unknown_workspace_is_refused(self, db, small_data_dir):
        with pytest.raises(NotFound, match="Workspace nowhere does not exist"):
            await run_import(small_data_dir, workspace="nowhere")
        assert await Endpoint.get_pymongo_collection().count_documents({}) == 0


class TestReferences:
    async def test_a_session_naming_what_the_workspace_lacks_is_imported_and_says_so(
        self, db, tmp_path
    ):
        folder = MoonshotFolder(tmp_path)
        folder.endpoint("echo-a")
        spec = runner_spec(
            "orphan-runner", {"echo-a": 1, "gone-endpoint": 2},
            prompt_template="gone-template", attack_module="gone_attack", metric="samplemetric",
        )
        folder.runner(spec)
        report = await run_import(tmp_path)
        (item,) = [item for item in report.items if item.kind is ItemKind.SESSION]
        assert (item.outcome, item.records) == (Outcome.IMPORTED, 3)
        assert item.reason == (
            "refers to what the workspace lacks: endpoint gone-endpoint, prompt template "
            "gone-template, attack module gone_attack"
        )
        # Kept as Moonshot had it, as Moonshot's own sessions keep names.
        metadata = await api_load_session("orphan-runner")
        assert metadata is not None and metadata["prompt_template"] == "gone-template"
        assert_same_records(
            await api_get_all_chats_from_session("orphan-runner"), expected_chats(spec)
        )


class TestLayouts:
    async def test_runners_and_databases_at_the_top_of_the_folder(self, db, tmp_path):
        # Moonshot pointed at one folder for everything keeps them there, not in
        # generated-outputs/.
        folder = MoonshotFolder(tmp_path)
        spec = runner_spec("flat-runner", {"echo-a": 12})
        folder.runner(spec)
        (tmp_path / "runners").mkdir()
        (tmp_path / "databases").mkdir()
        outputs = tmp_path / "generated-outputs"
        (outputs / "runners" / "flat-runner.json").rename(tmp_path / "runners" / "flat-runner.json")
        (outputs / "databases" / "flat-runner.db").rename(tmp_path / "databases" / "flat-runner.db")
        outputs.joinpath("runners").rmdir()
        outputs.joinpath("databases").rmdir()
        outputs.rmdir()
        report = await run_import(tmp_path)
        assert outcomes(report)[(ItemKind.SESSION, "flat-runner")] is Outcome.IMPORTED
        assert_same_records(
            await api_get_all_chats_from_session("flat-runner"), expected_chats(spec)
        )


class TestWorkspaces:
    async def test_each_workspace_gets_its_own_copy_and_sees_no_other(self, db, small_data_dir):
        for name in ("team-a", "team-b"):
            await create_workspace(name, actor="cli")
        await run_import(small_data_dir, workspace="team-a")
        # Nothing of team-a's import shows in team-b (nor in the default workspace).
        assert await api_get_all_session_names(workspace="team-b") == []
        assert await api_get_all_endpoint(workspace="team-b") == []
        assert await api_get_all_session_names() == []
        report = await run_import(small_data_dir, workspace="team-b")
        # team-b's import is its own: imported, not skipped because team-a has it.
        assert outcomes(report)[(ItemKind.SESSION, "small-runner")] is Outcome.IMPORTED
        assert_same_records(
            await api_get_all_chats_from_session("small-runner", workspace="team-b"),
            expected_chats(SMALL),
        )
