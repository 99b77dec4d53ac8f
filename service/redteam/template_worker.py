"""A template worker process: compiles and renders prompt templates in a hardened Jinja2 sandbox.

It runs as `python -m service.redteam.template_worker FD`, one request at a time over the
connection on file descriptor FD (JSON both ways, so the parent never unpickles what a template
could have touched). The parent (`service.redteam.template_sandbox`) enforces the hard limits:
it kills a worker past the time limit, and the worker caps its own address space at start. The
checks here make common abuse fail fast with a clear message, before those limits are reached.
"""

import contextlib
import json
import os
import resource
import signal
import sys
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from functools import wraps
from multiprocessing.connection import Connection
from typing import Any

from jinja2 import StrictUndefined, Template, nodes, pass_context
from jinja2 import TemplateError as JinjaTemplateError
from jinja2.compiler import CodeGenerator, Frame
from jinja2.meta import find_undeclared_variables
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.utils import _PassArg

MIB = 1024 * 1024

# What a trial render at creation sends: a plain prompt, so a template over a limit for every
# prompt is refused at once while one that depends on the prompt's content is not.
SAMPLE_PROMPT = "Summarise the following paragraph in one sentence for a general reader."


@dataclass(frozen=True)
class TemplateLimits:
    """What one compile or render may take; going past any of them stops it."""

    timeout_s: float = 1.0
    max_output_chars: int = 256 * 1024
    # Any string, list or other sized value made while rendering (operators, filters, calls).
    max_value_chars: int = 256 * 1024
    max_int_bits: int = 4096
    max_range_items: int = 100_000
    # Items of every range() iterated in one render, together: nested loops multiply.
    max_loop_items: int = 1_000_000
    # Address space a worker may take beyond what it had when it started.
    memory_bytes: int = 256 * MIB
    workers: int = 2
    cache_size: int = 128
    start_timeout_s: float = 30.0

    def encode(self) -> bytes:
        return json.dumps(asdict(self)).encode()


class LimitExceeded(Exception):
    """A template went past one of the limits; the message names it."""


class _LoopBudget:
    """The range() items one render may still iterate."""

    def __init__(self, limits: TemplateLimits) -> None:
        self._limits = limits
        self._left = limits.max_loop_items

    def range(self, *args: int) -> "_BudgetedRange":
        items = range(*args)
        try:
            count = len(items)
        except OverflowError:
            count = sys.maxsize
        if count > self._limits.max_range_items:
            raise LimitExceeded(
                f"template exceeded the loop limit: range() of {count} items "
                f"(at most {self._limits.max_range_items})."
            )
        return _BudgetedRange(items, self)

    def charge(self, count: int) -> None:
        self._left -= count
        if self._left < 0:
            raise LimitExceeded(
                "template exceeded the loop limit: more than "
                f"{self._limits.max_loop_items} range() items iterated in one render."
            )


class _BudgetedRange:
    """A range whose items are charged to the render's budget each time it is iterated."""

    __slots__ = ("_budget", "_items")

    def __init__(self, items: range, budget: _LoopBudget) -> None:
        self._items = items
        self._budget = budget

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[int]:
        self._budget.charge(len(self._items))
        return iter(self._items)

    def __reversed__(self) -> Iterator[int]:
        self._budget.charge(len(self._items))
        return reversed(self._items)

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __getitem__(self, index: Any) -> Any:
        picked = self._items[index]
        return _BudgetedRange(picked, self._budget) if isinstance(picked, range) else picked

    def __repr__(self) -> str:
        return repr(self._items)


