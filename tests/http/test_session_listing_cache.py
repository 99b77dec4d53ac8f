"""`GET /api/v1/sessions` over real HTTP: keyset pages (`after`, `X-Next-After`) and an ETag
that answers 304 to `If-None-Match` until anything listed changes, per workspace."""

from collections.abc import AsyncIterator

import httpx
import pytest

from models import Role
from service.http import create_app
from tests.factories import create_endpoint, create_key, create_runner
from tests.support.live_server import live_server

OURS = "alpha"
THEIRS = "beta"


async def listing(client: httpx.AsyncClient, tag: str | None = None, **params) -> httpx.Response:
    headers = {} if tag is None else {"If-None-Match": tag}
    return await client.get("/api/v1/sessions", params=params, headers=headers)


class TestConditionalListing:
    async def test_a_current_etag_answers_304_without_a_body(self, live_client):
        await create_runner("First Run")
        listed = await listing(live_client)
        tag = listed.headers["etag"]
        assert listed.status_code == 200 and tag.startswith('"')
        for sent in (tag, f"W/{tag}", f'"other", {tag}', "*"):
            unchanged = await listing(live_client, sent)
            assert unchanged.status_code == 304, sent
            assert unchanged.content == b""
            assert unchanged.headers["etag"] == tag
        other = await listing(live_client, '"something-else"')
        assert other.status_code == 200 and other.json() == listed.json()

    async def test_every_change_to_a_session_changes_the_etag(
        self, live_client, post_session, endpoints
    ):
        await post_session("First Run")
        tags = [(await listing(live_client)).headers["etag"]]

        async def changed_by(response: httpx.Response) -> None:
            assert response.status_code == 200, response.text
            stale = await listing(live_client, tags[-1])
            assert stale.status_code == 200, "a stale ETag was answered 304"
            assert stale.headers["etag"] not in tags
            tags.append(stale.headers["etag"])

        await changed_by(await live_client.post(
            "/api/v1/sessions", json={"name": "Second Run", "endpoints": endpoints[:1]}
        ))
        await changed_by(await live_client.put(
            "/api/v1/sessions/first-run/system-prompt", json={"system_prompt": "be brief"}
        ))
        await changed_by(await live_client.put("/api/v1/sessions/first-run/cs-num-of-prev-prompts",
                                               json={"cs_num_of_prev_prompts": 2}))
        await changed_by(await live_client.patch(
            "/api/v1/sessions/first-run", json={"system_prompt": "be terse"},
            headers={"If-Match": "*"},
        ))
        await changed_by(await live_client.delete("/api/v1/sessions/second-run"))
        listed = (await listing(live_client)).json()
        assert [item["session_id"] for item in listed] == ["first-run"]
        assert listed[0]["system_prompt"] == "be terse"

    async def test_the_etag_is_per_page(self, live_client):
        for number in range(3):
            await create_runner(f"Run {number}")
        first = await listing(live_client, limit=2)
        assert (await listing(live_client, first.headers["etag"])).status_code == 200
        assert (await listing(live_client, first.headers["etag"], limit=2)).status_code == 304


class TestKeysetPages:
    async def test_following_x_next_after_lists_everything_once(self, live_client):
        for number in range(7):
            await create_runner(f"Run {number}")
        everything = [item["session_id"] for item in (await listing(live_client)).json()]
        paged, after = [], None
        while True:
            params = {"limit": 3} if after is None else {"limit": 3, "after": after}
            page = await listing(live_client, **params)
            assert page.status_code == 200
            paged += [item["session_id"] for item in page.json()]
            after = page.headers.get("x-next-after")
            if after is None:
                break
        assert paged == everything and len(everything) == 7
        names = await live_client.get("/api/v1/sessions/name", params={"limit": 4})
        rest = await live_client.get(
            "/api/v1/sessions/name", params={"after": names.headers["x-next-after"]}
        )
        assert names.json() + rest.json() == everything
        assert "x-next-after" not in rest.headers

    @pytest.mark.parametrize("after", ["bad", "eyJhIjoxfQ", "x" * 1_025, ""])
    async def test_a_cursor_no_listing_gave_is_422(self, live_client, after):
        for route in ("/api/v1/sessions", "/api/v1/sessions/name", "/api/v1/sessions/available"):
            response = await live_client.get(route, params={"after": after})
            assert response.status_code == 422, (route, after)
            assert "after" in response.text


@pytest.fixture
async def keyed_client(required_settings, db) -> AsyncIterator[httpx.AsyncClient]:
    """Real HTTP to an app that requires a key, so each key acts in its own workspace."""
    app = create_app(required_settings, database=db)
    async with live_server(app) as url, httpx.AsyncClient(base_url=url) as client:
        yield client


class TestAnotherWorkspace:
    async def test_their_changes_leave_our_etag_current_and_ours_is_no_use_to_them(
        self, keyed_client
    ):
        ours = {"Authorization": f"Bearer {await create_key('olga', Role.VIEWER, workspace=OURS)}"}
        theirs = {
            "Authorization": f"Bearer {await create_key('mallory', Role.OWNER, workspace=THEIRS)}"
        }
        for workspace in (OURS, THEIRS):
            await create_endpoint("echo-a", workspace=workspace)
        await create_runner("Our Run", workspace=OURS)
        listed = await keyed_client.get("/api/v1/sessions", headers=ours)
        tag = listed.headers["etag"]
        # Their creates, updates and deletes do not touch our listing: still 304.
        created = await keyed_client.post(
            "/api/v1/sessions", json={"name": "Their Run", "endpoints": ["echo-a"]},
            headers=theirs,
        )
        assert created.status_code == 200, created.text
        await keyed_client.put("/api/v1/sessions/their-run/system-prompt",
                               json={"system_prompt": "x"}, headers=theirs)
        assert (await keyed_client.delete(
            "/api/v1/sessions/their-run", headers=theirs
        )).status_code == 200
        again = await keyed_client.get(
            "/api/v1/sessions", headers={**ours, "If-None-Match": tag}
        )
        assert again.status_code == 304
        # Our ETag sent from their workspace answers their (empty) listing, not a 304 that
        # would tell them whether ours changed.
        probe = await keyed_client.get(
            "/api/v1/sessions", headers={**theirs, "If-None-Match": tag}
        )
        assert probe.status_code == 200 and probe.json() == []
        assert probe.headers["etag"] != tag
        # And our cursor lists only their sessions for them.
        first = await keyed_client.get("/api/v1/sessions", params={"limit": 1}, headers=ours)
        assert "x-next-after" not in first.headers
        await create_runner("Their Other Run", workspace=THEIRS)
        their_listing = await keyed_client.get("/api/v1/sessions/name", headers=theirs)
        assert their_listing.json() == ["their-other-run"]
