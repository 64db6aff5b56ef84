"""Render a Jinja template into leafgen's layout vocabulary (autoescaped XML), translated."""

from __future__ import annotations

import contextvars
import functools
import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from pathlib import Path, PurePath
from typing import Any

import jinja2
import jinja2.nodes
import jinja2.runtime
import jinja2.sandbox
from markupsafe import Markup, escape

from leafgen.errors import TemplateError
from leafgen.i18n.catalogs import Translator
from leafgen.project import record

# Compiled code differs from Jinja's own (every loop is metered, see _Sandbox._parse): its own cache files, so
# a template compiled by an unmetered leafgen, or by another program, is never loaded from the shared folder.
CACHE_PATTERN = "__leafgen_metered_1_%s.cache"


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates in Jinja's per-user temp folder, keyed by source checksum, so never stale:
    compiling the layout templates is ~30 ms of every one-PDF build. Optional: an unusable folder is skipped."""
    try:
        return jinja2.FileSystemBytecodeCache(pattern=CACHE_PATTERN)
    except (OSError, RuntimeError):
        return None


MAX_REPEAT = 100_000  # `'x' * 10**9` in a template would take the machine's memory
MAX_OUTPUT_CHARS = 2_000_000  # a rendered leaflet is ~30 KB of layout XML; a runaway loop is stopped here
# Work one render may do, in steps: a loop's turn, a call (macro, method, filter) and each item or character
# a call or range is handed. Nested loops (100,000 x 100,000 turns write nothing, so the output cap never
# stops them) or a macro calling itself twice would otherwise run for hours. The shipped templates take about
# 5,000 steps (the checklist of the shipped leaflet), some 400,000 for a leaflet at every schema limit (100
# items of 400 characters); 1,000,000 is a second or two of Jinja. A call (~7 µs for a macro) costs 25 loop turns.
MAX_STEPS = 1_000_000
CALL_STEPS = 25
MAX_INT_BITS = 4_096  # a number in a template: far beyond any page or day count
MAX_WIDTH = 10_000  # a width, padding, batch or slice count a template passes: a line is ~100 characters


class _TooMuchWork(jinja2.exceptions.SecurityError):
    """A render went over its step budget, or asked for a string or number far beyond any page."""


class _Budget:
    """Steps left to one render (a ContextVar holds it, so nested and concurrent renders each have their own)."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_STEPS

    def charge(self, steps: int) -> None:
        self.left -= steps
        if self.left < 0:
            raise _TooMuchWork(f"more than {MAX_STEPS:,} steps of loops and calls (loops nested too deep?)")


_budget: contextvars.ContextVar[_Budget] = contextvars.ContextVar("leafgen_template_budget")


def _charge(steps: int) -> None:
    budget = _budget.get(None)
    if budget is not None:  # outside render_template (check_templates compiles only): nothing runs
        budget.charge(steps)


SIZED = (str, list, tuple, dict, range, set, frozenset)


def _size(value: Any) -> int:
    """What a call is handed, for the budget: a string's or a collection's length, else 1."""
    return len(value) if isinstance(value, SIZED) else 1


def _listed(value: Any) -> Any:
    """A generator (from map, select...) as a list, charged item by item, so a join can be sized before it runs."""
    return value if isinstance(value, SIZED) else list(_metered(value))


def _metered(iterable: Iterable[Any]) -> Iterator[Any]:
    """A loop's iterable, one step per turn (every {% for %} is compiled through this)."""
    for item in iterable:
        _charge(1)
        yield item


def _refuse_large(what: str, n: Any) -> None:
    if isinstance(n, int) and not isinstance(n, bool) and abs(n) > MAX_WIDTH:
        raise _TooMuchWork(f"{what} {n:,} is too large (at most {MAX_WIDTH:,})")


def _refuse_output(what: str, size: int) -> None:
    if size > MAX_OUTPUT_CHARS:
        raise _TooMuchWork(f"{what} would make {size:,} characters")


_FORMAT_NUMBER_RE = re.compile(r"%[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?|\{[^{}]*:[^{}]*?(\d+)(?:\.(\d+))?[^{}]*\}")


def _check_format(fmt: Any) -> None:
    """Widths and precisions in a %- or {}-format: `'%0*d' % (10**9, 1)` is a gigabyte of zeros."""
    if not isinstance(fmt, str):
        return
    for m in _FORMAT_NUMBER_RE.finditer(fmt):
        for number in m.groups():
            if number == "*":
                raise jinja2.exceptions.SecurityError("a '*' width in a format is not allowed in templates")
            if number:
                _refuse_large("format width", int(number))


FORMATS = ("format", "format_map")


def _join_size(items: Any, separator: Any) -> int:
    """Characters a join would make: `['x' * 100000] * 100000` is a small list of one long string."""
    if not isinstance(items, SIZED):
        return 0
    return sum(_size(item) for item in items) + len(items) * _size(separator)


def _str_method_guard(name: str, s: str, args: tuple, kwargs: dict) -> None:
    """str methods whose output can dwarf their input: refused before Python allocates it."""
    if name in ("center", "ljust", "rjust", "zfill") and args:
        _refuse_large(f"{name} width", args[0])
    elif name == "expandtabs":
        _refuse_large("tab size", (args or [kwargs.get("tabsize", 8)])[0])
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        hits = s.count(args[0]) if args[0] else len(s) + 1
        _refuse_output("replace", len(s) + hits * len(args[1]))
    elif name == "join" and args:
        _refuse_output("join", _join_size(args[0], s))
    elif name in FORMATS:
        _check_format(s)


