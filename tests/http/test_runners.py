"""Runner routes on both tiers."""

import pytest


class TestRunners:
    async def test_lists_and_gets_runners(self, client, post_session, endpoints):
        await post_session("Beta Team")
        await post_session("Alpha Team")
        listed = (await client.get("/api/v1/runners")).json()
        assert [runner["id"] for runner in listed] == ["alpha-team", "beta-team"]
        assert listed[0] == {
            "id": "alpha-team",
            "name": "Alpha Team",
            "description": "About Alpha Team.",
            "endpoints": endpoints,
        }
        response = await client.get("/api/v1/runners/beta-team")
        assert response.status_code == 200
        assert response.json()["name"] == "Beta Team"

    async def test_pages(self, client, post_session):
        for name in ("run-a", "run-b", "run-c"):
            await post_session(name)
        page = (await client.get("/api/v1/runners", params={"limit": 1, "offset": 1})).json()
        assert [runner["id"] for runner in page] == ["run-b"]

    async def test_an_unknown_runner_is_404(self, client):
        response = await client.get("/api/v1/runners/nobody")
        assert response.status_code == 404
        assert response.json() == {"detail": "Runner nobody does not exist."}

    @pytest.mark.parametrize(
        ("params", "field"), [({"limit": 0}, "limit"), ({"offset": -2}, "offset")]
    )
    async def test_bad_pages_are_422(self, client, params, field):
        response = await client.get("/api/v1/runners", params=params)
        assert response.status_code == 422
        assert response.json()["error"][0]["loc"] == ["query", field]
