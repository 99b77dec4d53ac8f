"""`sparring worker`: registered on the command, and refusing to run without Redis."""

import pytest

from service.cli import build_parser, main
from service.workers.cli import NEEDS_REDIS, run_worker


def test_worker_is_a_subcommand():
    args = build_parser().parse_args(["worker"])
    assert args.handler is run_worker


def test_without_redis_it_says_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.delenv("SPARRING_REDIS_URL", raising=False)
    monkeypatch.setenv("SPARRING_DATA_DIR", str(tmp_path))
    with pytest.raises(SystemExit) as raised:
        main(["worker"])
    assert str(raised.value) == NEEDS_REDIS
    assert "SPARRING_REDIS_URL" in NEEDS_REDIS
