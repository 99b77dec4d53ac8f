"""Words of a prompt by a regular expression, and putting a prompt back together around them.

No tokeniser data is downloaded: a word is a run of letters (any script), which is what the
perturbations change; everything between words is kept byte for byte.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True)
class Word:
    start: int
    end: int
    text: str


def words(text: str) -> list[Word]:
    return [Word(match.start(), match.end(), match.group()) for match in WORD.finditer(text)]


def replace_words(text: str, replacements: Mapping[Word, str]) -> str:
    """`text` with each given word replaced; words must come from `words(text)`."""
    parts: list[str] = []
    position = 0
    for word in sorted(replacements, key=lambda item: item.start):
        parts.append(text[position:word.start])
        parts.append(replacements[word])
        position = word.end
    parts.append(text[position:])
    return "".join(parts)


def share_of(count: int, ratio: float) -> int:
    """How many of `count` items a ratio picks: at least one when there is any."""
    return min(count, max(1, round(count * ratio))) if count else 0
