"""The `leafgen` command: parse arguments, call the pipeline, print results. No logic of its own."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TextIO

KINDS = ("handout", "checklist")
PAPERS = ("a4", "letter")


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="leafgen",
        description="Print-ready, translated patient leaflets: handouts and checklists as PDF.",
        epilog="Run 'leafgen COMMAND --help' for a command's options.",
    )
    p.add_argument("--version", action="version", version=f"leafgen {_version()}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.add_argument("--project", metavar="DIR", help="folder with leaflets/, templates/, translations/ "
                        "and clinic.yaml (default: current folder, else the shipped content)")
        return sp

    b = command("build", "Build PDFs for leaflets in every language, kind and paper asked for.")
    b.add_argument("leaflets", nargs="*", metavar="LEAFLET_ID", help="leaflets to build (default: all)")
    b.add_argument("--out", default="out", metavar="DIR", help="output folder (default: out)")
    b.add_argument("--lang", default="all", metavar="CODES", help="comma-separated languages, or 'all' (default)")
    b.add_argument("--kind", default=",".join(KINDS), type=_csv, metavar="KINDS", help="handout,checklist (default: both)")
    b.add_argument("--paper", type=_csv, metavar="PAPERS", help="a4,letter (default: the clinic's default paper)")
    b.add_argument("--large-print", action="store_true", help="large print: body 16 pt, headings larger")
    b.add_argument("--fillable", action="store_true", help="checklist with fillable check boxes (for email)")
    b.add_argument("--allow-fallback", action="store_true",
                   help="build incomplete translations anyway, English for the missing parts and a banner on every page")
    b.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, metavar="N",
                   help="parallel workers (default: number of cores)")
    b.add_argument("--force", action="store_true", help="rebuild even PDFs whose inputs have not changed")
    b.add_argument("--shard", metavar="K/N", help="build only the K-th of N disjoint slices of the work")

    lst = command("list", "List leaflets and languages with their status.")
    lst.set_defaults()
    command("check", "Validate every leaflet, template, theme and catalog without building; report reading level.")

    i = command("i18n", "Translation workflow: extract, init, update, compile, status.")
    i.add_argument("action", choices=("extract", "init", "update", "compile", "status"))
    i.add_argument("--lang", "-l", metavar="LOCALE", help="locale for 'init' (e.g. es, zh_Hans)")
    return p


def _version() -> str:
    from leafgen import __version__

    return __version__


def main(argv: list[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run one command; user errors print one line each and exit 1, never a traceback."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    args = _parser().parse_args(argv)
    from leafgen.errors import LeafgenError

    try:
        from leafgen.commands import COMMANDS

        return COMMANDS[args.command](args, out, err)
    except LeafgenError as e:
        print(f"leafgen: error: {e}".replace("\n", "\nleafgen: error: "), file=err)
        return 1
    except KeyboardInterrupt:
        print("leafgen: interrupted", file=err)
        return 130


def project_arg(args: argparse.Namespace) -> Path | None:
    return Path(args.project) if args.project else None
