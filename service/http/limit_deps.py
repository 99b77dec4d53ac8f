"""The fair-share limits as a dependency: handlers receive them, read once from the settings."""

from litestar.di import NamedDependency, Provide

from service.api.limits import Limits
from service.settings import Settings


def provide_limits(settings: NamedDependency[Settings]) -> Limits:
    return Limits.from_settings(settings)


# Handler parameter `limits`, filled from the app's settings.
LimitsDependency = NamedDependency[Limits]
LIMITS_DEPENDENCIES = {"limits": Provide(provide_limits, sync_to_thread=False)}
