"""Beanie documents of Sparring; `DOCUMENTS` is what app and workers pass to `init_beanie`."""

from models.accounts import ApiKey, Membership, Role, User, Workspace
from models.audit import AuditEntry
from models.batches import BatchStatus, PromptBatch, PromptTask, TaskStatus
from models.bookmarks import Bookmark
from models.chats import ChatBucket, ChatCounter, ChatRecord
from models.endpoints import Endpoint, EndpointParams
from models.events import EventCounter, EventKind, SessionEvent
from models.layout import StorageLayout
from models.registries import RegistryConfig, RegistryEntry, RegistryKind
from models.runners import Runner
from models.runs import AttackRun, RunStatus
from models.session_imports import SessionImport
from models.sessions import Session

DOCUMENTS = [
    Runner,
    Session,
    ChatBucket,
    ChatCounter,
    RegistryEntry,
    RegistryConfig,
    User,
    Workspace,
    Membership,
    ApiKey,
    AuditEntry,
    Endpoint,
    PromptBatch,
    PromptTask,
    SessionEvent,
    EventCounter,
    Bookmark,
    AttackRun,
    SessionImport,
    StorageLayout,
]

__all__ = [
    "DOCUMENTS",
    "ApiKey",
    "AttackRun",
    "AuditEntry",
    "BatchStatus",
    "Bookmark",
    "ChatBucket",
    "ChatCounter",
    "ChatRecord",
    "Endpoint",
    "EndpointParams",
    "EventCounter",
    "EventKind",
    "Membership",
    "PromptBatch",
    "PromptTask",
    "RegistryConfig",
    "RegistryEntry",
    "RegistryKind",
    "Role",
    "RunStatus",
    "Runner",
    "Session",
    "SessionEvent",
    "SessionImport",
    "StorageLayout",
    "TaskStatus",
    "User",
    "Workspace",
]
