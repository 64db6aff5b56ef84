"""Email leaflets to patients: build each message, write it to the outbox (dry run) or send it exactly once.

One message per recipient (a --to patient, a CSV row, a desk form) with all of that patient's PDFs attached, its
subject and body from the email templates in the patient's language, refused like a build when the translation
has gaps. This is the engine: it takes plain arguments, reports progress through a callback and returns a
Summary (or one Outcome); it never prints. The command line (cli/email.py) and the desk call it alike.

The send journal (SQLite, see journal.py) belongs to the project: by default PROJECT/out/outbox/journal.sqlite,
whatever the current folder, so the same list rerun against the same project never mails a patient twice.
Each delivery goes pending → trying → sending → sent | deferred | failed | uncertain. 'sending' is committed just
before the final "." of DATA, the point of no return: a sender killed before it leaves the delivery to be sent by
the next run; one killed after it leaves the delivery 'uncertain' (it may have arrived), never resent by itself:
leafgen prefers at most once to at least once for patient mail; retry_uncertain resends such messages with the
same Message-ID, so a duplicate can be recognised.

A temporary refusal (4xx) of one message does not hold up the list: the delivery is 'deferred' and retried after
the rest has gone (retry_delay, doubled each round, `retries` rounds); if the server still refuses it stays
deferred, for a rerun later (greylisting typically clears after 5 to 30 minutes). A failed connection (refused,
421, dropped before the message was complete) says nothing about a message: it is reconnected at once the first
time, then with the same backoff, and stops the batch when the server stays unreachable.

Outcome notes never carry a patient's address, name or the server's reply text (which often quotes the address):
those go to the journal, and report() returns them for `leafgen email --report`.
"""

from __future__ import annotations

import heapq
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from email.headerregistry import Address
from pathlib import Path

from leafgen.content.profile import clinic
from leafgen.errors import ErrorList, LeafgenError, MailError, TranslationError
from leafgen.mail.addresses import check_name
from leafgen.mail.journal import AT_MOST_ONCE, HOLDING, JOURNAL, OPEN_STATES, Holder, Journal
from leafgen.mail.message import DRY_RUN_SENDER, Composer, new_message_id
from leafgen.mail.recipients import Recipient, Unit, message_key
from leafgen.mail.smtp import Mailer, Permanent, SmtpConfig, Temporary, Uncertain, parse_sender
from leafgen.project import Project, write_atomic

OUTBOX = Path("out") / "outbox"  # inside the project


@dataclass(frozen=True)
class Outcome:
    """What happened to one recipient in this run.

    status: sent (this run) | written (dry run: .eml in the outbox) | skipped (sent by an earlier run) |
    failed (refused for good: 5xx, or the message could not be built) | deferred (temporarily refused, still after
    the retries: rerun later) | uncertain (this run sent it and no confirmation came) | held (uncertain from an
    earlier run, not resent) | pending (not tried: the batch stopped first).
    """

    recipient: Recipient
    status: str
    note: str = ""  # safe for the console: no address, name or server text
    resent: bool = False  # an uncertain delivery sent again on request (retry_uncertain)


@dataclass
class Summary:
    """Every recipient's outcome, in list order, and why the batch stopped early if it did."""

    dry_run: bool
    journal: Path
    outbox: Path | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    stopped: str = ""  # the server or its settings failed: the rest of the list was not tried
    retry_after: float = 0.0  # seconds: when a rerun for the deferred deliveries makes sense

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def ok(self) -> bool:
        """Every recipient has the message (or, in a dry run, its .eml): nothing for a person to do."""
        return not self.stopped and all(o.status in ("sent", "written", "skipped") for o in self.outcomes)


@dataclass
class SendOptions:
    rate: float = 0.0  # messages a minute, 0 = no limit
    retries: int = 3  # rounds for deferred deliveries, and reconnections after a failed connection
    retry_delay: float = 5.0  # seconds before the first retry, doubled each time
    retry_uncertain: bool = False
    lock_wait: float = 0.0  # seconds to wait for another sender holding the journal (the desk: a double click)


# --- where things live ---------------------------------------------------------------------------------------


