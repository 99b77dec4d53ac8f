"""Beanie documents of Sparring; `DOCUMENTS` is what app and workers pass to `init_beanie`."""

from models.chats import ChatBucket, ChatCounter, ChatRecord
from models.registries import RegistryEntry, RegistryKind
from models.runners import Runner
from models.sessions import Session

DOCUMENTS = [Runner, Session, ChatBucket, ChatCounter, RegistryEntry]

__all__ = [
    "DOCUMENTS",
    "ChatBucket",
    "ChatCounter",
    "ChatRecord",
    "RegistryEntry",
    "RegistryKind",
    "Runner",
    "Session",
]
