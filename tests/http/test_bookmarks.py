"""Bookmark routes over real HTTP: Moonshot's shapes, per workspace, roles enforced."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from models import Role
from service.api.bookmarks import MAX_NAME_CHARS, MAX_PROMPT_CHARS, MAX_RESPONSE_CHARS
from service.http import create_app
from tests.factories import create_key
from tests.support.live_server import live_server

BOOKMARKS = "/api/v1/bookmarks"
BOOKMARK_FIELDS = {
    "name", "prompt", "prepared_prompt", "response", "context_strategy", "prompt_template",
    "attack_module", "metric", "bookmark_time",
}


def bookmark_body(bookmark_name: str, **fields: str) -> dict[str, str]:
    """What the web UI posts: the unset settings left out."""
    return {
        "name": bookmark_name, "prompt": "What is 2+2?", "prepared_prompt": "Q: What is 2+2?",
        "response": "4", "prompt_template": "", **fields,
    }


@dataclass(frozen=True)
class Keys:
    url: str
    editor: str
    viewer: str
    outsider: str

    def client(self, key: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url, headers={"authorization": f"Bearer {key}"}, timeout=30
        )


@pytest.fixture
async def keys(required_settings, db) -> AsyncIterator[Keys]:
    """A `required`-mode server: an editor and a viewer of `wa`, the owner of `wb`."""
    made = Keys(
        url="",
        editor=await create_key("bob", Role.EDITOR, workspace="wa"),
        viewer=await create_key("carol", Role.VIEWER, workspace="wa"),
        outsider=await create_key("dave", Role.OWNER, workspace="wb"),
    )
    async with live_server(create_app(required_settings, database=db)) as url:
        yield Keys(url=url, editor=made.editor, viewer=made.viewer, outsider=made.outsider)


class TestBookmarkRoutes:
    async def test_insert_list_read_and_delete(self, live_client):
        created = await live_client.post(BOOKMARKS, json=bookmark_body("sum"))
        assert created.status_code == 200, created.text
        assert created.json() == {
            "success": True, "message": "[Bookmark] Bookmark added successfully.",
        }
        listed = await live_client.get(BOOKMARKS)
        assert listed.status_code == 200
        (item,) = listed.json()
        assert set(item) == BOOKMARK_FIELDS
        assert item["attack_module"] == "" and item["prepared_prompt"] == "Q: What is 2+2?"
        one = await live_client.get(f"{BOOKMARKS}/sum")
        assert one.status_code == 200 and one.json() == item
        assert (await live_client.get(BOOKMARKS, params={"name": "sum"})).json() == [item]
        deleted = await live_client.delete(f"{BOOKMARKS}/sum")
        assert deleted.status_code == 200
        assert deleted.json() == {"success": True, "message": "[Bookmark] Bookmark record deleted."}
        assert (await live_client.get(f"{BOOKMARKS}/sum")).status_code == 404

    async def test_a_taken_name_is_409_with_detail(self, live_client):
        assert (await live_client.post(BOOKMARKS, json=bookmark_body("dup"))).status_code == 200
        again = await live_client.post(BOOKMARKS, json=bookmark_body("dup", response="5"))
        assert again.status_code == 409
        assert set(again.json()) == {"detail"} and "bookmark.name" in again.json()["detail"]

    async def test_unknown_names_are_404_with_detail(self, live_client):
        read = await live_client.get(f"{BOOKMARKS}/missing")
        assert read.status_code == 404
        assert read.json() == {"detail": "[Bookmark] No record found for bookmark name: missing"}
        deleted = await live_client.delete(f"{BOOKMARKS}/missing")
        assert deleted.status_code == 404 and "detail" in deleted.json()

    async def test_moonshots_query_forms_of_delete(self, live_client):
        for name in ("x", "y", "z"):
            await live_client.post(BOOKMARKS, json=bookmark_body(name))
        one = await live_client.delete(BOOKMARKS, params={"name": "x"})
        assert one.status_code == 200
        assert [item["name"] for item in (await live_client.get(BOOKMARKS)).json()] == ["y", "z"]
        neither = await live_client.delete(BOOKMARKS)
        assert neither.status_code == 422
        assert neither.json()["error"][0]["loc"] == ["query", "name"]
        everything = await live_client.delete(BOOKMARKS, params={"all": "true"})
        assert everything.json() == {
            "success": True, "message": "[Bookmark] All bookmark records deleted.",
        }
        assert (await live_client.get(BOOKMARKS)).json() == []

    async def test_export_is_moonshots_file_as_a_download(self, live_client):
        await live_client.post(BOOKMARKS, json=bookmark_body("kept"))
        exported = await live_client.get(
            f"{BOOKMARKS}/export", params={"export_file_name": "my-marks"}
        )
        assert exported.status_code == 200
        assert exported.headers["content-disposition"] == 'attachment; filename="my-marks"'
        assert [item["name"] for item in exported.json()["bookmarks"]] == ["kept"]
        bad = await live_client.get(
            f"{BOOKMARKS}/export", params={"export_file_name": 'x"; evil=1'}
        )
        assert bad.status_code == 422
        assert bad.json()["error"][0]["loc"] == ["query", "export_file_name"]

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("name", ""),
            ("name", "n" * (MAX_NAME_CHARS + 1)),
            ("prompt", "p" * (MAX_PROMPT_CHARS + 1)),
            ("response", ""),
            ("response", "r" * (MAX_RESPONSE_CHARS + 1)),
        ],
    )
    async def test_bad_fields_answer_422_naming_the_field(self, settings, db, field, value):
        big = settings.model_copy(update={"max_body_bytes": 4 * 1024 * 1024})
        app = create_app(big, database=db)
        async with live_server(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
            response = await client.post(BOOKMARKS, json=bookmark_body("bad", **{field: value}))
            assert response.status_code == 422, response.text
            assert response.json()["error"][0]["loc"] == ["body", field]
            assert (await client.get(BOOKMARKS)).json() == []

    async def test_a_missing_field_is_422(self, live_client):
        body = bookmark_body("partial")
        del body["prepared_prompt"]
        response = await live_client.post(BOOKMARKS, json=body)
        assert response.status_code == 422
        assert response.json()["error"][0]["loc"] == ["body", "prepared_prompt"]


class TestBookmarkAccess:
    async def test_another_workspace_cannot_see_read_or_delete(self, keys):
        async with keys.client(keys.editor) as owner, keys.client(keys.outsider) as attacker:
            assert (await owner.post(BOOKMARKS, json=bookmark_body("secret"))).status_code == 200
            assert (await attacker.get(BOOKMARKS)).json() == []
            assert (await attacker.get(f"{BOOKMARKS}/secret")).status_code == 404
            assert (await attacker.get(BOOKMARKS, params={"name": "secret"})).status_code == 404
            assert (await attacker.delete(f"{BOOKMARKS}/secret")).status_code == 404
            assert (await attacker.delete(BOOKMARKS, params={"all": "true"})).status_code == 200
            exported = await attacker.get(f"{BOOKMARKS}/export")
            assert exported.json() == {"bookmarks": []}
            # Still there for its own workspace.
            assert (await owner.get(f"{BOOKMARKS}/secret")).json()["response"] == "4"

    async def test_a_viewer_reads_but_cannot_write(self, keys):
        async with keys.client(keys.editor) as editor, keys.client(keys.viewer) as viewer:
            assert (await editor.post(BOOKMARKS, json=bookmark_body("shared"))).status_code == 200
            assert [item["name"] for item in (await viewer.get(BOOKMARKS)).json()] == ["shared"]
            assert (await viewer.post(BOOKMARKS, json=bookmark_body("mine"))).status_code == 403
            assert (await viewer.delete(f"{BOOKMARKS}/shared")).status_code == 403
            assert (await viewer.delete(BOOKMARKS, params={"all": "true"})).status_code == 403
            assert [item["name"] for item in (await editor.get(BOOKMARKS)).json()] == ["shared"]

    async def test_no_key_is_401(self, keys):
        async with httpx.AsyncClient(base_url=keys.url, timeout=30) as anonymous:
            assert (await anonymous.get(BOOKMARKS)).status_code == 401