def _writable(path: Path) -> bool:
    """Whether `path` (a folder) exists writable or could be created: its nearest existing ancestor is writable."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate.is_dir() and os.access(candidate, os.W_OK | os.X_OK)
    return False


def journal_path(project: Project, explicit: str | Path | None = None, *, for_writing: bool = True) -> Path:
    """The send journal: the one given, else the project's own (PROJECT/out/outbox/journal.sqlite).

    Never relative to the current folder: a rerun from another folder must find the same journal, or it would mail
    every patient again. A project folder that cannot be written (the content shipped inside an installed package)
    cannot hold it: then the journal must be named, and named the same on every run.
    """
    if explicit is not None:
        return Path(explicit).absolute()
    path = project.root / OUTBOX / JOURNAL
    if for_writing and not _writable(path.parent):
        raise MailError(
            "the project folder is not writable, so it cannot hold the send journal: pass --journal PATH "
            "(the same PATH on every run, or patients already sent to are mailed again)",
            project.root,
        )
    return path


def outbox_path(project: Project, explicit: str | Path | None = None) -> Path:
    """The folder for dry-run .eml files: the one given, else the project's out/outbox."""
    if explicit is not None:
        return Path(explicit).absolute()
    path = project.root / OUTBOX
    if not _writable(path):
        raise MailError("the project folder is not writable: pass --outbox DIR for the dry-run messages", project.root)
    return path


def sender_for(project: Project, settings: SmtpConfig | None) -> Address:
    """The From address: the SMTP settings', else the clinic's own (a dry run needs no server), else a placeholder."""
    profile = clinic(project)
    if settings is not None and settings.sender:
        return parse_sender(settings.sender, profile["name"], settings.where("from"))
    if profile.get("email"):
        return parse_sender(profile["email"], profile["name"], str(project.clinic_path))
    return Address(check_name(profile["name"], "clinic name"), addr_spec=DRY_RUN_SENDER)


# --- running a batch -----------------------------------------------------------------------------------------


def run(
    project: Project,
    recipients: list[Recipient],
    journal: Path,
    *,
    settings: SmtpConfig | None = None,
    send: bool = True,
    outbox: Path | None = None,
    options: SendOptions | None = None,
    on_progress: Callable[[Outcome], None] | None = None,
) -> Summary:
    """Send each recipient's message once (or, without settings or with send=False, write it to the outbox).

    `on_progress` is called with each recipient's final outcome, as it is known. Raises MailError for settings
    that cannot work (before anything is sent); a server that fails mid-list ends the run with Summary.stopped.
    """
    opts = options or SendOptions()
    if opts.rate < 0 or opts.retries < 0 or opts.retry_delay < 0:
        raise MailError("--rate, --retries and --retry-delay cannot be negative")
    progress = on_progress or (lambda o: None)
    start = time.perf_counter()
    if settings is None or not send:
        composer = Composer(project, sender_for(project, settings))
        box = outbox if outbox is not None else outbox_path(project)
        summary = _dry_run(composer, recipients, box, journal, progress, opts.retry_uncertain)
    else:
        settings.check()
        composer = Composer(project, sender_for(project, settings))
        summary = _send(composer, recipients, settings, journal, opts, progress)
    summary.seconds = time.perf_counter() - start
    return summary


def send_one(
    project: Project,
    recipient: Recipient,
    settings: SmtpConfig | None,
    journal: Path,
    *,
    outbox: Path | None = None,
    options: SendOptions | None = None,
) -> Outcome:
    """One patient (the desk's form), through the same journal as the lists: a second submit sends nothing.

    Without SMTP settings this is a dry run into the outbox. A second call for PDFs the patient already has (same
    address, leaflet, language and kind, whatever else was asked for with them) while the first is still sending
    waits for it (lock_wait, default 30 s) and then finds it sent: 'skipped'; a call asking for more sends only
    the rest. A server failure is returned as 'pending' with its reason.
    """
    opts = options or SendOptions(retries=0, lock_wait=30.0)
    summary = run(project, [recipient], journal, settings=settings, outbox=outbox, options=opts)
    if summary.stopped:  # the server's fault, not the patient's: say why (no patient data in it)
        return Outcome(recipient, "pending", summary.stopped)
    return summary.outcomes[0]


