"""Many users at once over real HTTP, and two users editing one session, with API keys required."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from models import Role
from service.http import create_app
from tests.factories import create_endpoint, create_key
from tests.support.live_server import live_server

CLIENTS = 50
METRICS = ["exactstrmatch", "relaxstrmatch"]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def url(required_settings, db) -> AsyncIterator[str]:
    async with live_server(create_app(required_settings, database=db)) as base_url:
        yield base_url


async def test_fifty_users_each_in_their_own_workspace_at_once(url):
    keys = []
    for number in range(CLIENTS):
        workspace = f"ws-{number}"
        await create_endpoint("echo-a", workspace=workspace)
        keys.append(await create_key(f"user-{number}", Role.EDITOR, workspace=workspace))

    async def work(client: httpx.AsyncClient, number: int) -> dict:
        headers = bearer(keys[number])
        # Every client uses the same session name: each workspace has its own.
        created = await client.post(
            "/api/v1/sessions",
            json={"name": "Shared Name", "endpoints": ["echo-a"], "description": f"of {number}"},
            headers=headers,
        )
        assert created.status_code == 200, created.text
        for response in await asyncio.gather(
            client.put(
                "/api/v1/sessions/shared-name/system-prompt",
                json={"system_prompt": f"client {number}"},
                headers=headers,
            ),
            client.put(
                f"/api/v1/sessions/shared-name/metric/{METRICS[number % 2]}", headers=headers
            ),
        ):
            assert response.status_code == 200, response.text
        seen = await client.get("/api/v1/sessions/shared-name", headers=headers)
        patched = await client.patch(
            "/api/v1/sessions/shared-name",
            json={"cs_num_of_prev_prompts": number % 7, "prompt_template": "answer-template"},
            headers={**headers, "If-Match": seen.headers["etag"]},
        )
        assert patched.status_code == 200, patched.text
        final = await client.get("/api/v1/sessions/shared-name", headers=headers)
        listing = await client.get("/api/v1/sessions", headers=headers)
        return {"final": final.json(), "listing": listing.json()}

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        results = await asyncio.gather(*(work(client, number) for number in range(CLIENTS)))

    for number, result in enumerate(results):
        session = result["final"]["session"]
        assert result["final"]["session_description"] == f"of {number}"
        assert session["system_prompt"] == f"client {number}"
        assert session["metric"] == METRICS[number % 2]
        assert session["cs_num_of_prev_prompts"] == number % 7
        assert session["prompt_template"] == "answer-template"
        assert [(item["session_id"], item["description"]) for item in result["listing"]] == [
            ("shared-name", f"of {number}")
        ]


@pytest.fixture
async def two_editors(url) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    await create_endpoint("echo-a", workspace="team")
    alice = await create_key("alice", Role.EDITOR, workspace="team")
    bob = await create_key("bob", Role.EDITOR, workspace="team")
    async with (
        httpx.AsyncClient(base_url=url, headers=bearer(alice), timeout=30) as as_alice,
        httpx.AsyncClient(base_url=url, headers=bearer(bob), timeout=30) as as_bob,
    ):
        created = await as_alice.post(
            "/api/v1/sessions", json={"name": "Joint Run", "endpoints": ["echo-a"]}
        )
        assert created.status_code == 200, created.text
        yield as_alice, as_bob


class TestTwoEditorsOnOneSession:
    async def test_a_stale_if_match_is_412_and_changes_nothing(self, two_editors):
        alice, bob = two_editors
        alice_saw = await alice.get("/api/v1/sessions/joint-run")
        bob_saw = await bob.get("/api/v1/sessions/joint-run")
        assert alice_saw.headers["etag"] == bob_saw.headers["etag"]

        first = await alice.patch(
            "/api/v1/sessions/joint-run",
            json={"system_prompt": "Alice's.", "metric": "exactstrmatch"},
            headers={"If-Match": alice_saw.headers["etag"]},
        )
        assert first.status_code == 200, first.text
        assert first.headers["etag"] != alice_saw.headers["etag"]
        after_alice = (await bob.get("/api/v1/sessions/joint-run")).json()

        stale = await bob.patch(
            "/api/v1/sessions/joint-run",
            json={"system_prompt": "Bob's.", "cs_num_of_prev_prompts": 1},
            headers={"If-Match": bob_saw.headers["etag"]},
        )
        assert stale.status_code == 412
        assert "changed since" in stale.json()["detail"]
        assert (await bob.get("/api/v1/sessions/joint-run")).json() == after_alice
        assert after_alice["session"]["system_prompt"] == "Alice's."

        # With the current ETag, Bob's change goes through.
        current = (await bob.get("/api/v1/sessions/joint-run")).headers["etag"]
        retried = await bob.patch(
            "/api/v1/sessions/joint-run",
            json={"system_prompt": "Bob's."},
            headers={"If-Match": current},
        )
        assert retried.status_code == 200
        assert retried.json()["metric"] == "exactstrmatch"

    async def test_patch_without_if_match_is_428_and_changes_nothing(self, two_editors):
        alice, _ = two_editors
        before = await alice.get("/api/v1/sessions/joint-run")
        for headers in ({}, {"If-Match": ""}):
            response = await alice.patch(
                "/api/v1/sessions/joint-run", json={"system_prompt": "x"}, headers=headers
            )
            assert response.status_code == 428
            assert response.json()["detail"].startswith("If-Match is required")
        after = await alice.get("/api/v1/sessions/joint-run")
        assert after.json() == before.json() and after.headers["etag"] == before.headers["etag"]

    async def test_bad_patches_are_4xx_naming_the_field_and_change_nothing(self, two_editors):
        alice, _ = two_editors
        seen = await alice.get("/api/v1/sessions/joint-run")
        etag = {"If-Match": seen.headers["etag"]}
        for body, field in [
            ({"cs_num_of_prev_prompts": -1}, "cs_num_of_prev_prompts"),
            ({"metric": "no-such-metric"}, "metric"),
            ({"colour": "blue"}, "colour"),
            ({}, "body"),
        ]:
            response = await alice.patch("/api/v1/sessions/joint-run", json=body, headers=etag)
            assert response.status_code == 422, response.text
            if field == "metric":
                # An unknown name answers Moonshot's message, not the validation list.
                assert response.json() == {
                    "detail": "[Session] Metric no-such-metric does not exist."
                }
            else:
                assert field in str(response.json()["error"][0]["loc"]), response.text
        missing = await alice.patch(
            "/api/v1/sessions/no-such-run", json={"system_prompt": "x"}, headers=etag
        )
        assert missing.status_code == 404
        after = await alice.get("/api/v1/sessions/joint-run")
        assert after.json() == seen.json() and after.headers["etag"] == seen.headers["etag"]

    async def test_concurrent_puts_of_different_fields_both_stick(self, two_editors):
        alice, bob = two_editors
        for round_number in range(10):
            prompt = f"round {round_number}"
            metric = METRICS[round_number % 2]
            by_alice, by_bob = await asyncio.gather(
                alice.put(
                    "/api/v1/sessions/joint-run/system-prompt", json={"system_prompt": prompt}
                ),
                bob.put(f"/api/v1/sessions/joint-run/metric/{metric}"),
            )
            assert by_alice.status_code == by_bob.status_code == 200
            session = (await alice.get("/api/v1/sessions/joint-run")).json()["session"]
            assert (session["system_prompt"], session["metric"]) == (prompt, metric)

    async def test_if_match_lists_and_wildcards(self, two_editors):
        alice, _ = two_editors

        async def patch(if_match: str, prompt: str) -> httpx.Response:
            return await alice.patch(
                "/api/v1/sessions/joint-run", json={"system_prompt": prompt},
                headers={"If-Match": if_match},
            )

        etag = (await alice.get("/api/v1/sessions/joint-run")).headers["etag"]
        # A weak tag never matches (If-Match compares strongly), nor does an unquoted one.
        assert (await patch(f"W/{etag}", "weak")).status_code == 412
        assert (await patch(etag.strip('"'), "bare")).status_code == 412
        listed = await patch(f'"0-0", {etag}', "listed")
        assert listed.status_code == 200
        assert (await patch(f'"0-0", {etag}', "again")).status_code == 412
        assert (await patch("*", "any")).status_code == 200
        assert (await alice.get("/api/v1/sessions/joint-run")).json()["session"][
            "system_prompt"
        ] == "any"
