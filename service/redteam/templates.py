"""Prompt templates: Jinja2 rendered in its sandbox, because a template is user input."""

from jinja2 import StrictUndefined
from jinja2 import TemplateError as JinjaTemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

MAX_TEMPLATE_CHARS = 20_000

_environment = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


class TemplateError(ValueError):
    """A template that does not compile, names an unknown variable, or tries to escape."""


def check_template(source: str) -> None:
    """Raise TemplateError unless `source` compiles and uses `{{ prompt }}`."""
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateError(f"template is longer than {MAX_TEMPLATE_CHARS} characters.")
    try:
        _environment.from_string(source)
    except JinjaTemplateError as error:
        raise TemplateError(f"template does not compile: {error}") from error
    if "prompt" not in source:
        raise TemplateError("template must use {{ prompt }}.")


def render_template(source: str, prompt: str) -> str:
    """Render `source` with `prompt`; anything reaching for Python internals fails cleanly."""
    try:
        return _environment.from_string(source).render(prompt=prompt)
    except SecurityError as error:
        raise TemplateError(f"template tried an unsafe operation: {error}") from error
    except JinjaTemplateError as error:
        raise TemplateError(f"template could not be rendered: {error}") from error
