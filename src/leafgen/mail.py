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
import contextlib
import ipaddress
import os
import re
import smtplib
import socket
import sqlite3
import ssl
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Any, TextIO

from leafgen import i18n
from leafgen.build import write_atomic
from leafgen.errors import ErrorList, LeafgenError, MailError, TranslationError
from leafgen.project import Project
from leafgen.recipients import CONTROL, Recipient, check_address, check_name, read_csv, single

JOURNAL = "journal.sqlite"
SECURITY = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
CONFIG_KEYS = ("host", "port", "security", "user", "password", "from", "cafile", "timeout")
ENV_PREFIX = "LEAFGEN_SMTP_"
# Lines of CRLF as SMTP wants them, and 7-bit bodies (quoted-printable or base64, whichever is shorter) so the
# message never depends on the server's 8BITMIME; non-ASCII headers become RFC 2047 encoded words.
POLICY = policy.SMTP.clone(cte_type="7bit")
DRY_RUN_SENDER = "no-reply@leafgen.invalid"
UNSAFE_FILENAME = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')

AT_MOST_ONCE = (
    "A message interrupted after it fully reached the mail server but before the server's answer was recorded "
    "is 'uncertain': it may have been delivered, so leafgen does not send it again by itself (at most once). "
    "Look for its Message-ID in the server's log or sent folder; 'leafgen email --retry-uncertain' resends it "
    "with the same Message-ID, so a duplicate can be recognised."
)


# --- SMTP settings -------------------------------------------------------------------------------------------


@dataclass
class SmtpConfig:
    host: str = ""
    port: int = 0
    security: str = "starttls"
    user: str = ""
    password: str = field(default="", repr=False)  # never printed, logged or journaled
    sender: str = ""
    cafile: str = ""
    timeout: float = 30.0
    origin: dict[str, str] = field(default_factory=dict)  # key -> env var or config file that set it

    def where(self, key: str) -> str:
        return self.origin.get(key, f"{ENV_PREFIX}{key.upper()}")

    def check(self) -> None:
        """Everything --send needs, before anything is rendered or sent."""
        if not self.host:
            raise MailError(f"no SMTP server: set {ENV_PREFIX}HOST (or 'host' in --smtp-config)")
        if self.security not in SECURITY:
            raise MailError(f"{self.where('security')}: security must be one of {', '.join(SECURITY)}, "
                            f"not {self.security!r}")
        if self.security == "none" and not is_loopback(self.host):
            raise MailError(f"{self.where('security')}: security 'none' sends patient mail unencrypted and is only "
                            f"allowed for a loopback host (localhost, 127.0.0.1, ::1), not {self.host!r}")
        if not 0 < self.port < 65536:
            raise MailError(f"{self.where('port')}: port must be 1-65535")
        if not self.sender:
            raise MailError(f"no sender: set {ENV_PREFIX}FROM (or 'from' in --smtp-config), "
                            "e.g. \"Riverside Clinic <leaflets@riverside.example>\"")
        if bool(self.user) != bool(self.password):
            raise MailError(f"{ENV_PREFIX}USER and {ENV_PREFIX}PASSWORD go together: set both or neither")
        if self.cafile and not Path(self.cafile).is_file():
            raise MailError(f"{self.where('cafile')}: CA file not found", self.cafile)
        if self.timeout <= 0:
            raise MailError(f"{self.where('timeout')}: timeout must be a positive number of seconds")


def is_loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def load_config(path: Path | None, environ: Mapping[str, str]) -> SmtpConfig:
    """Keys from the TOML file given by --smtp-config, then LEAFGEN_SMTP_* environment variables over them."""
    raw: dict[str, Any] = {}
    origin: dict[str, str] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise MailError("SMTP config file not found", path) from None
        except (OSError, UnicodeDecodeError) as e:
            raise MailError(f"cannot read SMTP config: {e}", path) from None
        except tomllib.TOMLDecodeError as e:
            raise MailError(f"broken TOML: {e}", path) from None
        if set(data) == {"smtp"} and isinstance(data["smtp"], dict):
            data = data["smtp"]  # a [smtp] table is fine too
        for key, value in data.items():
            if key not in CONFIG_KEYS:
                raise MailError(f"unknown key {key!r} (allowed: {', '.join(CONFIG_KEYS)})", path)
            raw[key], origin[key] = value, str(path)
    for key in CONFIG_KEYS:
        name = ENV_PREFIX + key.upper()
        if environ.get(name):
            raw[key], origin[key] = environ[name], name
    cfg = SmtpConfig(origin=origin)
    for key, value in raw.items():
        where = origin[key]
        if key in ("port", "timeout"):
            try:
                number = float(value) if key == "timeout" else int(value)
            except (TypeError, ValueError):
                raise MailError(f"{where}: {key} must be a number") from None
            setattr(cfg, key, number)
        elif not isinstance(value, str):
            raise MailError(f"{where}: {key} must be a string")
        else:
            setattr(cfg, "sender" if key == "from" else key, value.strip() if key != "password" else value)
    cfg.security = cfg.security.lower()
    if not cfg.port:
        cfg.port = DEFAULT_PORTS.get(cfg.security, 0)
    return cfg


