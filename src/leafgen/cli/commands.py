"""What each `leafgen` command does, given parsed arguments; imported only after --help is handled."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from leafgen.build.executor import Outcome, build
from leafgen.build.manifest import manifest_file, merge_manifests, write_manifest
from leafgen.build.plan import plan, shard
from leafgen.content.profile import clinic, theme
from leafgen.content.readability import GRADE_CEILING, reading_level
from leafgen.content.schema import load_disclaimer, load_leaflet
from leafgen.errors import ErrorList, LeafgenError
from leafgen.i18n.catalogs import catalog_path
from leafgen.i18n.extract import run_pybabel
from leafgen.i18n.locales import language_name
from leafgen.i18n.status import check_catalog, status
from leafgen.project import SOURCE_LANG, Project, find_project
from leafgen.render.templating import check_templates


def _project(args: argparse.Namespace) -> Project:
    return find_project(Path(args.project) if args.project else None)


def _langs(project: Project, spec: str) -> list[str]:
    shipped = project.languages()
    if spec == "all":
        return shipped
    langs = [v.strip() for v in spec.split(",") if v.strip()]
    for lang in langs:
        if lang not in shipped:
            raise LeafgenError(f"unknown language {lang!r} (shipped: {', '.join(shipped)})", project.translations_dir)
    return langs


def cmd_build(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    project = _project(args)
    leaflets = args.leaflets or [p.stem for p in project.leaflet_paths()]
    papers = args.paper or [clinic(project)["default_paper"]]
    jobs = plan(project, leaflets, _langs(project, args.lang), args.kind, papers, args.large_print, args.fillable)
    if args.shard:
        jobs = shard(jobs, args.shard)
    out_dir = Path(args.out)
    bar = _progress(len(jobs), err)

    def on_done(o: Outcome) -> None:
        if o.error:
            (bar.write if bar else lambda s: print(s, file=err))(_error_lines(o))
        if bar:
            bar.update(1)

    summary = build(
        project,
        jobs,
        out_dir,
        allow_fallback=args.allow_fallback,
        force=args.force,
        workers=max(1, args.jobs),
        on_done=on_done,
    )
    if bar:
        bar.close()
    fallback = sum(bool(o.entry and o.entry.get("fallback")) for o in summary.outcomes if o.status == "built")
    note = f" ({fallback} with English fallback, marked on every page)" if fallback else ""
    print(f"leafgen: {summary.line()}{note}; manifest: {out_dir / 'manifest.json'}", file=out)
    return 0 if summary.ok else 1


REFUSED_SHOWN = 8  # a language with nothing translated would otherwise print every unit


def _error_lines(o: Outcome) -> str:
    lines = o.error.splitlines()
    if o.status == "refused" and len(lines) > REFUSED_SHOWN:
        more = len(lines) - REFUSED_SHOWN
        lines = lines[:REFUSED_SHOWN] + [f"... and {more} more (to list them all: leafgen i18n status --verbose)"]
    return f"leafgen: {o.status}: " + "\n  ".join(lines)


def _progress(total: int, err: TextIO):  # noqa: ANN202 - tqdm or None
    """A progress bar for people at a terminal; logs and CI get only the summary line."""
    if total < 2 or not (hasattr(err, "isatty") and err.isatty()):
        return None
    from tqdm import tqdm

    return tqdm(total=total, file=err, unit="pdf", leave=False)


def cmd_list(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    project = _project(args)
    print("Leaflets:", file=out)
    for path in project.leaflet_paths():
        leaflet, _ = load_leaflet(path)
        d = leaflet.document
        print(f"  {leaflet.id}  {leaflet.title!r}  v{d.version} {d.status}, review due {d.review}", file=out)
    print("Languages:", file=out)
    for lang in project.languages():
        if lang == SOURCE_LANG:
            print(f"  {lang:8} {language_name(lang)}  (source language)", file=out)
            continue
        st = status(project, lang)
        print(f"  {lang:8} {language_name(lang)}  {st.line()}", file=out)
    return 0


def cmd_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    project = _project(args)
    errors: list[LeafgenError] = []

    def attempt(fn, *a):  # noqa: ANN001, ANN202
        try:
            return fn(*a)
        except ErrorList as e:
            errors.extend(e.errors)
        except LeafgenError as e:
            errors.append(e)
        return None

    for path in project.leaflet_paths():
        result = attempt(load_leaflet, path)
        if result is None:
            continue
        leaflet, warnings = result
        for w in warnings:
            print(f"leafgen: warning: {w}", file=err)
        grade, ease = reading_level(leaflet)
        flag = f"  (above grade {GRADE_CEILING:g}: simplify)" if grade > GRADE_CEILING else ""
        print(f"{leaflet.id}: reading grade {grade:.1f}, reading ease {ease:.1f}{flag}", file=out)
        if grade > GRADE_CEILING:
            print(f"leafgen: warning: {path}: reading grade {grade:.1f} is above {GRADE_CEILING:g}", file=err)
    attempt(load_disclaimer, project.disclaimer_path)
    attempt(clinic, project)
    attempt(theme, project)
    attempt(check_templates, project.templates_dir)
    for lang in project.languages()[1:]:
        before = len(errors)
        attempt(check_catalog, project, lang)
        if len(errors) == before:
            st = status(project, lang)
            if not st.complete:  # the build gate will refuse it; say so before anyone builds
                print(f"leafgen: warning: {catalog_path(project, lang)}: {st.line()}", file=err)
    for e in errors:
        print(f"leafgen: error: {e}", file=err)
    n = len(project.leaflet_paths())
    print(f"leafgen: checked {n} leaflet(s), {len(project.languages())} language(s): {len(errors)} error(s)", file=out)
    return 1 if errors else 0


def cmd_i18n(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    project = _project(args)
    if args.action == "status":
        incomplete = 0
        for lang in project.languages()[1:]:
            st = status(project, lang)
            incomplete += not st.complete
            print(f"{lang:8} {st.line()}", file=out)
            if args.verbose:
                for gap in st.gaps:
                    print(f"    {gap}", file=out)
        return 1 if incomplete else 0
    return run_pybabel(project, args.action, args.lang, out)


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

    if not 0 <= args.port < 65536 or args.workers < 1:
        raise LeafgenError("--port must be 0-65535 and --workers at least 1")
    return serve(
        _project(args),
        args.host,
        args.port,
        _desk_data(args),
        Path(args.outbox) if args.outbox else None,
        Path(args.journal) if args.journal else None,
        args.allow_host,
        args.workers,
        out,
    )


def _desk_data(args: argparse.Namespace) -> Path:
    """The desk's own folder: beside the project's other output, whatever folder the command runs from."""
    return Path(args.data) if args.data else _project(args).root / "out" / "desk"


def cmd_staff(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import getpass  # only here: asking for a password is this command's job alone

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
