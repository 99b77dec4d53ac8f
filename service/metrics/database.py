"""Database command latency: a PyMongo command listener, added to every client the service makes."""

from pymongo import monitoring

from service.metrics.series import DATABASE_COMMAND_SECONDS


class DatabaseCommandMetrics(monitoring.CommandListener):
    """Observes each command's time by command name (`find`, `update`, ...), never its body.

    PyMongo measures the duration itself (`duration_micros`), so nothing is kept between the
    started and the finished event.
    """

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        return None

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        DATABASE_COMMAND_SECONDS.labels(command=event.command_name, outcome="succeeded").observe(
            event.duration_micros / 1_000_000
        )

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        DATABASE_COMMAND_SECONDS.labels(command=event.command_name, outcome="failed").observe(
            event.duration_micros / 1_000_000
        )