class _SizedConcatGenerator(CodeGenerator):
    """Routes `a ~ b` through the size check, as the intercepted operators are."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.checked(")
        super().visit_Concat(node, frame)
        self.write(")")


class HardenedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox with no constant folding and sizes checked as values are made.

    Nothing the template computes runs while compiling (folding `'a' * 10**9` would build the
    gigabyte before any render limit applies): `optimized=False`, intercepted operators and
    context-taking filters are never folded. Operators that grow values are checked before they
    run, and every filter, call and `~` result after.
    """

    code_generator_class = _SizedConcatGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, limits: TemplateLimits) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, optimized=False)
        self.limits = limits
        self.filters = {name: self._checked_filter(f) for name, f in self.filters.items()}
        # lipsum(n) writes n paragraphs; a prompt template has no use for it.
        self.globals.pop("lipsum", None)

    def checked(self, value: Any) -> Any:
        """`value`, unless it is larger than a value made while rendering may be."""
        if isinstance(value, int) and value.bit_length() > self.limits.max_int_bits:
            raise self._number_limit()
        if isinstance(value, str | bytes | list | tuple | dict | set | frozenset) and (
            len(value) > self.limits.max_value_chars
        ):
            raise self._size_limit()
        return value

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            self._check_product(left, right)
        elif operator == "**":
            self._check_power(left, right)
        elif operator == "+":
            self._check_sum(left, right)
        return self.checked(super().call_binop(context, operator, left, right))

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        return self.checked(super().call(context, obj, *args, **kwargs))

    def _check_product(self, left: Any, right: Any) -> None:
        if isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > self.limits.max_int_bits:
                raise self._number_limit()
            return
        for sequence, times in ((left, right), (right, left)):
            if (
                isinstance(times, int)
                and isinstance(sequence, str | bytes | list | tuple)
                and len(sequence) * times > self.limits.max_value_chars
            ):
                raise self._size_limit()

    def _check_power(self, base: Any, exponent: Any) -> None:
        if (
            isinstance(base, int)
            and isinstance(exponent, int)
            and exponent > 0
            and abs(base) > 1
            and (abs(base).bit_length() - 1) * exponent > self.limits.max_int_bits
        ):
            raise self._number_limit()

    def _check_sum(self, left: Any, right: Any) -> None:
        if (
            isinstance(left, str | bytes | list | tuple)
            and isinstance(right, type(left))
            and len(left) + len(right) > self.limits.max_value_chars
        ):
            raise self._size_limit()

    def _checked_filter(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """`function`, its result checked, taking the context so that it is never folded.

        Jinja evaluates a filter on constants while compiling (`{{ 'a'|center(10**9) }}`), even
        with `optimized=False`, unless the filter takes the context.
        """
        passes = _PassArg.from_obj(function)

        @pass_context
        @wraps(function)
        def checked_filter(context: Context, *args: Any, **kwargs: Any) -> Any:
            if passes is _PassArg.context:
                args = (context, *args)
            elif passes is _PassArg.eval_context:
                args = (context.eval_ctx, *args)
            elif passes is _PassArg.environment:
                args = (self, *args)
            return self.checked(function(*args, **kwargs))

        return checked_filter

    def _size_limit(self) -> LimitExceeded:
        return LimitExceeded(
            "template exceeded the string size limit "
            f"({self.limits.max_value_chars} characters or items per value)."
        )

    def _number_limit(self) -> LimitExceeded:
        return LimitExceeded(
            f"template exceeded the number size limit ({self.limits.max_int_bits} bits)."
        )


class _Failure(Exception):
    """How a request failed: the message, whether a limit stopped it, whether to retire."""

    def __init__(self, message: str, *, limit: bool = False, retire: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.limit = limit
        self.retire = retire

    def reply(self) -> dict[str, Any]:
        return {"error": self.message, "limit": self.limit, "retire": self.retire}


class TemplateWorker:
    """Compiles (keeping the newest templates by source) and renders, one request at a time."""

    def __init__(self, limits: TemplateLimits) -> None:
        self.limits = limits
        self.environment = HardenedEnvironment(limits)
        self._compiled: OrderedDict[str, Template] = OrderedDict()

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """`{"op": "check"|"render", "source", "prompt"}` -> `{"text"}` or `{"error", ...}`."""
        try:
            if request["op"] == "check":
                self.check(request["source"])
                return {"text": ""}
            return {"text": self.render(request["source"], request["prompt"])}
        except _Failure as failure:
            return failure.reply()

    def check(self, source: str) -> None:
        """Compile, require `prompt`, and render a sample prompt within every limit."""
        template = self._compile(source)
        if "prompt" not in find_undeclared_variables(
            self._guarded("compile", self.environment.parse, source)
        ):
            raise _Failure("template must use {{ prompt }}.")
        try:
            self._render(template, SAMPLE_PROMPT)
        except _Failure as failure:
            # Other failures may depend on the prompt; they show as error records when sent.
            if failure.limit:
                raise

    def render(self, source: str, prompt: str) -> str:
        return self._render(self._compile(source), prompt)

    def _compile(self, source: str) -> Template:
        template = self._compiled.get(source)
        if template is not None:
            self._compiled.move_to_end(source)
            return template
        template = self._guarded("compile", self.environment.from_string, source)
        self._compiled[source] = template
        if len(self._compiled) > self.limits.cache_size:
            self._compiled.popitem(last=False)
        return template

    def _render(self, template: Template, prompt: str) -> str:
        budget = _LoopBudget(self.limits)
        variables = {"prompt": prompt, "range": budget.range}
        return self._guarded("render", self._stream, template, variables)

    def _stream(self, template: Template, variables: dict[str, Any]) -> str:
        parts: list[str] = []
        size = 0
        for part in template.generate(variables):
            size += len(part)
            if size > self.limits.max_output_chars:
                raise LimitExceeded(
                    "template exceeded the output size limit "
                    f"({self.limits.max_output_chars} characters)."
                )
            parts.append(part)
        return "".join(parts)

    def _guarded(self, action: str, step: Callable[..., Any], *args: Any) -> Any:
        """Run a compile or render step, turning whatever the template caused into a _Failure."""
        try:
            return step(*args)
        except LimitExceeded as error:
            raise _Failure(str(error), limit=True) from None
        except MemoryError:
            raise _Failure(
                f"template exceeded the memory limit ({self.limits.memory_bytes // MIB} MiB).",
                limit=True,
                retire=True,
            ) from None
        except RecursionError:
            raise _Failure(
                "template exceeded the recursion limit.", limit=True, retire=True
            ) from None
        except OverflowError as error:
            raise _Failure(
                f"template exceeded the number size limit: {error}.", limit=True
            ) from None
        except SecurityError as error:
            raise _Failure(f"template tried an unsafe operation: {error}") from None
        except JinjaTemplateError as error:
            verb = "does not compile" if action == "compile" else "could not be rendered"
            raise _Failure(f"template {verb}: {error}") from None
        # Anything else a template can raise (ZeroDivisionError, TypeError, ...): this is the
        # boundary of untrusted code, and every failure must come back as a message.
        except Exception as error:  # noqa: BLE001
            verb = "does not compile" if action == "compile" else "could not be rendered"
            raise _Failure(f"template {verb}: {type(error).__name__}: {error}") from None


def _cap_address_space(extra_bytes: int) -> None:
    """Let this process grow by `extra_bytes` of address space, so a MemoryError stops a bomb."""
    try:
        with open("/proc/self/statm") as statm:
            current = int(statm.read().split()[0]) * resource.getpagesize()
    except OSError:
        current = 0
    limit = current + extra_bytes
    # Not every platform enforces RLIMIT_AS (macOS does not); the time limit still applies.
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # A template spinning until its time limit must not take the CPU from the server itself
    # (on two cores it otherwise delays /health); the scheduler favours the server.
    with contextlib.suppress(OSError):
        os.nice(10)


def serve(connection: Connection) -> None:
    """Answer requests until the parent closes the connection."""
    limits = TemplateLimits(**json.loads(connection.recv_bytes()))
    _cap_address_space(limits.memory_bytes)
    worker = TemplateWorker(limits)
    connection.send_bytes(b'{"ready": true}')
    while True:
        try:
            request = json.loads(connection.recv_bytes())
        except EOFError:
            return
        connection.send_bytes(json.dumps(worker.handle(request), ensure_ascii=False).encode())


def main() -> None:
    # Ctrl+C reaches the whole process group; the parent decides when its workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(Connection(int(sys.argv[1])))


if __name__ == "__main__":
    main()
