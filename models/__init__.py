"""Beanie documents of Sparring; `DOCUMENTS` is what app and workers pass to `init_beanie`."""

from models.accounts import ApiKey, Membership, Role, User, Workspace
from models.audit import AuditEntry
from models.batches import BatchStatus, PromptBatch, PromptTask, TaskStatus
from models.chats import ChatBucket, ChatCounter, ChatRecord
from models.endpoints import Endpoint, EndpointParams
from models.events import EventCounter, EventKind, SessionEvent
from models.registries import RegistryEntry, RegistryKind
from models.runners import Runner
from models.sessions import Session

DOCUMENTS = [
    Runner,
    Session,
    ChatBucket,
    ChatCounter,
    RegistryEntry,
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
]

__all__ = [
    "DOCUMENTS",
    "ApiKey",
    "AuditEntry",
    "BatchStatus",
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
    "RegistryEntry",
    "RegistryKind",
    "Role",
    "Runner",
    "Session",
    "SessionEvent",
    "TaskStatus",
    "User",
    "Workspace",
]
