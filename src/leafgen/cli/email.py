"""`leafgen email`: arguments in, the mail engine run, counts and row numbers out (never a patient's details).

Exit status: 0 when every recipient has the message (or its .eml); 75 (EX_TEMPFAIL) when all that is left is
deferred, i.e. a rerun later will most likely send it; 1 for anything else a person must look at. `--report`
exits 1 while the journal holds any delivery that is failed, deferred, uncertain or pending.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from leafgen.errors import LeafgenError
from leafgen.mail.recipients import Recipient, read_csv, single
from leafgen.mail.send import Outcome, SendOptions, Summary, journal_path, outbox_path, report, run
from leafgen.mail.smtp import load_config
from leafgen.project import Project, find_project

EX_TEMPFAIL = 75  # sysexits.h: "temporary failure, try again later", as sendmail uses it
HISTORY_SHOWN = 5  # a row retried every night for a month would otherwise fill the screen


def command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`leafgen email`: validate everything first, then write the outbox or send."""
    if args.report:
        return print_report(args, out)
    project = _project(args)
    journal = journal_path(project, args.journal, for_writing=args.send)
    recipients = _recipients(args, project, err)
    settings = load_config(Path(args.smtp_config) if args.smtp_config else None, os.environ)
    outbox = None if args.send else outbox_path(project, args.outbox)
    options = SendOptions(args.rate, args.retries, args.retry_delay, args.retry_uncertain)
    bar = _progress(len(recipients), err) if args.recipients else None

    def on_progress(o: Outcome) -> None:
        if o.status in ("failed", "uncertain", "held", "deferred"):
            word = "uncertain" if o.status == "held" else o.status
            line = f"leafgen: {word}: {o.recipient.where}: {o.note}"
            bar.write(line, file=err) if bar else print(line, file=err)
        if bar:
            bar.update(1)

    try:
        summary = run(
            project,
            recipients,
            journal,
            settings=settings,
            send=args.send,
            outbox=outbox,
            options=options,
            on_progress=on_progress,
        )
    finally:
        if bar:
            bar.close()
    return _conclude(summary, out, err)


def _project(args: argparse.Namespace) -> Project:
    return find_project(Path(args.project) if args.project else None)


def _recipients(args: argparse.Namespace, project: Project, err: TextIO) -> list[Recipient]:
    if args.to is not None:
        return [
            single(project, args.to, args.name, args.leaflet or [], args.lang, args.kind, args.paper, args.large_print)
        ]
    if args.name is not None or args.leaflet or args.lang:
        raise LeafgenError("--name, --leaflet and --lang go with --to; a recipients list gives them per row")

    def warn(w: LeafgenError) -> None:
        print(f"leafgen: warning: {w}", file=err)

    return read_csv(project, Path(args.recipients), args.kind, args.paper, args.large_print, warn=warn)


def summary_line(summary: Summary) -> str:
    """What happened, in words that match it: a resent uncertain message is never called 'not resent'."""
    n = summary.count
    resent_sent = sum(o.status == "sent" and o.resent for o in summary.outcomes)
    resent_uncertain = sum(o.status == "uncertain" and o.resent for o in summary.outcomes)
    if summary.dry_run:
        parts = [f"{n('written')} written"]
    else:
        resent = f" ({resent_sent} of them resent after being uncertain)" if resent_sent else ""
        parts = [f"{n('sent')} sent{resent}"]
    parts += [f"{n('failed')} failed", f"{n('skipped')} skipped (already sent)"]
    if n("deferred"):
        parts.append(f"{n('deferred')} deferred (temporarily refused: rerun later)")
    if n("uncertain") - resent_uncertain:
        parts.append(f"{n('uncertain') - resent_uncertain} uncertain (sent, but the server did not confirm it)")
    if resent_uncertain:
        parts.append(f"{resent_uncertain} resent and uncertain again (the server did not confirm it)")
    if n("held"):
        parts.append(f"{n('held')} uncertain from an earlier run (not resent)")
    if n("pending"):
        parts.append(f"{n('pending')} not tried")
    return f"{', '.join(parts)} in {summary.seconds:.1f} s"


def _conclude(summary: Summary, out: TextIO, err: TextIO) -> int:
    if summary.dry_run:
        where = f"outbox: {summary.outbox} (add --send to send)"
        print(f"leafgen: dry run, nothing sent: {summary_line(summary)}; {where}", file=out)
    else:
        print(f"leafgen: {summary_line(summary)}; journal: {summary.journal}", file=out)
    if summary.stopped:
        sent = summary.count("sent")
        print(f"leafgen: error: {summary.stopped}; stopped after {sent} sent, rerun to send the rest", file=err)
        return 1
    if summary.ok:
        return 0
    if summary.dry_run and summary.count("failed"):
        print("leafgen: fix the failed rows, or rerun after the translations are complete", file=err)
        return 1
    deferred = summary.count("deferred")
    if deferred:
        at = datetime.now(UTC) + timedelta(seconds=summary.retry_after)
        print(
            f"leafgen: {deferred} deferred: the server refused them for now (a busy mailbox, or greylisting); "
            f"rerun the same command after {at:%H:%M} UTC to send them (nothing already sent is sent again)",
            file=err,
        )
    if any(o.status not in ("sent", "skipped", "deferred") for o in summary.outcomes):
        print(f"leafgen: details: leafgen email --report --journal {summary.journal}", file=err)
        return 1
    return EX_TEMPFAIL


def print_report(args: argparse.Namespace, out: TextIO) -> int:
    """Every delivery that needs a person, with its CSV row, reason and history; exit 1 while there is any."""
    journal = journal_path(_project(args), for_writing=False) if args.journal is None else Path(args.journal)
    rep = report(journal)
    for d in rep.open:
        lines = d.reason.splitlines()
        print(f"{d.where}: {d.state}: {lines[0]}", file=out)
        for extra in lines[1:]:
            print(f"    {extra}", file=out)
        print(
            f"    to {d.email}"
            + (f" ({d.name})" if d.name else "")
            + f"; {d.leaflets} [{d.kinds}] in {d.lang}; attempts {d.attempts}; "
            f"Message-ID {d.message_id}; last change {d.updated}",
            file=out,
        )
        if len(d.history) > HISTORY_SHOWN:
            print(f"    ... {len(d.history) - HISTORY_SHOWN} earlier attempt(s)", file=out)
        for h in d.history[-HISTORY_SHOWN:]:
            print(f"    {h.at} {h.outcome}: {h.detail}", file=out)
    shown = ", ".join(f"{n} {state}" for state, n in rep.counts.items())
    print(f"leafgen: journal {rep.journal}: {shown}", file=out)
    if rep.counts["uncertain"]:
        print(f"leafgen: note: {rep.policy}", file=out)
    if rep.counts["deferred"]:
        print(
            "leafgen: note: 'deferred' means the server refused the message for now (4xx): rerun the same send "
            "later (15 minutes or more); it is sent then, and nothing already sent is sent again.",
            file=out,
        )
    return 0 if rep.ok else 1


def _progress(total: int, err: TextIO) -> Any:
    """A progress bar for people at a terminal; logs and CI get only the summary."""
    if total < 2 or not (hasattr(err, "isatty") and err.isatty()):
        return None
    return tqdm(total=total, file=err, unit="message", leave=False)