# --- what goes: each PDF once per patient --------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """The message a request needs now, or (no key) why none: skipped (the patient has it all) or held."""

    key: str = ""
    units: tuple[Unit, ...] = ()
    status: str = ""
    note: str = ""

    def recipient(self, r: Recipient) -> Recipient:
        """`r`, attaching only this message's PDFs."""
        return r if self.units == r.units else replace(r, attach=self.units)

    def note_for(self, r: Recipient) -> str:
        if len(self.units) == len(r.units):
            return ""
        return f"{len(self.units)} of {len(r.units)} PDFs: an earlier message carried the others"


def plan(journal: Journal | None, r: Recipient) -> Plan:
    """Which of the PDFs asked for go in this run's message: those no message carried (or may have) to the patient.

    The journal counts PDFs (address x leaflet x language x kind), not messages: the desk's handout and then a list
    with the handout and the checklist send the checklist alone. A request all carried already is skipped, or held
    while a message that carried part of it is uncertain; when every PDF left sits in one message not known to be
    sent (uncertain, or refused after being uncertain), that message is the request's, tried as before.
    """
    held = journal.holders(r.email, r.lang) if journal is not None else {}
    free = tuple(u for u in r.units if u not in held)
    if free:
        return Plan(message_key(r.email, r.lang, free), free)
    assert journal is not None
    owners = {held[u].key: held[u].state for u in r.units}
    for key, state in owners.items():
        row = journal.get(key)
        if state != "sent" and row is not None and set(journal.units(row)) <= set(r.units):
            return Plan(key, journal.units(row))
    if all(state == "sent" for state in owners.values()):
        return Plan(status="skipped", note="already sent")
    return Plan(status="held", note=HELD)


def _short(e: LeafgenError, lang: str) -> str:
    """A console-safe one-line reason for a message that could not be built."""
    errors = e.errors if isinstance(e, ErrorList) else [e]
    if all(isinstance(x, TranslationError) for x in errors):
        return f"translation into {lang!r} incomplete ({len(errors)} gap(s)): not sent in English"
    first = str(errors[0]).splitlines()[0]
    return first + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else "")


HELD = "uncertain since an earlier run (it may have been delivered): not resent; see --report"


def _dry_run(
    composer: Composer,
    recipients: list[Recipient],
    outbox: Path,
    journal_file: Path,
    report: Callable[[Outcome], None],
    retry_uncertain: bool,
) -> Summary:
    """Write each message to the outbox as .eml; the journal is only read (to skip what a send would skip)."""
    summary = Summary(dry_run=True, journal=journal_file, outbox=outbox)
    journal = Journal.open_readonly(journal_file)
    try:
        for r in recipients:
            p = plan(journal, r)
            row = journal.get(p.key) if journal and p.key else None
            state = row["state"] if row is not None else "pending"
            if not p.key:
                outcome = Outcome(r, p.status, p.note)
            elif state == "sent":
                outcome = Outcome(r, "skipped", "already sent")
            elif state in ("sending", "uncertain") and not retry_uncertain:
                outcome = Outcome(r, "held", HELD)
            else:
                message_id = row["message_id"] if row is not None else new_message_id(composer.sender)
                try:
                    msg = composer.message(p.recipient(r), message_id)
                except LeafgenError as e:
                    outcome = Outcome(r, "failed", _short(e, r.lang))
                else:
                    name = f"{Path(r.source).stem}-row{r.row:04d}" if r.row else "to"
                    # The patient's name and address: readable by the owner only, like the journal.
                    write_atomic(outbox / f"{name}-{r.key[:8]}.eml", msg.as_bytes(), private=True)
                    outcome = Outcome(r, "written", p.note_for(r))
            summary.outcomes.append(outcome)
            report(outcome)
    finally:
        if journal:
            journal.close()
    return summary


class _Stop(Exception):  # noqa: N818 - control flow, not an error of the caller's
    """The server cannot be reached or refuses every message: stop the batch, keep the rest pending."""


