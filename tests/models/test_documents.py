"""Every document is scoped to a workspace and declares the indexes its queries use."""

import pytest

from models import DOCUMENTS, StorageLayout, User, Workspace
from models.chats import ChatRecord

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