def _filter_guard(name: str, args: tuple, kwargs: dict) -> None:
    """Jinja filters whose output can dwarf their input (args[0] is the filtered value)."""
    value, rest = (args[0], args[1:]) if args else (None, ())

    def arg(i: int, key: str, default: Any = None) -> Any:
        return rest[i] if len(rest) > i else kwargs.get(key, default)

    if name == "center":
        _refuse_large("center width", arg(0, "width"))
    elif name == "indent":
        width = arg(0, "width")
        _refuse_large("indent", len(width) if isinstance(width, str) else width)
    elif name == "batch":
        _refuse_large("batch size", arg(0, "linecount"))
    elif name == "slice":
        _refuse_large("slice count", arg(0, "slices"))
    elif name == "tojson":
        _refuse_large("indent", arg(0, "indent"))
    elif name == "wordwrap":
        width, wrap = arg(0, "width", 79), arg(2, "wrapstring") or ""
        if isinstance(width, int) and isinstance(wrap, str):
            _refuse_output("wordwrap", _size(value) * (1 + len(wrap) // max(1, width)))
    elif name == "replace" and isinstance(value, str):
        old, new = arg(0, "old"), arg(1, "new")
        if isinstance(old, str) and isinstance(new, str):
            hits = value.count(old) if old else len(value) + 1
            _refuse_output("replace", len(value) + hits * len(new))
    elif name == "join":
        _refuse_output("join", _join_size(value, arg(0, "d", "")))
    elif name == "format":
        _check_format(value)


def _metered_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter charged for what it is handed, with its amplifying arguments checked."""
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0  # context/environment comes first

    @functools.wraps(func)  # keeps jinja_pass_arg, so Jinja still passes the context or environment
    def filter_(*args: Any, **kwargs: Any) -> Any:
        if name == "join" and len(args) > skip:
            args = (*args[:skip], _listed(args[skip]), *args[skip + 1 :])
        own = args[skip:]
        _charge(1 + (_size(own[0]) if own else 0))
        _filter_guard(name, own, kwargs)
        return func(*args, **kwargs)

    return filter_


def _metered_range(*args: int) -> range:
    rng = jinja2.sandbox.safe_range(*args)
    _charge(len(rng))
    return rng


class _Namespace(jinja2.runtime.Namespace):
    """`namespace()` whose assignments are charged by size: `{% set ns.s = ns.s ~ ns.s %}` in a loop of 40 turns
    would otherwise double a string to a terabyte in 40 steps."""

    def __setitem__(self, name: str, value: Any) -> None:
        _charge(_size(value))
        super().__setitem__(name, value)


METER_FILTER = "leafgen_metered"  # what every loop's iterable is passed through


class _Sandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """Templates are shared between clinics and edited by designers: they may lay out data, nothing more.
    No attribute starting with '_', no mutation of the context, no unbounded repetition or powers."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        seq = (str, list, tuple)
        if operator == "%" and isinstance(left, str):
            _check_format(left)
        if operator == "+":
            _charge(_size(left) + _size(right))
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 64:
            raise jinja2.exceptions.SecurityError("exponent too large")
        if operator in ("*", "**") and isinstance(left, int) and isinstance(right, int):
            # Squaring in a loop ({% set ns.n = ns.n * ns.n %}) makes a number of a billion digits in 30 turns.
            bits = abs(left).bit_length() * (abs(right) if operator == "**" else 1) + (
                abs(right).bit_length() if operator == "*" else 0
            )
            if bits > MAX_INT_BITS:
                raise _TooMuchWork("a number too large")
        if operator == "*" and (isinstance(left, seq) or isinstance(right, seq)):
            count, other = (right, left) if isinstance(left, seq) else (left, right)
            unit = len(other) if isinstance(other, str) else sum(_size(x) for x in other)  # ['x' * 9999] * 9999
            if isinstance(count, int) and count * max(1, unit) > MAX_REPEAT:
                raise jinja2.exceptions.SecurityError("repetition too large")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - Jinja's names
        """Every call a template makes (macros, methods, loop(...)) is charged for itself and what it is handed."""
        _charge(CALL_STEPS + sum(_size(a) for a in args) + sum(_size(v) for v in kwargs.values()))
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            _charge(len(owner))
            if getattr(__obj, "__name__", "") == "join" and args:
                args = (_listed(args[0]), *args[1:])
            _str_method_guard(getattr(__obj, "__name__", ""), owner, args, kwargs)
        if isinstance(__obj, jinja2.runtime.LoopContext) and args:  # a recursive loop's next level: metered too
            args = (_metered(args[0]), *args[1:])
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`'{:>999999999}'.format(x)`: Jinja swaps str.format for its own when the attribute is read, so the
        width rule is applied here (the swapped method no longer says which string it formats)."""
        if isinstance(getattr(value, "__self__", None), str) and getattr(value, "__name__", "") in FORMATS:
            _check_format(value.__self__)
        return super().wrap_str_format(value)

    def _parse(self, source: str, name: str | None, filename: str | None) -> jinja2.nodes.Template:
        """Compile every {% for %} through the step budget: loops are where a template's work multiplies."""
        tree = super()._parse(source, name, filename)
        for node in list(tree.find_all(jinja2.nodes.For)):
            node.iter = jinja2.nodes.Filter(node.iter, METER_FILTER, [], [], None, None, lineno=node.iter.lineno)
        return tree

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
    env.globals["range"] = _metered_range
    env.globals["namespace"] = _Namespace
    env.filters = {name: _metered_filter(name, f) for name, f in env.filters.items()}
    env.filters[METER_FILTER] = _metered
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
    token = _budget.set(_Budget())
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
    except _TooMuchWork as e:
        raise TemplateError(
            f"template does too much work: {_one_line(e)}",
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
    finally:
        _budget.reset(token)


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