def _send(
    composer: Composer,
    recipients: list[Recipient],
    cfg: SmtpConfig,
    journal_file: Path,
    opts: SendOptions,
    report: Callable[[Outcome], None],
) -> Summary:
    summary = Summary(dry_run=False, journal=journal_file)
    journal = Journal.open_for_send(journal_file, wait=opts.lock_wait)
    mailer = Mailer(cfg)
    throttle = _throttle(opts.rate)
    done: dict[str, Outcome] = {}
    # Deferred deliveries wait here: (not before, list position, rounds so far, recipient).
    later: list[tuple[float, int, int, Recipient]] = []
    deferred: set[str] = set()  # keys deferred in this run and not settled yet
    last_deferral = [0.0]

    def settle(o: Outcome) -> None:
        done[o.recipient.key] = o
        report(o)

    def attempt(i: int, r: Recipient, rounds: int) -> None:
        o = _attempt(composer, r, journal, mailer, opts, throttle)
        if o.status == "deferred" and rounds < opts.retries:
            deferred.add(r.key)
            heapq.heappush(later, (time.monotonic() + opts.retry_delay * 2**rounds, i, rounds + 1, r))
            return
        if o.status == "deferred":
            last_deferral[0] = opts.retry_delay * 2**rounds
        settle(o)

    try:
        # Every delivery is in the journal before the first is sent, so a stopped run shows what is left.
        journal.db.execute("BEGIN IMMEDIATE")
        for r in recipients:
            p = plan(journal, r)
            if p.key:
                journal.prepare(r, p.key, p.units, lambda: new_message_id(composer.sender))
        journal.db.execute("COMMIT")
        for i, r in enumerate(recipients):
            attempt(i, r, 0)
        # Then the deferred ones, each no sooner than its backoff allows: the rest of the list never waits for them.
        while later:
            not_before, i, rounds, r = heapq.heappop(later)
            wait = not_before - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            attempt(i, r, rounds)
    except (_Stop, MailError) as e:  # the server or its settings, not one recipient
        mailer.drop()
        summary.stopped = e.message if isinstance(e, MailError) else str(e)
    except BaseException:  # Ctrl-C: leave at once, without waiting for the server to say goodbye
        mailer.drop()
        raise
    else:
        mailer.close()
    finally:
        journal.close()
    for r in recipients:
        if r.key in done:
            summary.outcomes.append(done[r.key])
        else:  # the batch stopped first: deferred ones stay deferred, the others pending
            status = "deferred" if r.key in deferred else "pending"
            o = Outcome(r, status, "the batch stopped before it was sent")
            summary.outcomes.append(o)
            report(o)
    # A greylisting server typically lets the same message through 5 to 30 minutes after its first refusal.
    summary.retry_after = max(15 * 60.0, last_deferral[0]) if summary.count("deferred") else 0.0
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


def attempts(n: int) -> str:
    return f"{n} attempt" if n == 1 else f"{n} attempts"


def _attempt(
    composer: Composer, r: Recipient, journal: Journal, mailer: Mailer, opts: SendOptions, throttle: Callable[[], None]
) -> Outcome:
    """One recipient, once: sent, or deferred, failed, uncertain; reconnecting (not deferring) after a lost line.

    Only the PDFs the patient does not have yet go (plan); the message's journal row is keyed by them.
    """
    p = plan(journal, r)
    if not p.key:
        return Outcome(r, p.status, p.note)
    key = p.key
    row = journal.prepare(r, key, p.units, lambda: new_message_id(composer.sender))
    if row["state"] == "sent":
        return Outcome(r, "skipped", "already sent")
    resend = row["state"] == "uncertain"
    if resend and not opts.retry_uncertain:
        return Outcome(r, "held", HELD)
    try:
        data = composer.message(p.recipient(r), row["message_id"]).as_bytes()
    except LeafgenError as e:
        journal.finish(key, "failed", str(e))
        return Outcome(r, "failed", _short(e, r.lang))
    states = ("pending", "deferred", "failed") + (("uncertain",) if opts.retry_uncertain else ())
    lost = 0  # connections that failed before the message was complete, for this message
    while True:
        before = journal.get(key)
        assert before is not None
        throttle()
        if not journal.claim(key, states):
            return Outcome(r, "skipped", "claimed elsewhere")
        try:
            reply = mailer.deliver(data, composer.sender.addr_spec, r.email, lambda: journal.point_of_no_return(key))
        except Temporary as e:
            if not e.connection:  # this message, refused for now: after the rest of the list
                journal.release(key)
                journal.finish(key, "deferred", f"temporarily refused: {e.detail}")
                return Outcome(r, "deferred", f"{e.note}: refused for now")
            # Nothing reached the patient and nothing was said about this message: the row stays as it was (an
            # earlier 550 keeps its reason), the attempt goes into its history.
            journal.restore(key, before["state"], before["error"], e.detail)
            lost += 1
            if lost > opts.retries:
                if e.connect:
                    raise _Stop(f"{e.detail} (gave up after {attempts(lost)})") from None
                journal.finish(key, "deferred", f"{e.detail} (connection lost {lost} times)")
                return Outcome(r, "deferred", f"{e.note}, {lost} times")
            if lost > 1:  # the first reconnection at once: a server closing an idle connection is routine
                time.sleep(opts.retry_delay * 2 ** (lost - 2))
            continue
        except Permanent as e:
            journal.release(key)
            journal.finish(key, "failed", e.detail)
            return Outcome(r, "failed", e.note)
        except Uncertain as e:
            journal.finish(key, "uncertain", e.detail)
            return Outcome(r, "uncertain", e.note, resent=resend)
        except BaseException as e:  # a setup error, or Ctrl-C: nothing lost, nothing sent twice
            why = (
                f"stopped: {e}"
                if isinstance(e, LeafgenError)
                else "interrupted (Ctrl-C)"
                if isinstance(e, KeyboardInterrupt)
                else f"interrupted: {type(e).__name__}"
            )
            now = journal.get(key)
            if now is not None and now["state"] == "sending":  # past the point of no return
                journal.finish(key, "uncertain", f"{why} after the whole message went out: it may have arrived")
            else:
                journal.restore(key, before["state"], before["error"], f"{why} before the message was complete")
            raise
        journal.finish(key, "sent", detail=reply)
        return Outcome(r, "sent", p.note_for(r), resent=resend)


