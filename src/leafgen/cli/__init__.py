"""The `leafgen` command: parse arguments, call the pipeline, print results. No logic of its own."""

from __future__ import annotations

import argparse
import gc
import os
import sys
import traceback
from typing import TextIO

from leafgen import __version__
from leafgen.cli.messages import internal_error_hint
from leafgen.errors import LeafgenError
from leafgen.project import PAPERS


def _csv(value: str) -> list[str]:
    """A comma-separated list; an empty one (`--paper ,`) is a mistake, not a request for the default."""
    values = [v.strip() for v in value.split(",") if v.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, not {value!r}")
    return values


def _jobs(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def _debug(argv: list[str] | None) -> bool:
    args = sys.argv[1:] if argv is None else argv
    return "--debug" in args or os.environ.get("LEAFGEN_DEBUG", "") not in ("", "0")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="leafgen",
        description="Print-ready, translated patient leaflets: handouts and checklists as PDF.",
        epilog="Run 'leafgen COMMAND --help' for a command's options.",
    )
    p.add_argument("--version", action="version", version=f"leafgen {__version__}")
    p.add_argument(
        "--debug", action="store_true", help="show the traceback of an internal error (also: LEAFGEN_DEBUG=1)"
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        sp.add_argument(
            "--project",
            metavar="DIR",
            help="folder with leaflets/, templates/, translations/ "
            "and clinic.yaml (default: current folder, else the shipped content)",
        )
        return sp

    b = command("build", "Build PDFs for leaflets in every language, kind and paper asked for.")
    b.add_argument("leaflets", nargs="*", metavar="LEAFLET_ID", help="leaflets to build (default: all)")
    b.add_argument("--out", default="out", metavar="DIR", help="output folder (default: out)")
    # extend: `--lang ko --lang hi` builds both (argparse's default would keep only the last, silently).
    b.add_argument(
        "--lang", action="extend", type=_csv, metavar="CODES", help="comma-separated languages, or 'all' (default)"
    )
    b.add_argument("--kind", action="extend", type=_csv, metavar="KINDS", help="handout,checklist (default: both)")
    b.add_argument(
        "--paper", action="extend", type=_csv, metavar="PAPERS", help="a4,letter (default: the clinic's default paper)"
    )
    b.add_argument("--large-print", action="store_true", help="large print: body 16 pt, headings larger")
    b.add_argument("--fillable", action="store_true", help="checklist with fillable check boxes (for email)")
    b.add_argument(
        "--allow-fallback",
        action="store_true",
        help="build incomplete translations anyway, English for the missing parts and a banner on every page",
    )
    b.add_argument(
        "--jobs",
        "-j",
        type=_jobs,
        default=os.cpu_count() or 1,
        metavar="N",
        help="parallel workers, at most one per PDF to build (default: number of cores)",
    )
    b.add_argument("--force", action="store_true", help="rebuild even PDFs whose inputs have not changed")
    b.add_argument("--shard", metavar="K/N", help="build only the K-th of N disjoint slices of the work")

    lst = command("list", "List leaflets and languages with their status.")
    lst.set_defaults()
    c = command(
        "check",
        "Find every error a build would hit without writing a PDF: validate every source and catalog, then "
        "render every leaflet in every language, kind, paper and print size in memory; report reading level.",
    )
    c.add_argument("--allow-fallback", action="store_true", help="accept incomplete translations, as build would")
    c.add_argument("--jobs", "-j", type=_jobs, default=os.cpu_count() or 1, metavar="N", help="parallel workers")

    i = command("i18n", "Translation workflow: extract, init, update, compile, status.")
    i.add_argument("action", choices=("extract", "init", "update", "compile", "status"))
    i.add_argument("--lang", "-l", metavar="LOCALE", help="locale for 'init' (e.g. es, zh_Hans)")
    i.add_argument("--verbose", "-v", action="store_true", help="with 'status': list every unit that is not ready")

    m = sub.add_parser(
        "manifest",
        help="Merge the manifests of sharded builds (build --shard K/N) into one.",
        description="Merge the manifests of sharded builds (leafgen build --shard K/N --out DIR_K) into one. "
        "OUT and each INPUT are a manifest .json file or an out folder holding manifest.json. The same PDF "
        "path in two inputs must have the same sha256, else nothing is written and the conflicts are listed. "
        "Example: leafgen manifest merge out out-1 out-2 out-3",
    )
    m.add_argument("action", choices=("merge",))
    m.add_argument("out", metavar="OUT", help="manifest to write (a .json file, or a folder: FOLDER/manifest.json)")
    m.add_argument("inputs", nargs="+", metavar="INPUT", help="shard manifests (.json files or out folders)")

    e = command(
        "email",
        "Email leaflets as PDF attachments to one patient (--to) or a CSV list (--recipients), "
        "in the patient's language. A dry run into the outbox unless --send.",
    )
    e.formatter_class = argparse.RawDescriptionHelpFormatter
    e.epilog = EMAIL_EPILOG
    who = e.add_mutually_exclusive_group(required=True)
    who.add_argument("--to", metavar="ADDRESS", help="one patient's email address")
    who.add_argument("--recipients", metavar="FILE.csv", help="a list of patients, one message per row (see below)")
    who.add_argument(
        "--report",
        action="store_true",
        help="print every failed, deferred, uncertain or pending delivery in the journal, with its CSV row and "
        "attempts; exit 1 while there is any",
    )
    e.add_argument("--name", metavar="NAME", help="with --to: the patient's name, for the greeting and To: header")
    e.add_argument("--leaflet", type=_csv, metavar="IDS", help="with --to: leaflet id(s), comma-separated")
    e.add_argument("--lang", metavar="LANG", help="with --to: the patient's language (e.g. es, ar, zh_Hans)")
    e.add_argument(
        "--kind",
        action="extend",
        type=_csv,
        metavar="KINDS",
        help="handout,checklist (default: both; the checklist is the fillable one); a list's default",
    )
    e.add_argument("--paper", choices=PAPERS, help="a4 or letter (default: the clinic's); a list's default")
    e.add_argument("--large-print", action="store_true", help="large print PDFs; a list's default")
    e.add_argument("--send", action="store_true", help="really send, by SMTP (default: dry run, .eml files only)")
    e.add_argument("--outbox", metavar="DIR", help="folder for dry-run .eml files (default: PROJECT/out/outbox)")
    e.add_argument(
        "--journal",
        metavar="PATH",
        help="send journal, SQLite (default: PROJECT/out/outbox/journal.sqlite, whatever the current folder; "
        "required when the project folder is not writable)",
    )
    e.add_argument("--smtp-config", metavar="FILE", help="TOML file with the SMTP settings below (lowercase keys)")
    e.add_argument("--rate", type=float, default=0, metavar="N", help="send at most N messages a minute")
    e.add_argument(
        "--retries",
        type=int,
        default=3,
        metavar="N",
        help="after a temporary refusal (4xx), tries again this many times once the rest of the list has gone; "
        "after a lost connection, reconnects this many times (the first at once); default 3",
    )
    e.add_argument(
        "--retry-delay",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="wait before the first retry, doubled for each next one (default: 5)",
    )
    e.add_argument(
        "--retry-uncertain",
        action="store_true",
        help="resend messages the journal marks uncertain (same Message-ID); check them first",
    )
    _desk_commands(command)
    return p


def _desk_commands(command) -> None:  # noqa: ANN001 - the subparser factory above
    """`serve` (the clinic desk, a web page) and `staff` (its accounts)."""
    s = command(
        "serve",
        "Open the clinic desk: a web page to find, preview, personalise, print and email leaflets.",
    )
    s.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this computer only; "
        "any other needs staff accounts, and then everyone signs in)",
    )
    s.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    s.add_argument(
        "--data", metavar="DIR", help="staff accounts and the record of handouts (default: PROJECT/out/desk)"
    )
    s.add_argument("--outbox", metavar="DIR", help="folder for dry-run .eml files (default: PROJECT/out/outbox)")
    s.add_argument(
        "--journal",
        metavar="PATH",
        help="send journal, shared with leafgen email (default: PROJECT/out/outbox/journal.sqlite)",
    )
    s.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="another host name the desk is reached by (e.g. desk.clinic.lan); repeatable",
    )
    s.add_argument("--workers", type=int, default=2, metavar="N", help="PDF rendering processes (default 2)")
    s.add_argument(
        "--email-wait",
        type=float,
        default=120,
        metavar="SECONDS",
        help="how long the page waits for the mail server before saying the message is still on its way (default 120)",
    )
    a = command("staff", "Manage the desk's staff accounts (passwords stored as scrypt hashes).")
    a.add_argument("action", choices=("add", "remove", "list"))
    a.add_argument("name", nargs="?", metavar="NAME", help="staff name, for add and remove")
    a.add_argument(
        "--data",
        metavar="DIR",
        help="where the desk keeps its accounts (default: PROJECT/out/desk)",
    )
    a.add_argument("--password-stdin", action="store_true", help="read the password from standard input")


