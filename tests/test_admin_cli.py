"""`sparring admin ...` against a real server, run as the command it is."""

import uuid
from collections.abc import Iterator

import pytest
from pymongo import MongoClient

from service.admin_cli import CLI_ACTOR
from service.api.accounts import RESERVED_NAMES, key_digest
from tests.factories import TEST_KEY_SECRET, TEST_SECRET_KEY
from tests.support.processes import run_sparring


@pytest.fixture
def cli_database(server_uri: str, tmp_path) -> Iterator[tuple[dict[str, str], object]]:
    """Settings for the command, and a client of the database it writes to."""
    name = f"sparring_cli_{uuid.uuid4().hex[:8]}"
    client: MongoClient = MongoClient(server_uri)
    settings = {
        "mongodb_uri": server_uri,
        "database": name,
        "secret_key": TEST_SECRET_KEY,
        "data_dir": str(tmp_path),
        "log_level": "WARNING",
    }
    yield settings, client[name]
    client.drop_database(name)
    client.close()


def test_bootstrap_a_team_and_manage_its_keys(cli_database):
    settings, database = cli_database

    def admin(*args: str):
        return run_sparring("admin", *args, settings=settings)

    created = admin("create-user", "alice", "--display-name", "Alice")
    assert (created.returncode, created.stdout) == (0, "Created user alice.\n"), created.stderr
    assert admin("create-user", "bob").returncode == 0
    root = admin("create-user", "ada", "--admin")
    assert (root.returncode, root.stdout) == (0, "Created server admin ada.\n"), root.stderr
    admins = {user["_id"]: user["admin"] for user in database.users.find()}
    assert admins == {"alice": False, "bob": False, "ada": True}
    team = admin("create-workspace", "team", "--owner", "alice")
    assert (team.returncode, team.stdout) == (0, "Created workspace team owned by alice.\n")
    member = admin("add-member", "team", "bob", "--role", "viewer")
    assert (member.returncode, member.stdout) == (0, "bob is viewer of team.\n")

    key_run = admin("create-key", "alice", "--label", "laptop", "--expires-in-days", "30")
    assert key_run.returncode == 0, key_run.stderr
    key = key_run.stdout.strip()
    assert key.startswith("spk_") and "shown this once" in key_run.stderr
    stored = database.api_keys.find_one({"user": "alice"})
    # The hash is keyed with the deployment's secret, so the service accepts this key.
    assert stored["digest"] == key_digest(key, TEST_KEY_SECRET)
    assert key not in repr(stored) and stored["workspace"] == "team"
    assert stored["label"] == "laptop" and stored["expires_at"] is not None

    revoked = admin("revoke-key", "team", stored["prefix"])
    assert revoked.returncode == 0
    assert revoked.stdout == f"Revoked API key {stored['prefix']} of alice.\n"
    assert database.api_keys.find_one({"_id": stored["_id"]})["revoked"] is True

    audit = [
        (entry["actor"], entry["action"], entry["target"])
        for entry in database.audit_entries.find({"workspace": "team"}).sort("_id", -1)
    ]
    assert audit == [
        ("cli", "api_key.revoked", stored["prefix"]),
        ("cli", "api_key.created", stored["prefix"]),
        ("cli", "member.added", "bob"),
        ("cli", "member.added", "alice"),
    ]


def test_mistakes_exit_non_zero_with_the_reason_and_change_nothing(cli_database):
    settings, database = cli_database

    def admin(*args: str):
        return run_sparring("admin", *args, settings=settings)

    assert admin("create-user", "alice").returncode == 0
    for args, reason in [
        (("create-user", "alice"), "User alice already exists."),
        (("create-user", "Not Valid"), "name must be"),
        (("add-member", "team", "alice", "--role", "viewer"), "Workspace team does not exist."),
        (("create-key", "alice"), "User alice is in no workspace"),
        (("revoke-key", "team", "spk_000000000000"), "API key 000000000000 does not exist."),
        # The shell's own audit name, and the service's workspace, cannot be taken.
        (("create-user", CLI_ACTOR), "name cli is reserved"),
        (("create-workspace", "default"), "name default is reserved"),
    ]:
        result = admin(*args)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert reason in result.stderr and result.stdout == "", (args, result.stderr)
    assert database.users.count_documents({}) == 1
    assert database.workspaces.count_documents({}) == 0
    assert database.api_keys.count_documents({}) == 0
    bad_role = admin("add-member", "team", "alice", "--role", "admin")
    assert bad_role.returncode == 2 and "invalid choice" in bad_role.stderr


def test_the_shells_audit_name_is_reserved():
    # Otherwise a user named "cli" could pass their changes off as made from the shell.
    assert CLI_ACTOR in RESERVED_NAMES
