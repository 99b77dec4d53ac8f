"""Prompt templates: compiled and rendered in worker processes, under limits that stop the work."""

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from service.redteam.template_sandbox import TemplateSandbox
from service.redteam.template_worker import HardenedEnvironment, TemplateLimits
from service.redteam.templates import (
    MAX_TEMPLATE_CHARS,
    TemplateError,
    check_template,
    render_template,
)

# Two loops over a string: no range, no operator, no output; only the clock stops it.
ENDLESS = "{% set s = 'x' * 100000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}"
# One call asking for 40 GB at once: only the worker's memory limit stops it.
MEMORY_BOMB = "{% set s = 'x' * 200000 %}{{ s.replace('x', s) }}"


@pytest.fixture
async def make_sandbox() -> AsyncIterator[Callable[..., TemplateSandbox]]:
    """A sandbox with some limits changed; every one made is closed after the test."""
    made: list[TemplateSandbox] = []

    def make(**changes: Any) -> TemplateSandbox:
        made.append(TemplateSandbox(TemplateLimits(**changes)))
        return made[-1]

    yield make
    for sandbox in made:
        await sandbox.close()


def gone(pid: int) -> bool:
    """Whether process `pid` has ended (waiting for it if it is still our unreaped child)."""
    with contextlib.suppress(ChildProcessError):  # already reaped, or never ours
        os.waitpid(pid, 0)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def refused(action: Any) -> str:
    with pytest.raises(TemplateError) as raised:
        await action
    return str(raised.value)


class TestCheckTemplate:
    async def test_accepts_a_template_using_the_prompt(self):
        await check_template("Q: {{ prompt }}\nA:")
        await check_template("{% for word in prompt.split() %}{{ word|upper }} {% endfor %}")

    @pytest.mark.parametrize(
        ("source", "message"),
        [
            ("Q: {{ prompt ", "does not compile"),
            ("Q: {# prompt #}", "must use {{ prompt }}"),
            ("x" * (MAX_TEMPLATE_CHARS + 1) + "{{ prompt }}", "longer than"),
        ],
    )
    async def test_refuses_what_cannot_work(self, source, message):
        assert message in await refused(check_template(source))

    @pytest.mark.parametrize(
        ("source", "limit"),
        [
            ("{{ 'a' * 10**9 }}{{ prompt }}", "string size limit"),
            ("{% for i in range(100000000) %}{% endfor %}{{ prompt }}", "loop limit"),
            (
                "{% for i in range(100000) %}{% for j in range(1500) %}{% endfor %}{% endfor %}"
                "{{ prompt }}",
                "loop limit",
            ),
            ("{{ prompt }}{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}", "output size"),
            ("{{ 10.0 ** 400 }}{{ prompt }}", "number size limit"),
            ("{{ 2 ** 100000 }}{{ prompt }}", "number size limit"),
            ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}{{ prompt }}", "recursion limit"),
            (ENDLESS + "{{ prompt }}", "time limit"),
            (MEMORY_BOMB + "{{ prompt }}", "memory limit"),
        ],
    )
    async def test_refuses_a_template_over_a_limit_for_any_prompt(self, source, limit):
        assert limit in await refused(check_template(source))

    async def test_accepts_what_fails_only_for_some_prompts(self):
        # A failure that depends on the prompt is an error record when it happens, not a refusal.
        await check_template("{{ prompt.split('|')[1] }}")
        await check_template("{% for i in range(prompt|length * 1000) %}{% endfor %}{{ prompt }}")


class TestRenderTemplate:
    async def test_renders_the_prompt_and_jinja_features(self):
        source = (
            "{{ prompt|upper }} {{ range(3)|list }} "
            "{% for w in prompt.split() %}[{{ w }}]{% endfor %}"
        )
        assert await render_template(source, "hi there") == "HI THERE [0, 1, 2] [hi][there]"

    async def test_a_limit_reached_only_with_a_long_prompt_names_it(self):
        square = (
            "{% for i in range(prompt|length) %}{% for j in range(prompt|length) %}x{% endfor %}"
            "{% endfor %}"
        )
        await check_template(square)
        assert await render_template(square, "ab") == "xxxx"
        assert "output size limit" in await refused(render_template(square, "p" * 2000))

    async def test_escapes_and_errors_are_template_errors(self):
        assert "unsafe operation" in await refused(
            render_template("{{ prompt.__class__.__mro__ }}", "x")
        )
        assert "ZeroDivisionError" in await refused(render_template("{{ 1 / 0 }}", "x"))


