"""`GET /metrics`: this process's Prometheus metrics, for the addresses allowed to read them."""

import asyncio

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from prometheus_client import CONTENT_TYPE_LATEST

from service.metrics.scrape import Scrape

SCRAPE_DEPENDENCY = "metrics_scrape"
ScrapeDependency = NamedDependency[Scrape]


class MetricsController(Controller):
    # For Prometheus, not for API clients: kept out of the OpenAPI schema.
    include_in_schema = False

    @get("/metrics", media_type=CONTENT_TYPE_LATEST)
    async def metrics(self, request: Request, metrics_scrape: ScrapeDependency) -> Response[bytes]:
        # Anyone else is told what an unknown path tells them: that there is nothing here.
        if not metrics_scrape.allows(request.client.host if request.client else None):
            raise NotFoundException()
        # Reading the Redis queue blocks: off the event loop.
        page = await asyncio.to_thread(metrics_scrape.render)
        return Response(page, media_type=CONTENT_TYPE_LATEST)
