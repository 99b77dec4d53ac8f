"""`service.api.connect()` for library use: the embedded default, data kept across connects."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from pymongo import MongoClient

from service.embedded import EmbeddedServer

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from service import api

    async def main(step):
        await api.connect()
        try:
            if step == "create":
                await api.api_create_session("library-run", None, ["echo"], {})
            print(await api.api_get_all_session_names())
        finally:
            await api.disconnect()

    asyncio.run(main(sys.argv[1]))
    """
)


def run_step(step: str, data_dir: Path) -> str:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("SPARRING_")
    }
    environment["SPARRING_DATA_DIR"] = str(data_dir)
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT, step],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


def test_connect_starts_the_embedded_server_and_keeps_data(tmp_path: Path):
    assert run_step("create", tmp_path) == "['library-run']"
    assert run_step("list", tmp_path) == "['library-run']"
    assert (tmp_path / "db").is_dir()


def test_connect_joins_the_embedded_server_another_process_runs(tmp_path: Path):
    server = EmbeddedServer(tmp_path / "db")
    uri = server.start()
    try:
        assert run_step("create", tmp_path) == "['library-run']"
        # `disconnect` left the server of the process that started it running, with the data.
        with MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
            assert client.sparring.runners.count_documents({}) == 1
        assert run_step("list", tmp_path) == "['library-run']"
    finally:
        server.stop()