EMAIL_EPILOG = """\
examples:
  leafgen email --to ADDRESS --name "Ann Lee" --leaflet ID --lang es     dry run: out/outbox/*.eml
  leafgen email --recipients patients.csv --send --rate 30
  leafgen email --report

recipients list: CSV in UTF-8 (a byte-order mark is fine), a header row, then one patient per row.
  columns: email, lang, leaflet (required); name, kind, paper, large_print (yes/no) (optional);
  other columns (phone, notes, ...) are ignored with a warning. A name cannot hold '<', '>' or '@'.
  Several leaflets or kinds in one cell: separate them with ';' or spaces. Every PDF of a row goes
  in one message. Every bad row is reported, with its row number (as a spreadsheet shows it: the
  header is row 1), before anything is built or sent.

SMTP settings (for --send): environment variables, or the same keys in lowercase in a TOML file
given by --smtp-config (environment variables win):
  LEAFGEN_SMTP_HOST       the server
  LEAFGEN_SMTP_PORT       default 587 (starttls), 465 (ssl), 25 (none)
  LEAFGEN_SMTP_SECURITY   starttls (default), ssl, or none (none only for a loopback host)
  LEAFGEN_SMTP_USER       login, if the server wants one
  LEAFGEN_SMTP_PASSWORD   never printed or logged
  LEAFGEN_SMTP_FROM       sender, e.g. "Riverside Clinic <leaflets@riverside.example>"
  LEAFGEN_SMTP_CAFILE     extra CA certificates to trust (PEM); certificates are always verified
  LEAFGEN_SMTP_TIMEOUT    seconds to wait for the server (default 30)
  e.g. smtp.toml:   host = "smtp.riverside.example"
                    from = "Riverside Clinic <leaflets@riverside.example>"

exactly once: the project's journal (PROJECT/out/outbox/journal.sqlite, or --journal) records every
delivery (patient, leaflets, language, kinds) with its state, Message-ID and attempts; rerunning a
list, from any folder, sends only what was not delivered.
  deferred   the server refused it for now (4xx, e.g. greylisting): retried after the rest of the
             list, then left for a rerun; rerun the same command later (exit status 75).
  failed     refused for good (5xx) or could not be built: fix the address or translation, rerun.
  uncertain  cut off after the whole message reached the server, before it answered: it may have
             arrived, so it is not sent again (at most once); check, then --retry-uncertain resends
             it with the same Message-ID.
--report lists them all and exits 1 while any is left.
Nothing on the console names a patient: addresses and server replies are in --report only.
"""


