"""What each `leafgen` command does, given parsed arguments: call leafgen.api, print what it returns.

Imported only after --help is handled (it loads the whole pipeline).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any, TextIO

from leafgen import api
from leafgen.build.manifest import MANIFEST, manifest_file, merge_manifests, write_manifest
from leafgen.cli.messages import internal_error_hint
from leafgen.content.readability import GRADE_CEILING
from leafgen.errors import LeafgenError
from leafgen.i18n.extract import run_pybabel
from leafgen.i18n.locales import LOCALE_RE, is_locale
from leafgen.project import SOURCE_LANG, Project, find_project
from leafgen.results import Outcome


def _project(args: argparse.Namespace) -> Project:
    return find_project(Path(args.project) if args.project else None)


class Printer:
    """Prints each problem line once: one typo in a leaflet fails every job of it, and says so once."""

    def __init__(self, err: TextIO, debug: bool):
        self.err = err
        self.debug = debug
        self.seen: set[str] = set()
        self.write = lambda s: print(s, file=err)  # noqa: E731 - swapped for the progress bar's writer

    def outcome(self, o: Outcome) -> None:
        if o.bug:
            self.write(f"leafgen: internal error: {o.error}")
            if self.debug:
                self.write(o.trace.rstrip())
            return
        lines = [ln for ln in o.error.splitlines() if ln not in self.seen]
        self.seen.update(lines)
        if lines:
            self.write(_error_lines(o.status, lines))


REFUSED_SHOWN = 8  # a language with nothing translated would otherwise print every unit


def _error_lines(status: str, lines: list[str]) -> str:
    if status == "refused" and len(lines) > REFUSED_SHOWN:
        more = len(lines) - REFUSED_SHOWN
        lines = lines[:REFUSED_SHOWN] + [f"... and {more} more (to list them all: leafgen i18n status --verbose)"]
    return f"leafgen: {status}: " + "\n  ".join(lines)


def _progress(total: int, err: TextIO) -> Any:
    """A progress bar for people at a terminal; logs and CI get only the summary line."""
    if total < 2 or not (hasattr(err, "isatty") and err.isatty()):
        return None
    # Imported only when a bar is shown: tqdm (with logging and importlib.metadata) is ~20 ms of start-up
    # that a one-PDF build, a script or CI would pay for nothing.
    from tqdm import tqdm

    return tqdm(total=total, file=err, unit="pdf", leave=False)


def cmd_build(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    project = _project(args)
    langs = None if args.lang is None or "all" in args.lang else args.lang
    jobs = api.jobs(
        project,
        args.leaflets or None,
        langs,
        args.kind,
        args.paper,
        large_print=args.large_print,
        fillable=args.fillable,
        shard_spec=args.shard,
    )
    out_dir = Path(args.out)
    bar = _progress(len(jobs), err)
    printer = Printer(err, args.debug)
    if bar:
        printer.write = bar.write

    def on_done(o: Outcome) -> None:
        if o.error:
            printer.outcome(o)
        if bar:
            bar.update(1)

    try:
        summary = api.build(
            project,
            jobs,
            out_dir,
            allow_fallback=args.allow_fallback,
            force=args.force,
            workers=args.jobs,
            on_done=on_done,
        )
    finally:
        if bar:
            bar.close()
    for warning in summary.warnings:
        print(f"leafgen: warning: {warning}", file=err)
    if summary.removed:
        print(
            f"leafgen: removed {len(summary.removed)} earlier PDF(s) whose rebuild was refused or failed, or whose "
            "leaflet or language is no longer in the project, so no outdated leaflet stays printable:",
            file=err,
        )
        for rel in summary.removed:
            print(f"  {out_dir / rel}", file=err)
    if summary.bugs:
        print(internal_error_hint(printer.debug), file=err)
    fallback = sum(bool(o.entry and o.entry.get("fallback")) for o in summary.outcomes if o.status == "built")
    note = f" ({fallback} with English fallback, marked on every page)" if fallback else ""
    removed = f", {len(summary.removed)} removed" if summary.removed else ""
    print(f"leafgen: {summary.line()}{note}{removed}; manifest: {out_dir / MANIFEST}", file=out)
    return 0 if summary.ok else 1


def cmd_list(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    project = _project(args)
    print("Leaflets:", file=out)
    for info in api.catalogue(project):
        title = info.titles[SOURCE_LANG]
        print(f"  {info.id}  {title!r}  v{info.version} {info.status}, review due {info.review}", file=out)
    print("Languages:", file=out)
    broken = 0
    for lang in api.languages(project):
        if lang.error:
            broken += 1
            print(f"leafgen: error: {lang.error}", file=err)
        state = "(source language)" if lang.status is None else lang.status.line()
        print(f"  {lang.code:8} {lang.name}  {'BROKEN CATALOG' if lang.error else state}", file=out)
    return 1 if broken else 0


def cmd_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    project = _project(args)
    result = api.check(project, allow_fallback=args.allow_fallback, workers=args.jobs)
    for leaflet_id, grade, ease in result.reading:
        flag = f"  (above grade {GRADE_CEILING:g}: simplify)" if grade > GRADE_CEILING else ""
        print(f"{leaflet_id}: reading grade {grade:.1f}, reading ease {ease:.1f}{flag}", file=out)
    for w in result.warnings:
        print(f"leafgen: warning: {w}", file=err)
    for e in result.errors:
        print(f"leafgen: error: {e}", file=err)
    printer = Printer(err, args.debug)
    for bug in result.bugs:
        printer.outcome(bug)
    if result.bugs:
        print(internal_error_hint(args.debug), file=err)
    print(
        f"leafgen: checked {result.leaflets} leaflet(s), {result.languages} language(s), "
        f"{result.rendered} PDF(s) rendered in memory: {len(result.errors) + len(result.bugs)} error(s)",
        file=out,
    )
    return 0 if result.ok else 1


def _locale(value: str | None) -> str:
    """A locale for `i18n init`, checked before it becomes a folder name."""
    if not value:
        raise LeafgenError("'leafgen i18n init' needs --lang LOCALE (e.g. de, pt_BR, zh_Hant)")
    if not LOCALE_RE.match(value):
        raise LeafgenError(f"--lang: {value!r} is not a locale code (e.g. de, pt_BR, zh_Hant)")
    if not is_locale(value):
        raise LeafgenError(f"--lang: unknown locale {value!r} (e.g. de, pt_BR, zh_Hant)")
    return value


def cmd_i18n(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    project = _project(args)
    if args.action == "status":
        incomplete = 0
        for lang in api.languages(project):
            if lang.error:
                incomplete += 1
                print(f"leafgen: error: {lang.error}", file=err)
                continue
            if lang.status is None:
                continue
            incomplete += not lang.complete
            print(f"{lang.code:8} {lang.status.line()}", file=out)
            if args.verbose:
                for gap in lang.status.gaps:
                    print(f"    {gap}", file=out)
        return 1 if incomplete else 0
    locale = _locale(args.lang) if args.action == "init" else args.lang
    return run_pybabel(project, args.action, locale)


def cmd_manifest(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Join shard manifests; conflicting entries (same path, other sha256) are errors and nothing is written."""
    entries = merge_manifests(Path(p) for p in args.inputs)
    target = Path(args.out)
    write_manifest(target, entries)
    print(f"leafgen: merged {len(args.inputs)} manifest(s), {len(entries)} PDF(s): {manifest_file(target)}", file=out)
    return 0


