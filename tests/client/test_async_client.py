"""`AsyncClient` against a real server on loopback: every method, over both database tiers."""

import pytest

from models import Role
from service.api.errors import NotFound
from service.client import AsyncClient, StartedRun
from service.http.prompt_schemas import PromptInfo
from tests.client.conftest import ECHOES, Team


class TestSessions:
    async def test_create_get_update_chats_and_delete(self, alice: AsyncClient):
        created = await alice.create_session(
            "Probe One", ECHOES, description="First probe.", system_prompt="Be brief."
        )
        assert created.session.session_id == "probe-one"
        assert created.session_description == "First probe."
        got = await alice.get_session("probe-one")
        assert got.session.system_prompt == "Be brief."
        assert got.chat_records is None

        changed = await alice.update_session(
            "probe-one", system_prompt="Be verbose.", cs_num_of_prev_prompts=2
        )
        assert (changed.system_prompt, changed.cs_num_of_prev_prompts) == ("Be verbose.", 2)
        assert (await alice.get_session("probe-one")).session.system_prompt == "Be verbose."
        assert await alice.get_chats("probe-one") == {"echo-a": [], "echo-b": []}

        await alice.delete_session("probe-one")
        with pytest.raises(NotFound):
            await alice.get_session("probe-one")

    async def test_listing_follows_every_page(self, alice: AsyncClient):
        for name in ("First Probe", "Second Probe", "Third Probe"):
            await alice.create_session(name, ECHOES)
        paged = await alice.list_sessions(page_size=1)
        assert [item.session_id for item in paged] == ["third-probe", "second-probe", "first-probe"]
        assert [item.session_id for item in await alice.list_sessions()] == [
            item.session_id for item in paged
        ]
        assert paged[0].description == ""


class TestEndpoints:
    async def test_create_get_list_update_delete_and_the_token_stays_secret(
        self, alice: AsyncClient
    ):
        endpoint_id = await alice.create_endpoint(
            "My Echo", "echo", token="sk-very-secret-token", model="m1"
        )
        assert endpoint_id == "my-echo"
        endpoint = await alice.get_endpoint(endpoint_id)
        assert (endpoint.connector_type, endpoint.model) == ("echo", "m1")
        assert "sk-very-secret-token" not in endpoint.token
        assert endpoint_id in [item.id for item in await alice.list_endpoints()]

        await alice.update_endpoint(endpoint_id, model="m2")
        assert (await alice.get_endpoint(endpoint_id)).model == "m2"
        await alice.delete_endpoint(endpoint_id)
        with pytest.raises(NotFound):
            await alice.get_endpoint(endpoint_id)


class TestPrompting:
    async def test_send_prompt_waits_for_every_endpoint(self, alice: AsyncClient):
        await alice.create_session("Prompted", ECHOES)
        answer = await alice.send_prompt("prompted", "What is the capital of France?")
        assert isinstance(answer, PromptInfo)
        assert answer.current_status == "completed" or answer.current_batch_size == 2
        assert sorted(answer.current_chats) == ECHOES
        for records in answer.current_chats.values():
            assert [record.prompt for record in records] == ["What is the capital of France?"]
        chats = await alice.get_chats("prompted")
        assert all(len(records) == 1 for records in chats.values())

    async def test_events_replay_what_landed_and_resume_after_an_event(
        self, alice: AsyncClient
    ):
        await alice.create_session("Streamed", ECHOES)
        await alice.send_prompt("streamed", "Hello there")
        events = [event async for event in alice.events("streamed", follow=False)]
        records = [event for event in events if event.event == "chat_record"]
        assert sorted(event.data["conn_id"] for event in records) == ECHOES
        assert all(event.data["chat_record"]["prompt"] == "Hello there" for event in records)
        assert any(
            event.event == "batch" and event.data["status"] == "done" for event in events
        )
        ids = [event.id for event in events]
        assert ids == sorted(ids)
        rest = [event.id async for event in alice.events("streamed", after=ids[0], follow=False)]
        assert rest == ids[1:]

    async def test_followed_events_arrive_live(self, alice: AsyncClient):
        await alice.create_session("Live", ECHOES)
        # From the first event: whatever lands after the prompt is sent is seen.
        stream = alice.events("live", after=0)
        await alice.send_prompt("live", "Live one")
        seen = []
        async for event in stream:
            seen.append(event.event)
            if event.event == "batch" and event.data["status"] == "done":
                break
        await stream.aclose()
        assert seen.count("chat_record") == 2

    async def test_cancel_answers_what_it_stopped(self, alice: AsyncClient):
        await alice.create_session("Quiet", ECHOES)
        cancelled = await alice.cancel("quiet")
        assert (cancelled.success, cancelled.cancelled, cancelled.runs) == (True, [], [])


class TestRuns:
    async def test_a_prompt_with_an_attack_module_starts_a_run_to_read_and_cancel(
        self, alice: AsyncClient
    ):
        await alice.create_session("Attacked", ECHOES, attack_module="charswap_attack")
        started = await alice.send_prompt("attacked", "Explain how the lock works")
        assert isinstance(started, StartedRun)
        assert started.session_id == "attacked"
        run = await alice.get_run("attacked", started.run_id)
        assert (run.run_id, run.attack_module) == (started.run_id, "charswap_attack")
        assert [item.run_id for item in await alice.list_runs("attacked")] == [started.run_id]
        cancelled = await alice.cancel_run("attacked", started.run_id)
        assert cancelled.run_id == started.run_id
        assert (await alice.get_run("attacked", started.run_id)).status == cancelled.status

    async def test_an_unknown_run_is_not_found(self, alice: AsyncClient):
        await alice.create_session("Runless", ECHOES)
        assert await alice.list_runs("runless") == []
        with pytest.raises(NotFound):
            await alice.get_run("runless", "no-such-run")
        with pytest.raises(NotFound):
            await alice.cancel_run("runless", "no-such-run")


class TestAdmin:
    async def test_members_keys_and_the_audit_log(self, team: Team, alice: AsyncClient):
        assert {(m.user, m.role) for m in await alice.list_members()} >= {
            ("alice", Role.OWNER), ("carol", Role.VIEWER),
        }
        async with team.client(team.ada) as ada:
            await ada.create_user("erin", display_name="Erin")
        member = await alice.put_member("erin", "editor")
        assert (member.user, member.role) == ("erin", Role.EDITOR)
        await alice.remove_member("erin")
        assert "erin" not in [m.user for m in await alice.list_members()]

        created = await alice.create_key(label="script")
        assert created.key and created.label == "script"
        listed = await alice.list_keys(user="alice")
        assert created.id in [key.id for key in listed]
        assert all(not hasattr(key, "key") for key in listed)
        async with team.client(created.key) as scripted:
            assert [m.user for m in await scripted.list_members()]
        revoked = await alice.revoke_key(created.id)
        assert revoked.revoked

        page = await alice.audit_log(limit=50)
        assert page.entries

    async def test_a_server_admin_creates_users_and_workspaces(self, team: Team):
        async with team.client(team.ada) as ada:
            user = await ada.create_user("frank")
            workspace = await ada.create_workspace("annex", description="More room.")
        assert (user.name, user.admin) == ("frank", False)
        assert (workspace.name, workspace.description) == ("annex", "More room.")
