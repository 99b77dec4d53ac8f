"""Moonshot's Session API, async and workspace-scoped, plus what the service adds to it.

Library use without the HTTP service::

    from service import api
    await api.connect()            # None: start the embedded server, as `sparring serve` does
    await api.api_create_session("my-run", None, ["echo"], {})
    await api.disconnect()
"""

from service.api.chats import (
    append_chat_record,
    append_chat_records,
    iter_chat_records,
    reserve_chat_record_id,
    reserve_chat_record_ids,
)
from service.api.connection import connect, disconnect, use_database
from service.api.endpoints import (
    api_create_endpoint,
    api_delete_endpoint,
    api_get_all_connector_type,
    api_get_all_endpoint,
    api_get_all_endpoint_name,
    api_read_endpoint,
    api_update_endpoint,
)
from service.api.errors import Conflict, Forbidden, InvalidInput, NoDatabase, NotFound
from service.api.sessions import (
    api_create_session,
    api_delete_session,
    api_get_all_chats_from_session,
    api_get_all_session_metadata,
    api_get_all_session_names,
    api_get_available_session_info,
    api_load_session,
    api_update_attack_module,
    api_update_context_strategy,
    api_update_cs_num_of_prev_prompts,
    api_update_metric,
    api_update_prompt_template,
    api_update_system_prompt,
)

__all__ = [
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NoDatabase",
    "NotFound",
    "api_create_endpoint",
    "api_create_session",
    "api_delete_endpoint",
    "api_delete_session",
    "api_get_all_chats_from_session",
    "api_get_all_connector_type",
    "api_get_all_endpoint",
    "api_get_all_endpoint_name",
    "api_get_all_session_metadata",
    "api_get_all_session_names",
    "api_get_available_session_info",
    "api_load_session",
    "api_read_endpoint",
    "api_update_attack_module",
    "api_update_context_strategy",
    "api_update_cs_num_of_prev_prompts",
    "api_update_endpoint",
    "api_update_metric",
    "api_update_prompt_template",
    "api_update_system_prompt",
    "append_chat_record",
    "append_chat_records",
    "connect",
    "disconnect",
    "iter_chat_records",
    "reserve_chat_record_id",
    "reserve_chat_record_ids",
    "use_database",
]
