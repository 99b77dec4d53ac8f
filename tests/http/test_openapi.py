"""The OpenAPI document: every route keeps its method, path and operation id.

Clients generated from the schema call operations by id, so a refactor that renames a handler
or moves a route breaks them; this snapshot was taken from the app before controllers were
generated from tables.
"""

import pytest

from service.http import create_app
from service.settings import Settings

OPERATIONS = [
    ("DELETE", "/api/v1/admin/keys/{key_id}", "ApiV1AdminKeysKeyIdRevokeKey"),
    ("DELETE", "/api/v1/admin/members/{user}", "ApiV1AdminMembersUserDeleteMember"),
    ("DELETE", "/api/v1/bookmarks", "ApiV1BookmarksDeleteBookmarks"),
    ("DELETE", "/api/v1/bookmarks/{name}", "ApiV1BookmarksNameDeleteBookmark"),
    ("DELETE", "/api/v1/llm-endpoints/{endpoint_id}", "ApiV1LlmEndpointsEndpointIdDeleteEndpoint"),
    ("DELETE", "/api/v1/sessions/{runner_id}", "ApiV1SessionsRunnerIdDeleteSession"),
    (
        "DELETE",
        "/api/v1/sessions/{runner_id}/attack-module/{atk_module_name}",
        "ApiV1SessionsRunnerIdAttackModuleAtkModuleNameClearAttackModule",
    ),
    (
        "DELETE",
        "/api/v1/sessions/{runner_id}/context-strategy/{ctx_strategy_name}/{num_of_prompt}",
        "ApiV1SessionsRunnerIdContextStrategyCtxStrategyNameNumOfPromptClearContextStrategy",
    ),
    (
        "DELETE",
        "/api/v1/sessions/{runner_id}/metric/{metric_name}",
        "ApiV1SessionsRunnerIdMetricMetricNameClearMetric",
    ),
    (
        "DELETE",
        "/api/v1/sessions/{runner_id}/prompt-template/{prompt_template_name}",
        "ApiV1SessionsRunnerIdPromptTemplatePromptTemplateNameClearPromptTemplate",
    ),
    (
        "DELETE",
        "/api/v1/sessions/{runner_id}/system-prompt",
        "ApiV1SessionsRunnerIdSystemPromptClearSystemPrompt",
    ),
    ("GET", "/", "MoonshotHealth"),
    ("GET", "/api/v1/admin/audit", "ApiV1AdminAuditAuditLog"),
    ("GET", "/api/v1/admin/keys", "ApiV1AdminKeysListKeys"),
    ("GET", "/api/v1/admin/members", "ApiV1AdminMembersListMembers"),
    ("GET", "/api/v1/attack-modules", "ApiV1AttackModulesListAttackModules"),
    (
        "GET",
        "/api/v1/attack-modules/metadata",
        "ApiV1AttackModulesMetadataListAttackModuleMetadata",
    ),
    ("GET", "/api/v1/benchmarks/status", "ApiV1BenchmarksStatusBenchmarkStatus"),
    ("GET", "/api/v1/bookmarks", "ApiV1BookmarksListBookmarks"),
    ("GET", "/api/v1/bookmarks/export", "ApiV1BookmarksExportExportBookmarks"),
    ("GET", "/api/v1/bookmarks/{name}", "ApiV1BookmarksNameGetBookmark"),
    ("GET", "/api/v1/connectors", "ApiV1ConnectorsListConnectorTypes"),
    ("GET", "/api/v1/context-strategies", "ApiV1ContextStrategiesListContextStrategies"),
    (
        "GET",
        "/api/v1/context-strategies/name",
        "ApiV1ContextStrategiesNameListContextStrategyNames",
    ),
    ("GET", "/api/v1/llm-endpoints", "ApiV1LlmEndpointsListEndpoints"),
    ("GET", "/api/v1/llm-endpoints/name", "ApiV1LlmEndpointsNameListEndpointNames"),
    ("GET", "/api/v1/llm-endpoints/{endpoint_id}", "ApiV1LlmEndpointsEndpointIdGetEndpoint"),
    ("GET", "/api/v1/metrics", "ApiV1MetricsListMetrics"),
    ("GET", "/api/v1/prompt-templates", "ApiV1PromptTemplatesListPromptTemplates"),
    ("GET", "/api/v1/prompt-templates/name", "ApiV1PromptTemplatesNameListPromptTemplateNames"),
    ("GET", "/api/v1/runners", "ApiV1RunnersListAllRunners"),
    ("GET", "/api/v1/runners/{runner_id}", "ApiV1RunnersRunnerIdGetOneRunner"),
    ("GET", "/api/v1/sessions", "ApiV1SessionsListSessions"),
    ("GET", "/api/v1/sessions/available", "ApiV1SessionsAvailableAvailableSessions"),
    ("GET", "/api/v1/sessions/name", "ApiV1SessionsNameListSessionNames"),
    ("GET", "/api/v1/sessions/{runner_id}", "ApiV1SessionsRunnerIdGetSession"),
    (
        "GET",
        "/api/v1/sessions/{runner_id}/batches/{batch_id}",
        "ApiV1SessionsRunnerIdBatchesBatchIdGetBatch",
    ),
    ("GET", "/api/v1/sessions/{runner_id}/chats", "ApiV1SessionsRunnerIdChatsAllChats"),
    (
        "GET",
        "/api/v1/sessions/{runner_id}/chats/{endpoint}",
        "ApiV1SessionsRunnerIdChatsEndpointChatPage",
    ),
    ("GET", "/api/v1/sessions/{runner_id}/close", "ApiV1SessionsRunnerIdCloseCloseSession"),
    (
        "GET",
        "/api/v1/sessions/{runner_id}/cs-num-of-prev-prompts",
        "ApiV1SessionsRunnerIdCsNumOfPrevPromptsGetPrevPromptsCount",
    ),
    ("GET", "/api/v1/sessions/{runner_id}/events", "ApiV1SessionsRunnerIdEventsEvents"),
    ("GET", "/api/v1/sessions/{runner_id}/export", "ApiV1SessionsRunnerIdExportExportSession"),
    ("GET", "/api/v1/sessions/{runner_id}/info", "ApiV1SessionsRunnerIdInfoSessionInfo"),
    ("GET", "/health", "HealthHealth"),
    ("GET", "/ready", "ReadyReady"),
    ("PATCH", "/api/v1/sessions/{runner_id}", "ApiV1SessionsRunnerIdPatchSession"),
    ("POST", "/api/v1/admin/keys", "ApiV1AdminKeysCreateKey"),
    ("POST", "/api/v1/admin/users", "ApiV1AdminUsersCreateUser"),
    ("POST", "/api/v1/admin/workspaces", "ApiV1AdminWorkspacesCreateWorkspace"),
    ("POST", "/api/v1/bookmarks", "ApiV1BookmarksInsertBookmark"),
    ("POST", "/api/v1/llm-endpoints", "ApiV1LlmEndpointsCreateEndpoint"),
    ("POST", "/api/v1/prompt-templates", "ApiV1PromptTemplatesAddPromptTemplate"),
    ("POST", "/api/v1/sessions", "ApiV1SessionsCreateSession"),
    ("POST", "/api/v1/sessions/import", "ApiV1SessionsImportImportSession"),
    ("POST", "/api/v1/sessions/{runner_id}/cancel", "ApiV1SessionsRunnerIdCancelCancel"),
    ("POST", "/api/v1/sessions/{runner_id}/prompt", "ApiV1SessionsRunnerIdPromptPrompt"),
    ("GET", "/api/v1/sessions/{runner_id}/runs", "ApiV1SessionsRunnerIdRunsListRuns"),
    ("GET", "/api/v1/sessions/{runner_id}/runs/{run_id}", "ApiV1SessionsRunnerIdRunsRunIdGetRun"),
    (
        "POST",
        "/api/v1/sessions/{runner_id}/runs/{run_id}/cancel",
        "ApiV1SessionsRunnerIdRunsRunIdCancelCancelRun",
    ),
    ("PUT", "/api/v1/admin/members/{user}", "ApiV1AdminMembersUserPutMember"),
    (
        "PUT",
        "/api/v1/attack-modules/{name}/config",
        "ApiV1AttackModulesNameConfigConfigureAttackModule",
    ),
    ("PUT", "/api/v1/llm-endpoints/{endpoint_id}", "ApiV1LlmEndpointsEndpointIdUpdateEndpoint"),
    ("PUT", "/api/v1/metrics/{name}/config", "ApiV1MetricsNameConfigConfigureMetric"),
    (
        "PUT",
        "/api/v1/sessions/{runner_id}/attack-module/{atk_module_name}",
        "ApiV1SessionsRunnerIdAttackModuleAtkModuleNameSetAttackModule",
    ),
    (
        "PUT",
        "/api/v1/sessions/{runner_id}/context-strategy/{ctx_strategy_name}/{num_of_prompt}",
        "ApiV1SessionsRunnerIdContextStrategyCtxStrategyNameNumOfPromptSetContextStrategy",
    ),
    (
        "PUT",
        "/api/v1/sessions/{runner_id}/cs-num-of-prev-prompts",
        "ApiV1SessionsRunnerIdCsNumOfPrevPromptsSetPrevPromptsCount",
    ),
    (
        "PUT",
        "/api/v1/sessions/{runner_id}/metric/{metric_name}",
        "ApiV1SessionsRunnerIdMetricMetricNameSetMetric",
    ),
    (
        "PUT",
        "/api/v1/sessions/{runner_id}/prompt-template/{prompt_template_name}",
        "ApiV1SessionsRunnerIdPromptTemplatePromptTemplateNameSetPromptTemplate",
    ),
    (
        "PUT",
        "/api/v1/sessions/{runner_id}/system-prompt",
        "ApiV1SessionsRunnerIdSystemPromptSetSystemPrompt",
    ),
]


@pytest.fixture
def schema(settings: Settings) -> dict:
    return create_app(settings).openapi_schema.to_schema()


def test_every_operation_keeps_its_method_path_and_id(schema):
    operations = sorted(
        (method.upper(), path, operation["operationId"])
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "operationId" in operation
    )
    assert operations == sorted(OPERATIONS)


def test_operation_ids_are_unique(schema):
    ids = [operation_id for _, _, operation_id in OPERATIONS]
    assert len(ids) == len(set(ids))