def parse_sender(value: str, clinic_name: str, where: str) -> Address:
    """The From address; a bare address gets the clinic's name as its display name."""
    if CONTROL.search(value):
        raise MailError(f"{where}: the sender contains a line break or control character")
    name, addr = parseaddr(value)
    try:
        addr = check_address(addr)
        name = check_name(name or clinic_name, "sender name")
    except MailError as e:
        raise MailError(f"{where}: {e.message}") from None
    return Address(display_name=name, addr_spec=addr)


# --- the journal ---------------------------------------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    key TEXT PRIMARY KEY,            -- sha256 of (address, leaflets, lang, kinds): see Recipient.key
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    lang TEXT NOT NULL,
    leaflets TEXT NOT NULL,
    kinds TEXT NOT NULL,
    paper TEXT NOT NULL,
    large_print INTEGER NOT NULL,
    message_id TEXT NOT NULL,        -- fixed when first seen, reused by every retry and rerun
    state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'uncertain')),
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',  -- the last failure, server reply included
    source TEXT NOT NULL,            -- the CSV file (or 'command line') that last asked for it
    row INTEGER,                     -- its row in that file, as a spreadsheet numbers it
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    sent TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Journal:
    """What was sent to whom: every state change is committed before the next step (autocommit, synchronous)."""

    def __init__(self, path: Path, db: sqlite3.Connection, lock: int | None = None):
        self.path, self.db, self._lock = path, db, lock
        db.row_factory = sqlite3.Row

    @classmethod
    def open_for_send(cls, path: Path) -> Journal:
        """Open (or create) the journal for sending: one sending process at a time, stale sends made uncertain."""
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = _lock(path)
        try:
            if not path.exists():  # patient addresses: readable by the owner only
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            db = sqlite3.connect(path, isolation_level=None, timeout=30)
            db.execute("PRAGMA synchronous = FULL")
            db.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:
            _unlock(lock)
            raise MailError(f"send journal unusable: {e}", path) from None
        except BaseException:
            _unlock(lock)
            raise
        db.execute("INSERT OR REPLACE INTO meta VALUES ('policy', ?)", (AT_MOST_ONCE,))
        # Only one process holds the lock, so a row still 'sending' belongs to a run that was killed mid-send.
        db.execute(
            "UPDATE deliveries SET state = 'uncertain', updated = ?, error = ? WHERE state = 'sending'",
            (_now(), "interrupted while sending (process killed?): it may or may not have been delivered"),
        )
        return cls(path, db, lock)

    @classmethod
    def open_readonly(cls, path: Path) -> Journal | None:
        if not path.is_file():
            return None
        try:
            db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            db.execute("SELECT 1 FROM deliveries LIMIT 1")
        except sqlite3.DatabaseError as e:
            raise MailError(f"send journal unusable: {e}", path) from None
        return cls(path, db)

    def close(self) -> None:
        self.db.close()
        _unlock(self._lock)

    def get(self, key: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM deliveries WHERE key = ?", (key,)).fetchone()

    def prepare(self, r: Recipient, new_message_id: Callable[[], str]) -> sqlite3.Row:
        """The recipient's journal row, created as 'pending' with a Message-ID it keeps from now on."""
        now = _now()
        self.db.execute(
            "INSERT INTO deliveries (key, email, name, lang, leaflets, kinds, paper, large_print, message_id, state,"
            " source, row, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET name = excluded.name, paper = excluded.paper,"
            " large_print = excluded.large_print, source = excluded.source, row = excluded.row",
            (r.key, r.email, r.name, r.lang, " ".join(r.leaflets), " ".join(r.kinds), r.paper, int(r.large_print),
             new_message_id(), r.source, r.row, now, now),
        )
        row = self.get(r.key)
        assert row is not None
        return row

    def claim(self, key: str, states: tuple[str, ...]) -> bool:
        """Atomically mark a delivery 'sending' if it is in one of the given states."""
        marks = ", ".join("?" * len(states))
        cur = self.db.execute(
            f"UPDATE deliveries SET state = 'sending', attempts = attempts + 1, updated = ? "
            f"WHERE key = ? AND state IN ({marks})",
            (_now(), key, *states),
        )
        return cur.rowcount == 1

    def finish(self, key: str, state: str, error: str = "") -> None:
        now = _now()
        self.db.execute(
            "UPDATE deliveries SET state = ?, error = ?, updated = ?, sent = CASE WHEN ? = 'sent' THEN ? ELSE sent END"
            " WHERE key = ?",
            (state, error, now, state, now, key),
        )

    def rows(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM deliveries ORDER BY source, row, created").fetchall()


def _lock(path: Path) -> int | None:
    """An exclusive lock beside the journal, released by the OS even if the process is killed."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return None
    fd = os.open(f"{path}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise MailError("the send journal is in use by another 'leafgen email --send': wait for it to finish",
                        path) from None
    return fd


def _unlock(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


# --- building messages ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attachment:
    leaflet_title: str
    title: str  # as listed in the message body
    filename: str
    pdf: bytes


def attachment_filename(title: str) -> str:
    """A file name in the patient's own script, without characters that file systems or mail clients refuse."""
    name = " ".join(UNSAFE_FILENAME.sub(" ", title).split()).strip(" .")[:120].strip()
    return f"{name or 'leaflet'}.pdf"


class Composer:
    """Renders each distinct PDF once per run and builds one message per recipient."""

    def __init__(self, project: Project, sender: Address):
        self.project, self.sender = project, sender
        self._renders: dict[Any, Any] = {}

    def jobs(self, r: Recipient) -> list[Any]:
        from leafgen.jobs import Job

        return [
            Job(leaflet, r.lang, kind, r.paper, r.large_print, fillable=kind == "checklist")
            for leaflet in r.leaflets
            for kind in r.kinds
        ]

    def _render(self, job: Any) -> Any:
        from leafgen.pipeline import render_job

        if job not in self._renders:
            try:
                self._renders[job] = render_job(self.project, job)  # never a fallback: gaps are refused
            except LeafgenError as e:
                self._renders[job] = e
        found = self._renders[job]
        if isinstance(found, LeafgenError):
            raise found
        return found

    def attachments(self, r: Recipient) -> list[Attachment]:
        from leafgen.validate import load_leaflet

        out: list[Attachment] = []
        tr = i18n.translator(self.project, r.lang)
        for job in self.jobs(r):
            rendered = self._render(job)
            title = rendered.title
            if job.kind == "checklist":
                leaflet, _ = load_leaflet(self.project.leaflet_path(job.leaflet))
                title = f"{rendered.title} – {tr(leaflet.checklist.title, job.leaflet)}"
            filename = attachment_filename(title)
            taken = {a.filename for a in out}
            n = 2
            while filename in taken:
                filename = attachment_filename(f"{title} {n}")
                n += 1
            out.append(Attachment(rendered.title, title, filename, rendered.pdf))
        return out

    def message(self, r: Recipient, message_id: str) -> EmailMessage:
        """The whole message, or a LeafgenError (an untranslated string, a broken template) and nothing sent."""
        from leafgen.scripts import script_for
        from leafgen.templating import render_template

        attachments = self.attachments(r)
        tr = i18n.translator(self.project, r.lang)
        context: dict[str, Any] = {
            "title": ", ".join(dict.fromkeys(a.leaflet_title for a in attachments)),
            "clinic": self.project.clinic,
            "name": r.name,
            "attachments": [a.title for a in attachments],
            "fillable": "checklist" in r.kinds,
            "lang_tag": i18n.bcp47(r.lang),
            "direction": "rtl" if script_for(r.lang).rtl else "ltr",
        }
        tdir = self.project.templates_dir
        subject = render_template(tdir, "email_subject.txt.j2", context, tr).strip()
        context["subject"] = subject
        text = render_template(tdir, "email_body.txt.j2", context, tr)
        html = render_template(tdir, "email_body.html.j2", context, tr)
        tr.gate("email", allow_fallback=False)  # the same gate as builds: no silent English
        if CONTROL.search(subject):
            raise MailError("the subject would span several lines: check the leaflet title and the translation of "
                            "the subject line", tdir / "email_subject.txt.j2")

        msg = EmailMessage(policy=POLICY)
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = message_id
        msg["From"] = self.sender
        msg["To"] = Address(display_name=r.name, addr_spec=r.email)
        msg["Subject"] = subject
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        for a in attachments:
            msg.add_attachment(a.pdf, maintype="application", subtype="pdf", filename=a.filename)
        # Last: set_content() and add_attachment() move Content-* headers down into the parts they create.
        msg["Content-Language"] = i18n.bcp47(r.lang)
        return msg


def new_message_id(sender: Address) -> str:
    return make_msgid(domain=sender.domain or "leafgen.invalid")


# --- SMTP delivery -------------------------------------------------------------------------------------------


class Undelivered(Exception):  # noqa: N818 - an outcome, not a bug
    """The server did not take the message; `detail` may quote the address (journal only), `note` does not."""

    def __init__(self, note: str, detail: str = "", *, connect: bool = False):
        super().__init__(note)
        self.note, self.detail, self.connect = note, detail or note, connect


class Temporary(Undelivered):
    """4xx, a dropped connection or a timeout before the message was complete: safe to try again."""


class Permanent(Undelivered):
    """5xx for this recipient or this message: trying again will not help."""


class Uncertain(Undelivered):
    """The whole message was sent but no answer came: it may have been delivered."""


def _reply(code: int, resp: bytes | str) -> str:
    text = resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)
    return f"{code} {' '.join(text.split())}"


class Mailer:
    """One SMTP connection, reused across a batch and reopened after a drop; certificates always verified."""

    def __init__(self, cfg: SmtpConfig):
        self.cfg = cfg
        self.smtp: smtplib.SMTP | None = None
        self.body_sent = False

    @property
    def server(self) -> str:
        return f"{self.cfg.host}:{self.cfg.port}"

    def _tls(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        if self.cfg.cafile:
            ctx.load_verify_locations(cafile=self.cfg.cafile)
        return ctx

    def _connect(self) -> smtplib.SMTP:
        cfg, where = self.cfg, self.server
        smtp: smtplib.SMTP | None = None
        try:
            if cfg.security == "ssl":
                smtp = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=self._tls())
            else:
                smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
            smtp.ehlo()
            if cfg.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise MailError(f"SMTP server {where} does not offer STARTTLS: refusing to send patient mail "
                                    f"unencrypted ({ENV_PREFIX}SECURITY)")
                smtp.starttls(context=self._tls())
                smtp.ehlo()
            if cfg.user:
                smtp.login(cfg.user, cfg.password)
        except BaseException as e:
            if smtp is not None:
                with contextlib.suppress(Exception):
                    smtp.close()
            raise self._connect_error(e) from None
        return smtp

    def _connect_error(self, e: BaseException) -> BaseException:
        where = self.server
        if isinstance(e, ssl.SSLCertVerificationError):
            return MailError(f"TLS certificate of SMTP server {where} not trusted ({e.verify_message}): refusing to "
                             f"send; if the server uses a private CA, point {ENV_PREFIX}CAFILE at its certificate")
        if isinstance(e, ssl.SSLError):
            return MailError(f"TLS with SMTP server {where} failed: {e.reason or e}")
        if isinstance(e, smtplib.SMTPAuthenticationError):
            return MailError(f"SMTP server {where} refused the login for user {self.cfg.user!r}: "
                             f"{_reply(e.smtp_code, e.smtp_error)}")
        if isinstance(e, smtplib.SMTPNotSupportedError):
            return MailError(f"SMTP server {where}: {e}")
        if isinstance(e, smtplib.SMTPResponseException) and e.smtp_code >= 500:
            return MailError(f"SMTP server {where} refused the connection: {_reply(e.smtp_code, e.smtp_error)}")
        if isinstance(e, socket.gaierror):
            return MailError(f"cannot find SMTP server {self.cfg.host!r}: {e.strerror}")
        if isinstance(e, OSError):  # refused, reset, timed out, 4xx greeting
            return Temporary(f"cannot connect to SMTP server {where}: {e or type(e).__name__}", connect=True)
        return e

    def drop(self) -> None:
        if self.smtp is not None:
            with contextlib.suppress(Exception):
                self.smtp.close()
        self.smtp = None

    def close(self) -> None:
        if self.smtp is not None:
            with contextlib.suppress(Exception):
                self.smtp.quit()
        self.drop()

    def deliver(self, data: bytes, sender: str, rcpt: str) -> str:
        """Hand one message to the server; the server's reply, or Temporary, Permanent, Uncertain or MailError."""
        self.body_sent = False
        if self.smtp is None:
            self.smtp = self._connect()
        smtp = self.smtp
        try:
            code, resp = smtp.mail(sender)
            if code != 250:
                self._refused(code, resp, "MAIL FROM")
            code, resp = smtp.rcpt(rcpt)
            if code not in (250, 251):
                self._refused(code, resp, "RCPT TO")
            code, resp = smtp.docmd("DATA")
            if code != 354:
                self._refused(code, resp, "DATA")
            # smtplib's own data(), by hand, so we know whether the message was complete when a connection dies.
            body = re.sub(rb"(?m)^\.", b"..", data)
            if not body.endswith(b"\r\n"):
                body += b"\r\n"
            smtp.send(body + b".\r\n")
            self.body_sent = True
            code, resp = smtp.getreply()
        except OSError as e:  # SMTPServerDisconnected, reset, timeout
            self.drop()
            what = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            if self.body_sent:
                raise Uncertain("connection lost after the message was sent, before the server confirmed it",
                                f"connection lost after the message was sent ({what})") from None
            raise Temporary("connection lost", f"connection lost before the message was complete ({what})") from None
        if code == 250:
            return _reply(code, resp)
        if self.body_sent and not 400 <= code < 600:
            self.drop()
            raise Uncertain(f"unreadable answer {code} after the message was sent", _reply(code, resp))
        self._refused(code, resp, "end of DATA")
        raise AssertionError("unreachable")

    def _refused(self, code: int, resp: bytes, stage: str) -> None:
        reply = _reply(code, resp)
        if code == 421 or not 400 <= code < 600:  # the server is closing the connection
            self.drop()
            raise Temporary(f"SMTP {code} at {stage}", reply)
        if stage != "end of DATA":
            try:
                assert self.smtp is not None
                self.smtp.rset()
            except (OSError, AssertionError):
                self.drop()
        if code < 500:
            raise Temporary(f"SMTP {code} at {stage}", reply)
        if stage == "MAIL FROM":  # the sender is refused: every message would be
            raise MailError(f"SMTP server {self.server} refused the sender {self.cfg.sender!r}: {reply}")
        raise Permanent(f"SMTP {code} at {stage} (permanent)", reply)


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
    composer: Composer, recipients: list[Recipient], outbox: Path, journal_path: Path,
    on_done: Callable[[Outcome], None], retry_uncertain: bool = False,
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
    composer: Composer, recipients: list[Recipient], cfg: SmtpConfig, journal_path: Path, opts: SendOptions,
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
            journal.finish(r.key, state, f"stopped: {e}" if isinstance(e, LeafgenError) else "interrupted (Ctrl-C)"
                           if isinstance(e, KeyboardInterrupt) else f"interrupted: {type(e).__name__}")
            raise
        journal.finish(r.key, "sent")
        return Outcome(r, "sent")
    raise AssertionError("unreachable")


# --- the command ---------------------------------------------------------------------------------------------


def report(journal_path: Path, out: TextIO) -> int:
    """Every delivery that needs a person's attention, with its CSV row; patient details are shown here only."""
    journal = Journal.open_readonly(journal_path)
    if journal is None:
        raise MailError("no send journal: nothing has been sent with --send here (see --journal / --outbox)",
                        journal_path)
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
        print(f"    to {r['email']}" + (f" ({r['name']})" if r["name"] else "")
              + f"; {r['leaflets']} [{r['kinds']}] in {r['lang']}; attempts {r['attempts']}; "
              f"Message-ID {r['message_id']}; last change {r['updated']}", file=out)
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
        recipients = [single(project, args.to, args.name, args.leaflet or [], args.lang, args.kind, args.paper,
                             args.large_print)]
    else:
        if args.name is not None or args.leaflet or args.lang:
            raise MailError("--name, --leaflet and --lang go with --to; a recipients list gives them per row")
        recipients = read_csv(project, Path(args.recipients), args.kind, args.paper, args.large_print)

    cfg = load_config(Path(args.smtp_config) if args.smtp_config else None, os.environ)
    if args.send:
        cfg.check()
    if cfg.sender:
        sender = parse_sender(cfg.sender, project.clinic["name"], cfg.where("from"))
    elif project.clinic.get("email"):  # a dry run needs no server: the clinic's own address will do
        sender = parse_sender(project.clinic["email"], project.clinic["name"], str(project.clinic_path))
    else:  # or a placeholder that can never be delivered
        sender = Address(check_name(project.clinic["name"], "clinic name"), addr_spec=DRY_RUN_SENDER)

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
        print(f"leafgen: details: leafgen email --report --journal {journal_path}"
              if args.send else "leafgen: fix the failed rows, or rerun after the translations are complete", file=err)
    return 0 if summary.ok else 1


def _progress(total: int, err: TextIO) -> Any:
    """A progress bar for people at a terminal; logs and CI get only the summary."""
    if total < 2 or not (hasattr(err, "isatty") and err.isatty()):
        return None
    from tqdm import tqdm

    return tqdm(total=total, file=err, unit="message", leave=False)
