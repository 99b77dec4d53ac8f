"""Deterministic document ids, so that every write is addressed by `_id`."""

SEPARATOR = "|"


def runner_key(workspace: str, runner_id: str) -> str:
    return SEPARATOR.join((workspace, runner_id))


def counter_key(workspace: str, runner_id: str, endpoint: str) -> str:
    return SEPARATOR.join((workspace, runner_id, endpoint))


def bucket_key(workspace: str, runner_id: str, endpoint: str, bucket_no: int) -> str:
    return SEPARATOR.join((workspace, runner_id, endpoint, str(bucket_no)))


def registry_key(workspace: str, kind: str, name: str) -> str:
    return SEPARATOR.join((workspace, kind, name))
