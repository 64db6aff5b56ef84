"""Email leaflets to patients: build each message, write it to the outbox (dry run) or send it exactly once.

One message per recipient (a --to patient or a CSV row) with all of that patient's PDFs attached, its subject and
body from the email templates in the patient's language, refused like a build when the translation has gaps.

The send journal (SQLite) makes a list safe to rerun. Each delivery goes pending → sending → sent | failed, and
"sending" is committed before the message is handed to the server. A delivery cut off after the whole message
reached the server but before its answer was recorded (a killed process, a connection lost at that moment) may or
may not have arrived: it becomes "uncertain" and is never resent automatically. leafgen prefers at most once to
at least once for patient mail; --retry-uncertain resends such messages with the same Message-ID, so a duplicate
can be recognised.

Console output never carries a patient's address, name or the server's reply text (which often quotes the
address): those go to the journal, and `leafgen email --report` shows them on request.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.headerregistry import Address
from pathlib import Path
from typing import Any, TextIO

from leafgen.content.profile import clinic
from leafgen.errors import ErrorList, LeafgenError, MailError, TranslationError
from leafgen.mail.journal import AT_MOST_ONCE, JOURNAL, Journal
from leafgen.mail.message import DRY_RUN_SENDER, Composer, new_message_id
from leafgen.mail.recipients import (
    Recipient,
    check_name,
    read_csv,
    single,
)
from leafgen.mail.smtp import (
    Mailer,
    Permanent,
    SmtpConfig,
    Temporary,
    Uncertain,
    load_config,
    parse_sender,
)
from leafgen.project import Project, write_atomic

# --- running a batch -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    recipient: Recipient
    status: str  # sent | written | failed | skipped | uncertain
    note: str = ""  # safe for the console: no address, name or server text


@dataclass
class Summary:
    dry_run: bool
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def ok(self) -> bool:
        return not (self.count("failed") or self.count("uncertain"))

    def line(self) -> str:
        done = f"{self.count('written')} written" if self.dry_run else f"{self.count('sent')} sent"
        parts = [done, f"{self.count('failed')} failed", f"{self.count('skipped')} skipped (already sent)"]
        if self.count("uncertain"):
            parts.append(f"{self.count('uncertain')} uncertain (not resent)")
        return f"{', '.join(parts)} in {self.seconds:.1f} s"


def _short(e: LeafgenError, lang: str) -> str:
    """A console-safe one-line reason for a message that could not be built."""
    errors = e.errors if isinstance(e, ErrorList) else [e]
    if all(isinstance(x, TranslationError) for x in errors):
        return f"translation into {lang!r} incomplete ({len(errors)} gap(s)): not sent in English"
    first = str(errors[0]).splitlines()[0]
    return first + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else "")


def dry_run(
    composer: Composer,
    recipients: list[Recipient],
    outbox: Path,
    journal_path: Path,
    on_done: Callable[[Outcome], None],
    retry_uncertain: bool = False,
) -> Summary:
    """Write each message to the outbox as .eml; the journal is only read (to skip what --send would skip)."""
    summary = Summary(dry_run=True)
    journal = Journal.open_readonly(journal_path)
    try:
        for r in recipients:
            row = journal.get(r.key) if journal else None
            state = row["state"] if row is not None else "pending"
            if state == "sent":
                outcome = Outcome(r, "skipped", "already sent")
            elif state in ("sending", "uncertain") and not retry_uncertain:
                outcome = Outcome(r, "uncertain", "may have been delivered before an interruption: not resent")
            else:
                message_id = row["message_id"] if row is not None else new_message_id(composer.sender)
                try:
                    msg = composer.message(r, message_id)
                except LeafgenError as e:
                    outcome = Outcome(r, "failed", _short(e, r.lang))
                else:
                    name = f"{Path(r.source).stem}-row{r.row:04d}" if r.row else "to"
                    write_atomic(outbox / f"{name}-{r.key[:8]}.eml", msg.as_bytes())
                    outcome = Outcome(r, "written")
            summary.outcomes.append(outcome)
            on_done(outcome)
    finally:
        if journal:
            journal.close()
    return summary


@dataclass
class SendOptions:
    rate: float = 0.0  # messages a minute, 0 = no limit
    retries: int = 3
    retry_delay: float = 5.0  # seconds before the first retry, doubled each time
    retry_uncertain: bool = False


def send(
    composer: Composer,
    recipients: list[Recipient],
    cfg: SmtpConfig,
    journal_path: Path,
    opts: SendOptions,
    on_done: Callable[[Outcome], None],
) -> Summary:
    summary = Summary(dry_run=False)
    journal = Journal.open_for_send(journal_path)
    mailer = Mailer(cfg)
    throttle = _throttle(opts.rate)
    try:
        # Every delivery is in the journal before the first is sent, so a stopped run shows what is left.
        journal.db.execute("BEGIN IMMEDIATE")
        for r in recipients:
            journal.prepare(r, lambda: new_message_id(composer.sender))
        journal.db.execute("COMMIT")
        for r in recipients:
            outcome = _send_one(composer, r, journal, mailer, opts, throttle)
            summary.outcomes.append(outcome)
            on_done(outcome)
    except MailError as e:  # the server or its settings, not one recipient: stop, say how far it got
        mailer.drop()
        sent = summary.count("sent")
        raise MailError(f"{e.message}; stopped after {sent} sent, rerun to send the rest", e.path, e.line) from None
    except BaseException:  # Ctrl-C: leave at once, without waiting for the server to say goodbye
        mailer.drop()
        raise
    else:
        mailer.close()
    finally:
        journal.close()
    return summary


def _throttle(rate: float) -> Callable[[], None]:
    interval = 60.0 / rate if rate > 0 else 0.0
    next_at = [0.0]

    def wait() -> None:
        now = time.monotonic()
        if next_at[0] > now:
            time.sleep(next_at[0] - now)
        next_at[0] = max(now, next_at[0]) + interval

    return wait


def _send_one(
    composer: Composer, r: Recipient, journal: Journal, mailer: Mailer, opts: SendOptions, throttle: Callable[[], None]
) -> Outcome:
    row = journal.prepare(r, lambda: new_message_id(composer.sender))
    if row["state"] == "sent":
        return Outcome(r, "skipped", "already sent")
    if row["state"] == "uncertain" and not opts.retry_uncertain:
        return Outcome(r, "uncertain", "may have been delivered before an interruption: not resent")
    try:
        data = composer.message(r, row["message_id"]).as_bytes()
    except LeafgenError as e:
        journal.finish(r.key, "failed", str(e))
        return Outcome(r, "failed", _short(e, r.lang))
    states = ("pending", "failed", "uncertain") if opts.retry_uncertain else ("pending", "failed")
    for attempt in range(opts.retries + 1):
        mailer.body_sent = False
        try:
            throttle()
            if not journal.claim(r.key, states):
                return Outcome(r, "skipped", "claimed elsewhere")
            mailer.deliver(data, composer.sender.addr_spec, r.email)
        except Temporary as e:
            if attempt < opts.retries:
                journal.finish(r.key, "pending", f"temporary failure, retrying: {e.detail}")
                time.sleep(opts.retry_delay * 2**attempt)
                continue
            if e.connect:  # the server is unreachable: stop the batch, keep this one pending
                journal.finish(r.key, "pending", e.detail)
                raise MailError(f"{e.detail} (gave up after {attempt + 1} attempts)") from None
            journal.finish(r.key, "failed", f"temporary failure, gave up after {attempt + 1} attempts: {e.detail}")
            return Outcome(r, "failed", f"{e.note}, gave up after {attempt + 1} attempts")
        except Permanent as e:
            journal.finish(r.key, "failed", e.detail)
            return Outcome(r, "failed", e.note)
        except Uncertain as e:
            journal.finish(r.key, "uncertain", e.detail)
            return Outcome(r, "uncertain", e.note)
        except BaseException as e:  # a setup error, or Ctrl-C: nothing lost, nothing sent twice
            state = "uncertain" if mailer.body_sent else "pending"
            journal.finish(
                r.key,
                state,
                f"stopped: {e}"
                if isinstance(e, LeafgenError)
                else "interrupted (Ctrl-C)"
                if isinstance(e, KeyboardInterrupt)
                else f"interrupted: {type(e).__name__}",
            )
            raise
        journal.finish(r.key, "sent")
        return Outcome(r, "sent")
    raise AssertionError("unreachable")


# --- the command ---------------------------------------------------------------------------------------------


def report(journal_path: Path, out: TextIO) -> int:
    """Every delivery that needs a person's attention, with its CSV row; patient details are shown here only."""
    journal = Journal.open_readonly(journal_path)
    if journal is None:
        raise MailError(
            "no send journal: nothing has been sent with --send here (see --journal / --outbox)", journal_path
        )
    try:
        rows = journal.rows()
    finally:
        journal.close()
    counts = {s: sum(r["state"] == s for r in rows) for s in ("sent", "failed", "uncertain", "pending", "sending")}
    for r in rows:
        if r["state"] == "sent":
            continue
        where = f"{r['source']}:{r['row']}" if r["row"] else r["source"]
        lines = (r["error"] or "not attempted yet").splitlines()
        print(f"{where}: {r['state']}: {lines[0]}", file=out)
        for extra in lines[1:]:
            print(f"    {extra}", file=out)
        print(
            f"    to {r['email']}"
            + (f" ({r['name']})" if r["name"] else "")
            + f"; {r['leaflets']} [{r['kinds']}] in {r['lang']}; attempts {r['attempts']}; "
            f"Message-ID {r['message_id']}; last change {r['updated']}",
            file=out,
        )
    shown = ", ".join(f"{n} {state}" for state, n in counts.items() if n or state != "sending")
    print(f"leafgen: journal {journal_path}: {shown}", file=out)
    if counts["uncertain"] or counts["sending"]:
        print(f"leafgen: note: {AT_MOST_ONCE}", file=out)
    return 0


