"""The work both systems are given: runner names, endpoints and chat records, the same on both.

Standard library only: Moonshot's child process imports it from its own virtualenv.
"""

ENDPOINT = "echo-a"
SESSION_ENDPOINTS = [ENDPOINT]
SYSTEM_PROMPTS = ("Answer tersely.", "Answer in full sentences.")
# Sized so that one record is about 2.4 KB of JSON: 10,000 of them are Moonshot's 24 MB.
PROMPT_CHARS = 550
PREPARED_EXTRA = "\nAnswer:"
ANSWER_CHARS = 1000
_WORDS = (
    "red team probes the model with a question about safety policy and reads how it answers "
    "each endpoint sees the same prompt and the answers are compared side by side "
)


def runner_name(index: int) -> str:
    return f"Bench Runner {index:05d}"


def runner_id(index: int) -> str:
    """The slug Moonshot and Sparring both derive from `runner_name(index)`."""
    return f"bench-runner-{index:05d}"


def _text(prefix: str, length: int) -> str:
    repeated = (prefix + _WORDS * (length // len(_WORDS) + 2))[:length]
    return repeated


def chat_record(number: int, endpoint: str = ENDPOINT) -> dict:
    """Record `number` (from 1) of an endpoint, in Moonshot's chat record fields, minus its id."""
    prompt = _text(f"Prompt {number}: ", PROMPT_CHARS)
    return {
        "conn_id": endpoint,
        "context_strategy": "",
        "prompt_template": "answer-template",
        "attack_module": "",
        "metric": "",
        "prompt": prompt,
        "prepared_prompt": prompt + PREPARED_EXTRA,
        "system_prompt": SYSTEM_PROMPTS[0],
        "predicted_result": _text(f"Answer {number}: ", ANSWER_CHARS),
        "duration": 0.25,
        "prompt_time": f"2026-11-25 09:{number // 60 % 60:02d}:{number % 60:02d}.000000",
    }
