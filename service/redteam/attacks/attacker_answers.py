"""Reading a list of attack prompts out of an attacker model's free-form answer.

Models answer lists in many shapes: a JSON array (often inside a code fence), a JSON object
holding one, numbered or bulleted lines after a sentence of preamble, or one item a line.
"""

import json
import re
from typing import Any

from service.redteam.attacks.errors import AttackerAnswerUnusable

FENCE = re.compile(r"```[A-Za-z]*\s*\n?(.*?)```", re.DOTALL)
# "1. x", "2) x", "(3) x", "- x", "* x", "• x"
LIST_ITEM = re.compile(r"^\s*(?:\(?\d+[.):]|[-*\u2022])\s+(.+?)\s*$")
ITEM_KEYS = ("prompt", "question", "message", "sentence", "text")
QUOTES = "\"'\u201c\u201d\u2018\u2019`"


def _clean(item: str) -> str:
    item = item.strip()
    # Strip one pair of wrapping quotes, and a pair of bold markers a model may add.
    if len(item) >= 2 and item[0] in QUOTES and item[-1] in QUOTES:
        item = item[1:-1].strip()
    if item.startswith("**") and item.endswith("**") and len(item) > 4:
        item = item[2:-2].strip()
    return item


def _item_text(item: Any) -> str:
    """A list item: a string, or an object's prompt ({"prompt": ...}, else its first string)."""
    if isinstance(item, dict):
        named = [item[key] for key in ITEM_KEYS if isinstance(item.get(key), str)]
        texts = named or [value for value in item.values() if isinstance(value, str)]
        item = texts[0] if texts else ""
    return item if isinstance(item, str) else ""


def _strings(value: Any) -> list[str] | None:
    """The texts of a JSON list, or of the first list in a JSON object; None for other JSON.
    A JSON list is taken as the answer's list even when nothing in it is text."""
    if isinstance(value, dict):
        lists = [item for item in value.values() if isinstance(item, list)]
        value = lists[0] if lists else None
    if isinstance(value, list):
        return [_item_text(item) for item in value]
    return None


def _from_json(text: str) -> list[str] | None:
    for opening, closing in (("[", "]"), ("{", "}")):
        start, end = text.find(opening), text.rfind(closing)
        if start == -1 or end <= start:
            continue
        try:
            found = _strings(json.loads(text[start:end + 1]))
        except json.JSONDecodeError:
            continue
        if found is not None:
            return found
    return None


def _from_lines(text: str) -> list[str]:
    lines = [line for line in text.splitlines() if line.strip()]
    items = [match.group(1) for line in lines if (match := LIST_ITEM.match(line))]
    if items:
        # Numbered or bulleted items: the sentences around them are the model's chatter.
        return items
    # One a line; a lead-in ending in a colon ("Here are ten questions:") is not one.
    return [line for line in lines if not line.rstrip().endswith(":")]


def parse_attack_prompts(answer: str, *, limit: int) -> list[str]:
    """Up to `limit` attack prompts in the answer's order, or `AttackerAnswerUnusable`."""
    fenced = FENCE.search(answer)
    text = fenced.group(1) if fenced else answer
    found = _from_json(text)
    items = found if found is not None else _from_lines(text)
    prompts = [cleaned for item in items if (cleaned := _clean(item))]
    if not prompts:
        raise AttackerAnswerUnusable("the attacker's answer holds no attack prompt")
    return prompts[:limit]
