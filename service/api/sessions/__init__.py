"""Sessions: Moonshot's Session API, and the web API's sessions with their runners.

`lifecycle` creates, loads and deletes; `views` lists and reads; `edits` changes settings;
`runners` handles a session's owner; `store` alone knows how session documents are kept;
`schemas` holds what these take and return. The package exports Moonshot's functions.
"""

from service.api.sessions.edits import (
    api_update_attack_module,
    api_update_context_strategy,
    api_update_cs_num_of_prev_prompts,
    api_update_metric,
    api_update_prompt_template,
    api_update_system_prompt,
)
from service.api.sessions.lifecycle import (
    api_create_session,
    api_delete_session,
    api_load_session,
)
from service.api.sessions.views import (
    api_get_all_chats_from_session,
    api_get_all_session_metadata,
    api_get_all_session_names,
    api_get_available_session_info,
)

__all__ = [
    "api_create_session",
    "api_delete_session",
    "api_get_all_chats_from_session",
    "api_get_all_session_metadata",
    "api_get_all_session_names",
    "api_get_available_session_info",
    "api_load_session",
    "api_update_attack_module",
    "api_update_context_strategy",
    "api_update_cs_num_of_prev_prompts",
    "api_update_metric",
    "api_update_prompt_template",
    "api_update_system_prompt",
]
