"""Prompt templates: Jinja2 in a hardened sandbox, in worker processes, because a template is
user input (see `template_sandbox` for where it runs and `template_worker` for the limits)."""

from service.redteam.template_sandbox import TemplateError, template_sandbox

__all__ = ["MAX_TEMPLATE_CHARS", "TemplateError", "check_template", "render_template"]

MAX_TEMPLATE_CHARS = 20_000


async def check_template(source: str) -> None:
    """Raise TemplateError unless `source` compiles, uses `{{ prompt }}` and renders a sample
    prompt within every limit (a template over a limit for any prompt is refused now)."""
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateError(f"template is longer than {MAX_TEMPLATE_CHARS} characters.")
    await template_sandbox().check(source)


async def render_template(source: str, prompt: str) -> str:
    """Render `source` with `prompt`; anything unsafe or over a limit raises TemplateError."""
    return await template_sandbox().render(source, prompt)
