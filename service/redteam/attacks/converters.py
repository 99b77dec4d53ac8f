"""Encodings applied to each attack prompt after any module, in the order the run names them.

As promptfoo and PyRIT offer: a filter that reads plain text may miss the same request encoded.
"""

import base64
import codecs
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from service.redteam.attacks.configuration import CONVERTERS, name_list

Converter = Callable[[str], str]

# The common look-alike digits; letters without one stay as they are.
LEET = str.maketrans({"a": "4", "A": "4", "e": "3", "E": "3", "i": "1", "I": "1",
                      "o": "0", "O": "0", "s": "5", "S": "5", "t": "7", "T": "7"})


def to_base64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def to_rot13(text: str) -> str:
    # codecs' rot13 turns ASCII letters only, so applying it twice gives the text back.
    return codecs.encode(text, "rot13")


def to_leetspeak(text: str) -> str:
    return text.translate(LEET)


CONVERTER_FUNCTIONS: Mapping[str, Converter] = MappingProxyType({
    "base64": to_base64,
    "rot13": to_rot13,
    "leetspeak": to_leetspeak,
})


def converter_names(configurations: Mapping[str, Any]) -> list[str]:
    return name_list(configurations, CONVERTERS, tuple(CONVERTER_FUNCTIONS))


def convert(prompt: str, names: Sequence[str]) -> str:
    for name in names:
        prompt = CONVERTER_FUNCTIONS[name](prompt)
    return prompt


def apply_converters(prompts: list[str], configurations: Mapping[str, Any]) -> list[str]:
    """Each prompt through the configured converters, first named first."""
    names = converter_names(configurations)
    return [convert(prompt, names) for prompt in prompts]
