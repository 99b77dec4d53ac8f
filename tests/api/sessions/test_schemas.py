"""The session's fields are defined once: the document, the api's answers and HTTP extend them."""

from models.sessions import Session, SessionFields, SessionSettings
from service.api.sessions.schemas import RunnerInfo, SessionChanges, SessionMetadata
from service.http.schemas import RunnerOut, SessionInfo, SessionMetadataOut

# Moonshot's session metadata, in its order.
MOONSHOT_METADATA = [
    "session_id", "endpoints", "created_epoch", "created_datetime", "prompt_template",
    "context_strategy", "cs_num_of_prev_prompts", "attack_module", "metric", "system_prompt",
]


def test_session_fields_are_moonshots_metadata_in_its_order():
    assert list(SessionFields.model_fields) == MOONSHOT_METADATA
    assert list(SessionMetadata.model_fields) == MOONSHOT_METADATA


def test_the_document_and_the_answers_extend_the_one_definition():
    for shape in (Session, SessionMetadata, SessionInfo, SessionMetadataOut):
        assert issubclass(shape, SessionFields)
    assert issubclass(RunnerOut, RunnerInfo)
    assert list(RunnerOut.model_fields) == list(RunnerInfo.model_fields)


def test_changes_cover_every_setting():
    assert list(SessionChanges.model_fields) == list(SessionSettings.model_fields)


def test_metadata_is_frozen_and_dumps_moonshots_dict():
    metadata = SessionMetadata(
        session_id="run", endpoints=["e"], created_epoch="1.5", created_datetime="20260101-000000"
    )
    assert list(metadata.to_dict()) == MOONSHOT_METADATA
    assert metadata.to_dict()["cs_num_of_prev_prompts"] == 5
    assert metadata.model_config["frozen"] is True