# --- the report ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    at: str
    outcome: str
    detail: str


@dataclass(frozen=True)
class Delivery:
    """One journal row that needs a person's attention, with patient details: for --report only, never logs."""

    where: str  # CSV file:row, or 'command line'
    state: str
    reason: str  # the last meaningful reason: a server's answer about this message, a build failure
    email: str
    name: str
    leaflets: str
    kinds: str
    lang: str
    attempts: int
    message_id: str
    updated: str
    history: tuple[Attempt, ...]


@dataclass
class Report:
    journal: Path
    counts: dict[str, int]
    open: list[Delivery]
    policy: str = AT_MOST_ONCE

    @property
    def ok(self) -> bool:
        """Nothing failed, deferred, uncertain or pending: a scheduled job can rely on this."""
        return not self.open


def report(journal_file: Path) -> Report:
    """Every delivery that is not yet sent, with its CSV row and attempt history."""
    journal = Journal.open_readonly(journal_file)
    if journal is None:
        raise MailError("no send journal: nothing has been sent with --send for this project yet", journal_file)
    try:
        everything = journal.rows()
        # A message not sent whose every PDF another message carried since (the list after a refused desk email)
        # needs nobody: the patient has it all.
        superseded = {
            r["key"]
            for r in everything
            if r["state"] not in HOLDING and _carried_by_others(journal, r, journal.holders(r["email"], r["lang"]))
        }
        rows = [r for r in everything if r["key"] not in superseded]
        history = {r["key"]: journal.history(r["key"]) for r in rows if r["state"] != "sent"}
    finally:
        journal.close()
    counts = {s: sum(r["state"] == s for r in rows) for s in ("sent", "failed", "deferred", "uncertain", "pending")}
    counts["pending"] += sum(r["state"] in ("trying",) for r in rows)
    counts["uncertain"] += sum(r["state"] in ("sending",) for r in rows)
    if superseded:
        counts["superseded"] = len(superseded)
    open_rows = [
        Delivery(
            where=f"{r['source']}:{r['row']}" if r["row"] else r["source"],
            state={"trying": "pending", "sending": "uncertain"}.get(r["state"], r["state"]),
            reason=r["error"] or "not attempted yet",
            email=r["email"],
            name=r["name"],
            leaflets=r["leaflets"],
            kinds=r["kinds"],
            lang=r["lang"],
            attempts=r["attempts"],
            message_id=r["message_id"],
            updated=r["updated"],
            history=tuple(Attempt(h["at"], h["outcome"], h["detail"]) for h in history[r["key"]]),
        )
        for r in rows
        if r["state"] in OPEN_STATES
    ]
    return Report(journal_file, counts, open_rows)


def _carried_by_others(journal: Journal, row: sqlite3.Row, held: dict[Unit, Holder]) -> bool:
    units = journal.units(row)
    return bool(units) and all(u in held and held[u].key != row["key"] for u in units)
