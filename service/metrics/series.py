"""Every series this process keeps, in its own registry; labels hold ids and names from code only.

A label never holds a prompt, a key, a token, a session name or any other free text a user
chose: routes are templates (`/api/v1/sessions/{runner_id}`), outcomes are exception class
names, statuses come from the documents' enums; endpoint ids are slugs (the issue allows ids).
"""

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

# One registry per process (not prometheus_client's global one, which other libraries may
# fill): counters are process state by nature, like the database connection.
REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

# Endpoint calls take seconds; database commands and most requests take milliseconds.
CALL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
FAST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

# Requests no route matched carry this instead of their path (which a client chose).
UNMATCHED_ROUTE = "unmatched"
ANSWERED = "answered"

HTTP_REQUESTS = Counter(
    "sparring_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_REQUEST_SECONDS = Histogram(
    "sparring_http_request_duration_seconds",
    "Time from a request reaching the app to the last byte of its answer.",
    ["method", "route", "status"],
    buckets=FAST_BUCKETS,
    registry=REGISTRY,
)
PROMPT_BATCHES = Counter(
    "sparring_prompt_batches",
    "Prompt batch status changes, by the status a batch reached.",
    ["status"],
    registry=REGISTRY,
)
RUNS = Counter(
    "sparring_runs",
    "Attack run status changes, by the status a run reached.",
    ["status"],
    registry=REGISTRY,
)
ENDPOINT_CALLS = Counter(
    "sparring_endpoint_calls",
    "Calls to LLM endpoints, by endpoint id and outcome (answered, or the error's class name).",
    ["endpoint", "outcome"],
    registry=REGISTRY,
)
ENDPOINT_CALL_SECONDS = Histogram(
    "sparring_endpoint_call_duration_seconds",
    "Time an endpoint call took, retries included.",
    ["endpoint", "outcome"],
    buckets=CALL_BUCKETS,
    registry=REGISTRY,
)
RATE_LIMIT_REFUSALS = Counter(
    "sparring_rate_limit_refusals",
    "Requests refused with 429 (request rate or fair-share limits), by route template.",
    ["route"],
    registry=REGISTRY,
)
DATABASE_COMMAND_SECONDS = Histogram(
    "sparring_database_command_duration_seconds",
    "Time a MongoDB command took, by command name and whether it succeeded.",
    ["command", "outcome"],
    buckets=FAST_BUCKETS,
    registry=REGISTRY,
)
