"""Bodies of the bookmark routes: Moonshot's `BookmarkCreateDTO` and `BookmarkArguments`."""

from pydantic import BaseModel, Field

from service.api.bookmarks import (
    MAX_NAME_CHARS,
    MAX_PROMPT_CHARS,
    MAX_RESPONSE_CHARS,
    MAX_SETTING_CHARS,
)


class BookmarkCreate(BaseModel):
    """Moonshot's `BookmarkCreateDTO`; a `bookmark_time` sent is ignored (the server sets it)."""

    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    prepared_prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    response: str = Field(min_length=1, max_length=MAX_RESPONSE_CHARS)
    # The web UI leaves out the ones a session has not set.
    context_strategy: str = Field(default="", max_length=MAX_SETTING_CHARS)
    prompt_template: str = Field(default="", max_length=MAX_SETTING_CHARS)
    attack_module: str = Field(default="", max_length=MAX_SETTING_CHARS)
    metric: str = Field(default="", max_length=MAX_SETTING_CHARS)
    bookmark_time: str | None = Field(default=None, max_length=64)


class BookmarkOut(BaseModel):
    """Moonshot's `BookmarkArguments`, as its list and read routes answer it."""

    name: str
    prompt: str
    prepared_prompt: str
    response: str
    context_strategy: str
    prompt_template: str
    attack_module: str
    metric: str
    bookmark_time: str


class BookmarkResult(BaseModel):
    """Moonshot's answer to an insert or a delete."""

    success: bool
    message: str


class BookmarkExport(BaseModel):
    """The content of Moonshot's export file."""

    bookmarks: list[BookmarkOut]
