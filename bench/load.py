"""A lean HTTP/1.1 load generator: concurrent keep-alive clients for a bounded time, on loopback.

Written on asyncio streams rather than a full client library so that, on a 2-core machine
shared with the server, the client's own cost stays small next to what it measures.
"""

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bench.timing import percentile


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    error_kinds: Counter = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)
    unfinished: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "per_s": self.requests / self.seconds if self.seconds > 0 else 0.0,
            "requests": self.requests,
            "seconds": self.seconds,
            "p50_ms": percentile(self.latencies_s, 0.5) * 1000,
            "p99_ms": percentile(self.latencies_s, 0.99) * 1000,
            "errors": self.errors,
            "error_kinds": dict(self.error_kinds),
            "unfinished": self.unfinished,
        }


class ProtocolError(RuntimeError):
    """The server answered something that is not HTTP/1.1 as expected."""


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body and whether the server keeps the connection open."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ProtocolError(f"bad status line {status_line!r}")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            chunks.append((await reader.readexactly(size + 2))[:-2])
        body = b"".join(chunks)
    else:
        body = await reader.read()
    keep_alive = headers.get("connection", "").lower() != "close"
    return int(parts[1]), body, keep_alive


def request_bytes(method: str, host: str, path: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Accept: application/json"]
    if body or method in ("POST", "PUT", "PATCH"):
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def load(
    base_url: str, paths: list[str], *, clients: int, seconds: float, drain_seconds: float
) -> dict[str, Any]:
    """`clients` keep-alive connections send GETs for `seconds`, cycling through `paths`.

    Requests still open after the load window get `drain_seconds` more to finish; any left then
    are cancelled and counted as unfinished. Throughput is completed requests over the time from
    the start to the last completion.
    """
    address = urlsplit(base_url)
    host, port = address.hostname or "127.0.0.1", address.port or 80
    result = LoadResult()
    started = time.perf_counter()
    deadline = started + seconds
    last_completion = started

    async def client(number: int) -> None:
        nonlocal last_completion
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        sent = number
        try:
            while time.perf_counter() < deadline:
                if connection is None:
                    connection = await asyncio.open_connection(host, port)
                reader, writer = connection
                path = paths[sent % len(paths)]
                sent += clients
                began = time.perf_counter()
                try:
                    writer.write(request_bytes("GET", f"{host}:{port}", path))
                    status, _, keep_alive = await read_response(reader)
                except (OSError, asyncio.IncompleteReadError, ProtocolError) as error:
                    result.errors += 1
                    result.error_kinds[type(error).__name__] += 1
                    writer.close()
                    connection = None
                    continue
                finished = time.perf_counter()
                last_completion = max(last_completion, finished)
                if status == 200:
                    result.requests += 1
                    result.latencies_s.append(finished - began)
                else:
                    result.errors += 1
                    result.error_kinds[f"HTTP {status}"] += 1
                if not keep_alive:
                    writer.close()
                    connection = None
        finally:
            if connection is not None:
                connection[1].close()

    tasks = [asyncio.create_task(client(number)) for number in range(clients)]
    _, pending = await asyncio.wait(tasks, timeout=seconds + drain_seconds)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            result.errors += 1
            result.error_kinds[type(task.exception()).__name__] += 1
    result.unfinished = len(pending)
    result.seconds = last_completion - started
    return result.summary()
