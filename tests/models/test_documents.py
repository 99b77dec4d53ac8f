"""Every document is scoped to a workspace and declares the indexes its queries use."""

import pytest

from models import DOCUMENTS, StorageLayout, User, Workspace
from models.chats import ChatRecord
from models.retired import RETIRED_INDEXES
from service.database import drop_retired_indexes

DOCUMENT_IDS = [document.__name__ for document in DOCUMENTS]
# Users span workspaces and a workspace is its own scope; memberships tie the two together.
# The storage layout is the database's own, the same for every workspace.
ACROSS_WORKSPACES = {User, Workspace, StorageLayout}


@pytest.mark.parametrize("document", DOCUMENTS, ids=DOCUMENT_IDS)
def test_every_document_has_a_workspace_and_a_named_collection(document):
    assert document in ACROSS_WORKSPACES or "workspace" in document.model_fields
    assert document.Settings.name


@pytest.mark.parametrize("document", DOCUMENTS, ids=DOCUMENT_IDS)
async def test_declared_indexes_exist_on_the_server(db, document):
    declared = {index.document["name"] for index in getattr(document.Settings, "indexes", [])}
    created = set(await document.get_pymongo_collection().index_information())
    assert declared <= created


def test_chat_record_has_every_contract_field():
    assert set(ChatRecord.model_fields) >= {
        "chat_record_id", "conn_id", "context_strategy", "prompt_template", "attack_module",
        "metric", "prompt", "prepared_prompt", "system_prompt", "predicted_result", "duration",
        "prompt_time",
    }


async def test_retired_indexes_are_dropped_and_declared_ones_kept(db):
    """A database made by an earlier version loses the indexes no query uses any more (each
    would still cost every write), and nothing else."""
    for collection_name, names in RETIRED_INDEXES.items():
        for name in names:
            await db.database[collection_name].create_index([(f"{name}_field", 1)], name=name)
    await drop_retired_indexes(db.database)
    for document in DOCUMENTS:
        collection = document.get_pymongo_collection()
        present = set(await collection.index_information())
        declared = {index.document["name"] for index in getattr(document.Settings, "indexes", [])}
        assert declared <= present
        assert not present & set(RETIRED_INDEXES.get(collection.name, ()))
