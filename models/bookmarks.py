"""Bookmarked prompts of a workspace: Moonshot's bookmarks, one document per name."""

from beanie import Document
from pydantic import Field
from pymongo import ASCENDING, IndexModel

from models.keys import SEPARATOR


def bookmark_key(workspace: str, name: str) -> str:
    return SEPARATOR.join((workspace, name))


class Bookmark(Document):
    """One bookmark; `_id` is `workspace|name`, so a name is taken once per workspace.

    `bookmark_time` is Moonshot's text (`YYYY-MM-DD HH:MM:SS`, local time); `created_at` orders
    the list as Moonshot's insertion order does.
    """

    id: str = Field(alias="_id")
    workspace: str
    name: str
    prompt: str
    prepared_prompt: str
    response: str
    context_strategy: str = ""
    prompt_template: str = ""
    attack_module: str = ""
    metric: str = ""
    bookmark_time: str
    created_at: float

    class Settings:
        name = "bookmarks"
        indexes = [
            IndexModel(
                [("workspace", ASCENDING), ("name", ASCENDING)],
                name="workspace_name",
                unique=True,
            ),
            IndexModel(
                [("workspace", ASCENDING), ("created_at", ASCENDING), ("name", ASCENDING)],
                name="workspace_oldest_first",
            ),
        ]
