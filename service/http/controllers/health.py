"""Liveness and readiness, for load balancers and orchestrators."""

import asyncio

from litestar import Controller, Response, get

from service.api.errors import Unavailable
from service.database import ping
from service.http.deps import DatabaseDependency
from service.http.schemas import Status

# What Moonshot's web API answers on its health check route, `GET /`.
MOONSHOT_HEALTH = "web api is up and running"
# A probe must answer quickly; the driver would otherwise wait its whole server selection timeout.
READY_TIMEOUT_S = 3.0


class HealthController(Controller):
    tags = ["Health"]

    @get("/", summary="Moonshot's health check")
    async def moonshot_health(self) -> Status:
        return Status(status=MOONSHOT_HEALTH)

    @get("/health", summary="The process is up (the database is not asked)")
    async def health(self) -> Status:
        return Status(status="ok")

    @get("/ready", summary="The database answers a ping (503 when it does not)")
    async def ready(self, database: DatabaseDependency) -> Response[Status]:
        try:
            answered = await asyncio.wait_for(ping(database), timeout=READY_TIMEOUT_S)
        except TimeoutError:
            answered = False
        if not answered:
            raise Unavailable("The database does not answer.")
        return Response(Status(status="ready"))