class TestLimits:
    async def test_time_limit_kills_the_worker_and_a_new_one_serves(self, make_sandbox):
        sandbox = make_sandbox(timeout_s=0.3)
        assert await sandbox.render("{{ prompt }}", "warm") == "warm"
        (before,) = sandbox.pids
        started = time.perf_counter()
        assert "time limit (0.3 s)" in await refused(sandbox.render(ENDLESS, "x"))
        assert time.perf_counter() - started < 5
        assert gone(before)
        assert await sandbox.render("{{ prompt }}!", "next") == "next!"
        assert before not in sandbox.pids

    async def test_output_size_limit_stops_the_stream(self, make_sandbox):
        sandbox = make_sandbox(max_output_chars=10)
        assert await sandbox.render("{{ prompt }}", "0123456789") == "0123456789"
        assert "output size limit (10 characters)" in await refused(
            sandbox.render("{{ prompt }}", "0123456789!")
        )
        # Without a range, a loop over the prompt is stopped by what it writes.
        loops = "{% for c in prompt %}{% for d in prompt %}x{% endfor %}{% endfor %}"
        assert "output size limit" in await refused(sandbox.render(loops, "p" * 1000))

    @pytest.mark.parametrize(
        "source",
        [
            "{{ prompt * 3 }}",
            "{{ prompt + prompt + prompt }}",
            "{{ prompt ~ prompt ~ prompt }}",
            "{{ [prompt, prompt, prompt]|join }}",
            "{{ prompt.replace('a', 'aaa') }}",
            "{{ '%s%s%s' % (prompt, prompt, prompt) }}",
            "{% set ns = namespace(s=prompt) %}{% for i in range(9) %}{% set ns.s = ns.s ~ ns.s %}"
            "{% endfor %}",
        ],
    )
    async def test_intermediate_values_are_capped(self, make_sandbox, source):
        sandbox = make_sandbox(max_value_chars=100, max_output_chars=10**6)
        assert await sandbox.render("{{ prompt * 2 }}", "a" * 50) == "a" * 100
        assert "string size limit (100 " in await refused(sandbox.render(source, "a" * 40))

    async def test_range_items_are_charged_to_the_render(self, make_sandbox):
        sandbox = make_sandbox(max_range_items=100, max_loop_items=1000)
        nested = "{% for i in range(100) %}{% for j in range(prompt|int) %}{% endfor %}{% endfor %}"
        assert await sandbox.render(nested + "ok", "9") == "ok"  # 100 + 100 × 9 items
        assert "more than 1000 range() items" in await refused(sandbox.render(nested, "10"))
        # A range kept and iterated again is charged again.
        reused = "{% set r = range(100) %}{% for i in r %}{% for j in r %}{% endfor %}{% endfor %}"
        assert "loop limit" in await refused(sandbox.render(reused, ""))
        # Each render has its own budget.
        assert await sandbox.render(nested + "again", "9") == "again"

    async def test_a_huge_range_is_a_limit_not_an_overflow(self, make_sandbox):
        sandbox = make_sandbox()
        for stop in ("100000000", "10**30"):
            loop = f"{{% for i in range({stop}) %}}{{% endfor %}}"
            assert "loop limit: range() of" in await refused(sandbox.render(loop, ""))

    async def test_overflow_and_big_numbers_name_the_limit(self, make_sandbox):
        sandbox = make_sandbox()
        assert "number size limit" in await refused(sandbox.render("{{ 10.0 ** 400 }}", ""))
        assert "number size limit (4096 bits)" in await refused(
            sandbox.render("{{ 7 ** 1000000 }}", "")
        )
        square = "{% set ns = namespace(n=3) %}{% for i in range(30) %}{% set ns.n = ns.n * ns.n %}"
        assert "number size limit" in await refused(sandbox.render(square + "{% endfor %}", ""))

    async def test_memory_limit_ends_in_an_error_and_a_fresh_worker(self, make_sandbox):
        sandbox = make_sandbox()
        assert await sandbox.render("{{ prompt }}", "warm") == "warm"
        (before,) = sandbox.pids
        assert "memory limit (256 MiB)" in await refused(sandbox.render(MEMORY_BOMB, ""))
        assert gone(before)
        assert await sandbox.render("{{ prompt }}", "after") == "after"

    def test_nothing_is_folded_while_compiling(self):
        environment = HardenedEnvironment(TemplateLimits())
        code = environment.compile("{{ 'ab'|upper }}{{ 'a' * 3 }}{{ 'c' ~ 'd' }}", raw=True)
        # Jinja would emit the results ('AB', 'aaa') as constants; each must run at render time.
        assert "'AB'" not in code and "'aaa'" not in code
        assert "call_binop(context, '*', 'a', 3)" in code
        assert environment.from_string("{{ 'ab'|upper }}{{ 'a' * 3 }}").render() == "ABaaa"

    async def test_a_dead_constant_costs_nothing(self):
        # Folded, this would build a gigabyte while compiling; here only the dead branch holds it.
        source = "{% if false %}{{ 'a'|center(10**9) }}{{ 'b' * 10**9 }}{% endif %}{{ prompt }}"
        await check_template(source)
        assert await render_template(source, "alive") == "alive"


