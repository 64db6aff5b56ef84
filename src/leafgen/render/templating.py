"""Render a Jinja template into leafgen's layout vocabulary (autoescaped XML), translated."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path, PurePath
from typing import Any

import jinja2
import jinja2.sandbox
from markupsafe import Markup, escape

from leafgen.errors import TemplateError
from leafgen.i18n.catalogs import Translator
from leafgen.project import record


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates in Jinja's per-user temp folder, keyed by source checksum, so never stale:
    compiling the layout templates is ~30 ms of every one-PDF build. Optional: an unusable folder is skipped."""
    try:
        return jinja2.FileSystemBytecodeCache()
    except (OSError, RuntimeError):
        return None


MAX_REPEAT = 100_000  # `'x' * 10**9` in a template would take the machine's memory
MAX_OUTPUT_CHARS = 2_000_000  # a rendered leaflet is ~30 KB of layout XML; a runaway loop is stopped here


class _Sandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """Templates are shared between clinics and edited by designers: they may lay out data, nothing more.
    No attribute starting with '_', no mutation of the context, no unbounded repetition or powers."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        seq = (str, list, tuple)
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 64:
            raise jinja2.exceptions.SecurityError("exponent too large")
        if operator == "*" and (isinstance(left, seq) or isinstance(right, seq)):
            count, other = (right, left) if isinstance(left, seq) else (left, right)
            if isinstance(count, int) and count * max(1, len(other)) > MAX_REPEAT:
                raise jinja2.exceptions.SecurityError("repetition too large")
        return super().call_binop(context, operator, left, right)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        # A file path in the data (a leaflet's source) would hand the template read_text() on any file.
        if isinstance(obj, PurePath) or isinstance(value, PurePath):
            return False
        return bool(super().is_safe_attribute(obj, attr, value))

    templates_dir: Path

    # Every template a render loads, imports or includes is recorded as an input (builds rebuild what it
    # changes), even when Jinja serves it from its cache: get_template, select_template and every
    # {% import/include/extends %} go through _load_template at render time, where that cache lookup lives.
    def _load_template(self, name: str, globals: Any) -> jinja2.Template:  # noqa: A002 - Jinja's signature
        record(self.templates_dir / name)
        return super()._load_template(name, globals)


@lru_cache(maxsize=8)
def environment(templates_dir: Path) -> jinja2.Environment:
    """One sandboxed environment per templates folder, so compiled templates are reused across a batch."""
    env = _Sandbox(
        loader=jinja2.FileSystemLoader(templates_dir),
        # Content and translations are data, never markup: escaped in every markup template.
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("xml.j2", "html.j2"), default_for_string=True, default=False
        ),
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        bytecode_cache=_bytecode_cache(),
    )
    del env.globals["lipsum"]  # 100,000 paragraphs of filler on request: nothing a leaflet needs
    env.templates_dir = templates_dir
    # Sets newstyle semantics for {% trans %}; the real callables come per render, in the context.
    # The globals refuse: a string reaching them (say, a macro imported without context) would
    # escape both the translation and the gate.
    env.install_gettext_callables(  # type: ignore[attr-defined] # added by the i18n extension
        gettext=_no_context, ngettext=_no_context, newstyle=True
    )
    return env


def _no_context(*args: Any, **kwargs: Any) -> str:
    raise TemplateError("a translatable string is used outside the render context: import macros 'with context'")


def _gettext_callables(tr: Translator, where: str, markup: bool) -> dict[str, Any]:
    """Newstyle gettext that escapes the translation itself: a catalog cannot inject layout tags."""

    def gettext(msgid: str, **variables: Any) -> Markup | str:
        rv = escape(tr(msgid, where)) if markup else tr(msgid, where)
        return rv % variables if variables else rv

    def ngettext(singular: str, plural: str, num: int, **variables: Any) -> Markup | str:
        variables.setdefault("num", num)
        return gettext(singular if num == 1 else plural, **variables)

    return {"gettext": gettext, "_": gettext, "ngettext": ngettext}


def render_template(templates_dir: Path, name: str, context: dict[str, Any], tr: Translator) -> str:
    """Render one template to layout XML; any template fault becomes a one-line error with its line."""
    env = environment(templates_dir)
    try:
        template = env.get_template(name)
        markup = bool(env.autoescape(name)) if callable(env.autoescape) else env.autoescape
        parts, size = [], 0
        for part in template.generate(**context, **_gettext_callables(tr, f"template {name}", markup)):
            size += len(part)
            if size > MAX_OUTPUT_CHARS:
                raise jinja2.exceptions.SecurityError(f"output beyond {MAX_OUTPUT_CHARS:,} characters")
            parts.append(part)
        return "".join(parts)
    except jinja2.TemplateSyntaxError as e:
        raise TemplateError(
            f"template syntax error: {e.message}", e.filename or templates_dir / name, e.lineno
        ) from None
    except jinja2.TemplateNotFound as e:
        if e.name == name:
            raise TemplateError(f"template not found: {e.name}", templates_dir) from None
        # Included or imported from the template: only names inside the templates folder resolve.
        raise TemplateError(
            f"template not found: {e.name} (templates include only files of their own folder)",
            templates_dir / name,
            _template_line(e, name),
        ) from None
    except jinja2.exceptions.SecurityError as e:
        raise TemplateError(
            f"template not allowed: {_one_line(e)} (templates lay out data; they cannot reach Python internals)",
            templates_dir / name,
            _template_line(e, name),
        ) from None
    except TemplateError:
        raise
    except RecursionError as e:
        raise TemplateError(
            "template error: recursion too deep", templates_dir / name, _template_line(e, name)
        ) from None
    except Exception as e:  # any fault inside a template is the template's: one line, never a traceback
        raise TemplateError(f"template error: {_one_line(e)}", templates_dir / name, _template_line(e, name)) from None


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())[:200]
    return text or type(e).__name__


def _template_line(exc: BaseException, name: str) -> int | None:
    """Jinja rewrites tracebacks so template frames carry the template's own line numbers."""
    tb, line = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(name):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def check_templates(templates_dir: Path) -> None:
    """Compile every template so a syntax error shows up in `leafgen check`, not mid-build."""
    env = environment(templates_dir)
    for path in sorted(templates_dir.glob("*.j2")):
        try:
            env.get_template(path.name)
        except jinja2.TemplateSyntaxError as e:
            raise TemplateError(f"template syntax error: {e.message}", path, e.lineno) from None
        except UnicodeDecodeError as e:
            raise TemplateError(f"not UTF-8 text ({e.reason} at byte {e.start})", path) from None
