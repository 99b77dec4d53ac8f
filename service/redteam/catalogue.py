"""Built-in registry entries every workspace starts with, named as Moonshot's samples are."""

from dataclasses import dataclass, field

from models import RegistryKind


@dataclass(frozen=True)
class CatalogueEntry:
    kind: RegistryKind
    name: str
    description: str
    template: str = ""
    extra: dict = field(default_factory=dict)


BUILT_INS: tuple[CatalogueEntry, ...] = (
    CatalogueEntry(
        RegistryKind.PROMPT_TEMPLATE,
        "answer-template",
        "Asks the model to answer the prompt directly.",
        template="{{ prompt }}\nAnswer:",
    ),
    CatalogueEntry(
        RegistryKind.PROMPT_TEMPLATE,
        "mcq-template",
        "Asks the model to choose one option of a multiple-choice question.",
        template="{{ prompt }}\nChoose the single best option and answer with its letter only.",
    ),
    CatalogueEntry(
        RegistryKind.PROMPT_TEMPLATE,
        "complete-sentence",
        "Asks the model to complete the sentence it is given.",
        template="Complete the following sentence: {{ prompt }}",
    ),
    CatalogueEntry(
        RegistryKind.CONTEXT_STRATEGY,
        "add_previous_prompt",
        "Prepends the endpoint's previous prompts and answers to the new prompt.",
    ),
    CatalogueEntry(
        RegistryKind.ATTACK_MODULE,
        "sample_attack_module",
        "A sample attack module that sends the prompt as it is, for trying the pipeline.",
        extra={"endpoints": [], "configurations": {}},
    ),
    CatalogueEntry(
        RegistryKind.ATTACK_MODULE,
        "charswap_attack",
        "Swaps adjacent characters in the prompt's words to probe robustness to typos.",
        extra={"endpoints": [], "configurations": {"max_iteration": 10}},
    ),
    CatalogueEntry(
        RegistryKind.METRIC,
        "exactstrmatch",
        "Scores 1 when the answer equals the target exactly, else 0.",
    ),
    CatalogueEntry(
        RegistryKind.METRIC,
        "relaxstrmatch",
        "Scores 1 when the answer equals the target ignoring case, spaces and punctuation.",
    ),
)


def built_in(kind: RegistryKind, name: str) -> CatalogueEntry | None:
    return next((entry for entry in BUILT_INS if entry.kind is kind and entry.name == name), None)


def built_ins_of(kind: RegistryKind) -> list[CatalogueEntry]:
    return [entry for entry in BUILT_INS if entry.kind is kind]