COMMANDS = {"build": cmd_build, "list": cmd_list, "check": cmd_check, "i18n": cmd_i18n}
COMMANDS["manifest"] = cmd_manifest


def cmd_email(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from leafgen.cli import email  # smtplib, ssl, sqlite3 and tqdm load only for this command

    return email.command(args, out, err)


COMMANDS["email"] = cmd_email


def cmd_serve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    # Flask, waitress and PDFium load only for this command: every other command stays quick to start.
    try:
        from leafgen.desk.server import serve
    except ImportError as e:
        raise LeafgenError(
            f"the desk needs its extra packages ({e.name} is missing): pip install -e '.[desk]'"
        ) from None

    if not 0 <= args.port < 65536 or args.workers < 1 or not args.email_wait > 0:
        raise LeafgenError("--port must be 0-65535, --workers at least 1 and --email-wait more than 0 seconds")
    return serve(
        _project(args),
        args.host,
        args.port,
        _desk_data(args),
        Path(args.outbox) if args.outbox else None,
        Path(args.journal) if args.journal else None,
        args.allow_host,
        args.workers,
        args.email_wait,
        out,
    )


def _desk_data(args: argparse.Namespace) -> Path:
    """The desk's own folder: beside the project's other output, whatever folder the command runs from."""
    return Path(args.data) if args.data else _project(args).root / "out" / "desk"


def cmd_staff(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from leafgen.desk.staff import accounts_path, add_account, load_accounts, remove_account

    data = _desk_data(args)
    if args.action == "list":
        for name in sorted(load_accounts(data)):
            print(name, file=out)
        return 0
    if not args.name:
        raise LeafgenError(f"leafgen staff {args.action} needs a NAME")
    if args.action == "remove":
        remove_account(data, args.name)
        print(f"leafgen: removed staff account {args.name!r}", file=out)
        return 0
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"Password for {args.name}: ")
        if getpass.getpass("Same password again: ") != password:
            raise LeafgenError("the two passwords differ: nothing changed")
    replaced = add_account(data, args.name, password)
    print(
        f"leafgen: {'changed the password of' if replaced else 'added'} staff account {args.name!r} "
        f"in {accounts_path(data)}",
        file=out,
    )
    return 0


COMMANDS["serve"] = cmd_serve
COMMANDS["staff"] = cmd_staff