def command(args: argparse.Namespace, project: Project | None, out: TextIO, err: TextIO) -> int:
    """`leafgen email`: validate everything first, then write the outbox or send."""
    outbox = Path(args.outbox)
    journal_path = Path(args.journal) if args.journal else outbox / JOURNAL
    if args.report:
        return report(journal_path, out)
    assert project is not None
    if args.rate < 0 or args.retries < 0 or args.retry_delay < 0:
        raise MailError("--rate, --retries and --retry-delay cannot be negative")
    if args.to is not None:
        recipients = [
            single(project, args.to, args.name, args.leaflet or [], args.lang, args.kind, args.paper, args.large_print)
        ]
    else:
        if args.name is not None or args.leaflet or args.lang:
            raise MailError("--name, --leaflet and --lang go with --to; a recipients list gives them per row")
        recipients = read_csv(project, Path(args.recipients), args.kind, args.paper, args.large_print)

    profile = clinic(project)
    cfg = load_config(Path(args.smtp_config) if args.smtp_config else None, os.environ)
    if args.send:
        cfg.check()
    if cfg.sender:
        sender = parse_sender(cfg.sender, profile["name"], cfg.where("from"))
    elif profile.get("email"):  # a dry run needs no server: the clinic's own address will do
        sender = parse_sender(profile["email"], profile["name"], str(project.clinic_path))
    else:  # or a placeholder that can never be delivered
        sender = Address(check_name(profile["name"], "clinic name"), addr_spec=DRY_RUN_SENDER)

    composer = Composer(project, sender)
    bar = _progress(len(recipients), err) if args.recipients else None

    def on_done(o: Outcome) -> None:
        if o.status in ("failed", "uncertain"):
            line = f"leafgen: {o.status}: {o.recipient.where}: {o.note}"
            bar.write(line, file=err) if bar else print(line, file=err)
        if bar:
            bar.update(1)

    start = time.perf_counter()
    try:
        if args.send:
            opts = SendOptions(args.rate, args.retries, args.retry_delay, args.retry_uncertain)
            summary = send(composer, recipients, cfg, journal_path, opts, on_done)
        else:
            summary = dry_run(composer, recipients, outbox, journal_path, on_done, args.retry_uncertain)
    finally:
        if bar:
            bar.close()
    summary.seconds = time.perf_counter() - start
    if args.send:
        print(f"leafgen: {summary.line()}; journal: {journal_path}", file=out)
    else:
        print(f"leafgen: dry run, nothing sent: {summary.line()}; outbox: {outbox} (add --send to send)", file=out)
    if not summary.ok:
        print(
            f"leafgen: details: leafgen email --report --journal {journal_path}"
            if args.send
            else "leafgen: fix the failed rows, or rerun after the translations are complete",
            file=err,
        )
    return 0 if summary.ok else 1


def _progress(total: int, err: TextIO) -> Any:
    """A progress bar for people at a terminal; logs and CI get only the summary."""
    if total < 2 or not (hasattr(err, "isatty") and err.isatty()):
        return None
    from tqdm import tqdm

    return tqdm(total=total, file=err, unit="message", leave=False)