class TestPool:
    async def test_a_killed_worker_is_replaced_and_the_next_render_works(self, make_sandbox):
        sandbox = make_sandbox(workers=1)
        assert await sandbox.render("{{ prompt }}", "first") == "first"
        (before,) = sandbox.pids
        os.kill(before, signal.SIGKILL)
        assert gone(before)
        assert await sandbox.render("{{ prompt }}", "second") == "second"
        (after,) = sandbox.pids
        assert after != before

    async def test_requests_beyond_the_pool_wait_their_turn(self, make_sandbox):
        sandbox = make_sandbox(workers=2)
        prompts = [str(number) for number in range(12)]
        rendered = await asyncio.gather(
            *(sandbox.render("<{{ prompt }}>", prompt) for prompt in prompts)
        )
        assert rendered == [f"<{prompt}>" for prompt in prompts]
        assert len(sandbox.pids) <= 2

    async def test_a_cancelled_render_stops_its_worker(self, make_sandbox):
        sandbox = make_sandbox(workers=1, timeout_s=60)
        assert await sandbox.render("{{ prompt }}", "warm") == "warm"
        (busy,) = sandbox.pids
        started = time.perf_counter()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(sandbox.render(ENDLESS, ""), timeout=0.5)
        assert time.perf_counter() - started < 5
        assert busy not in sandbox.pids
        assert await asyncio.wait_for(asyncio.to_thread(gone, busy), timeout=10)
        assert await sandbox.render("{{ prompt }}", "after") == "after"

    async def test_a_closed_sandbox_stops_its_workers_and_refuses(self, make_sandbox):
        sandbox = make_sandbox(workers=2)
        await asyncio.gather(*(sandbox.render("{{ prompt }}", name) for name in "ab"))
        pids = sandbox.pids
        assert pids
        await sandbox.close()
        assert all(gone(pid) for pid in pids) and sandbox.pids == []
        assert "closed" in await refused(sandbox.render("{{ prompt }}", "late"))

    async def test_compiled_templates_are_reused(self, make_sandbox):
        sandbox = make_sandbox(workers=1)
        assert await sandbox.render("{{ prompt }}", "warm") == "warm"
        source = "".join(f"{{% if prompt == '{n}' %}}{n}{{% endif %}}" for n in range(300))
        first = time.perf_counter()
        assert await sandbox.render(source, "7") == "7"
        compiled = time.perf_counter() - first
        again = time.perf_counter()
        for _ in range(5):
            assert await sandbox.render(source, "8") == "8"
        assert (time.perf_counter() - again) / 5 < compiled / 4