def main(argv: list[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run one command; user errors print one line each and exit 1; a bug says so (traceback with --debug)."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    args = _parser().parse_args(argv)
    args.debug = debug = _debug(argv)
    try:
        return _commands()[args.command](args, out, err)
    except LeafgenError as e:
        print(f"leafgen: error: {e}".replace("\n", "\nleafgen: error: "), file=err)
        return 1
    except KeyboardInterrupt:
        print("leafgen: interrupted", file=err)
        return 130
    except BrokenPipeError:  # `leafgen ... | head`: the reader left, which is not an error of ours
        # As the Python docs advise: point stdout at devnull so the flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # a bug in leafgen, not a mistake of the user's: say so, and how to see more
        if debug:
            traceback.print_exc(file=err)
        # An exception's text may quote what it was working on: in `leafgen email`, a patient's address.
        shown = "" if args.command == "email" else f": {e}"
        print(f"leafgen: internal error: {type(e).__name__}{shown}", file=err)
        print(internal_error_hint(debug), file=err)
        return 1


def _commands() -> dict:
    """The commands, loaded after argument parsing, so `leafgen --help` does not load ReportLab (~0.2 s).

    On first use, the garbage collector pauses while the pipeline's modules load, then freezes them: they live
    as long as the process, yet every full collection scanned them all again (~30 ms of a one-PDF build, plus
    the collections during the imports themselves). Later calls (tests, a script) find them loaded.
    """
    first = "leafgen.cli.commands" not in sys.modules and gc.isenabled()
    if first:
        gc.disable()
    try:
        from leafgen.cli.commands import COMMANDS
    finally:
        if first:
            gc.freeze()
            gc.enable()
    return COMMANDS
