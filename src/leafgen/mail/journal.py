"""Remember every delivery in SQLite, so a list can be rerun after a crash without sending twice."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from leafgen.errors import MailError
from leafgen.mail.recipients import Recipient, Unit

JOURNAL = "journal.sqlite"

AT_MOST_ONCE = (
    "A message interrupted after it fully reached the mail server but before the server's answer was recorded "
    "is 'uncertain': it may have been delivered, so leafgen does not send it again by itself (at most once). "
    "Look for its Message-ID in the server's log or sent folder; 'leafgen email --retry-uncertain' resends it "
    "with the same Message-ID, so a duplicate can be recognised."
)

# The states of a delivery. 'trying' and 'sending' only exist while a sender runs: 'trying' until the point of no
# return (just before the final "." of DATA; a server discards a transaction that never got it), 'sending' after.
# So a killed sender leaves 'trying' (nothing can have arrived: pending again) or 'sending' (it may have: uncertain).
STATES = ("pending", "trying", "sending", "sent", "deferred", "failed", "uncertain")
# What a person (or a scheduled job) has to look at: --report lists these and exits non-zero while any remain.
OPEN_STATES = ("pending", "trying", "sending", "deferred", "failed", "uncertain")
# A delivery in these states may have carried its PDFs to the patient: they are in `delivered` under its key.
HOLDING = ("sending", "sent", "uncertain")
VERSION = 3  # 3: the `delivered` table (what each patient has, PDF by PDF) and deliveries.units

# --- the journal ---------------------------------------------------------------------------------------------

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS deliveries (
    key TEXT PRIMARY KEY,            -- sha256 of (address, lang, the PDFs it carries): see message_key
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    lang TEXT NOT NULL,
    leaflets TEXT NOT NULL,
    kinds TEXT NOT NULL,
    paper TEXT NOT NULL,
    large_print INTEGER NOT NULL,
    message_id TEXT NOT NULL,        -- fixed when first seen, reused by every retry and rerun
    state TEXT NOT NULL CHECK (state IN ({", ".join(f"'{s}'" for s in STATES)})),
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',  -- the last meaningful reason (a server's answer about this message, a
                                     -- build failure), never overwritten by an outage that says nothing about it
    source TEXT NOT NULL,            -- the CSV file (or 'command line') that last asked for it
    row INTEGER,                     -- its row in that file, as a spreadsheet numbers it
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    sent TEXT
);
CREATE TABLE IF NOT EXISTS attempts (    -- every try and its outcome, oldest first: the history --report shows
    key TEXT NOT NULL REFERENCES deliveries (key),
    at TEXT NOT NULL,
    outcome TEXT NOT NULL,           -- sent | deferred | failed | uncertain | pending (nothing reached the server)
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_key ON attempts (key);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS delivered (   -- each PDF that reached (or may have reached) a patient, and by which message
    email TEXT NOT NULL,             -- lower case, as in the keys
    lang TEXT NOT NULL,
    leaflet TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL REFERENCES deliveries (key),
    at TEXT NOT NULL,
    PRIMARY KEY (email, lang, leaflet, kind)  -- one message per PDF and patient, ever: never a second copy
);
CREATE INDEX IF NOT EXISTS delivered_key ON delivered (key);
"""
# Version 3 adds to deliveries (after the columns above, so a version 1 journal still copies in as it is):
#   units TEXT NOT NULL DEFAULT ''   -- the PDFs it carries, "leaflet/kind" separated by spaces


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a journal written by an older leafgen to this schema, keeping every row (version 1 had fewer states)."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version >= VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    old = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'deliveries'").fetchone()
    if old and version < 2:
        db.execute("ALTER TABLE deliveries RENAME TO deliveries_v1")
    for statement in SCHEMA.split(";"):  # one by one: executescript() would COMMIT the transaction
        if statement.strip():
            db.execute(statement)
    if old and version < 2:
        db.execute("INSERT INTO deliveries SELECT * FROM deliveries_v1")
        db.execute("DROP TABLE deliveries_v1")
    if "units" not in {c[1] for c in db.execute("PRAGMA table_info(deliveries)")}:
        db.execute("ALTER TABLE deliveries ADD COLUMN units TEXT NOT NULL DEFAULT ''")
    # Before version 3 a row was one message of each of its leaflets in each of its kinds: what it carried (or may
    # have) is each of those PDFs, which must never go to that patient again.
    rows = db.execute(
        "SELECT key, email, lang, leaflets, kinds, state, updated FROM deliveries WHERE units = ''"
        " ORDER BY created, rowid"
    ).fetchall()
    for key, email, lang, leaflets, kinds, state, updated in rows:
        units = _product(leaflets, kinds)
        db.execute("UPDATE deliveries SET units = ? WHERE key = ?", (_format(units), key))
        if state in HOLDING:
            for leaflet, kind in units:
                db.execute(
                    "INSERT OR IGNORE INTO delivered VALUES (?, ?, ?, ?, ?, ?)",
                    (email.lower(), lang, leaflet, kind, key, updated),
                )
    db.execute(f"PRAGMA user_version = {VERSION}")
    db.execute("COMMIT")


def _product(leaflets: str, kinds: str) -> tuple[Unit, ...]:
    return tuple((lf, kind) for lf in leaflets.split() for kind in kinds.split())


def _format(units: tuple[Unit, ...]) -> str:
    return " ".join(f"{lf}/{kind}" for lf, kind in units)


def _parse(units: str) -> tuple[Unit, ...]:
    return tuple((u.rsplit("/", 1)[0], u.rsplit("/", 1)[1]) for u in units.split())


@dataclass(frozen=True)
class Holder:
    """The delivery that carried (or may have carried) a PDF to a patient."""

    key: str
    state: str


class Journal:
    """What was sent to whom: every state change is committed before the next step (autocommit, synchronous)."""

    def __init__(self, path: Path, db: sqlite3.Connection, lock: int | None = None):
        self.path, self.db, self._lock = path, db, lock
        db.row_factory = sqlite3.Row

    @classmethod
    def open_for_send(cls, path: Path, wait: float = 0.0) -> Journal:
        """Open (or create) the journal for sending: one sender at a time, a killed sender's rows settled.

        `wait`: seconds to wait for another sender to finish (the desk's second click), 0 to refuse at once.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = _lock(path, wait)
        try:
            if not path.exists():  # patient addresses: readable by the owner only
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            db = sqlite3.connect(path, isolation_level=None, timeout=30)
            db.execute("PRAGMA synchronous = FULL")
            _migrate(db)
        except sqlite3.DatabaseError as e:
            _unlock(lock)
            raise MailError(f"send journal unusable: {e}", path) from None
        except BaseException:
            _unlock(lock)
            raise
        db.execute("INSERT OR REPLACE INTO meta VALUES ('policy', ?)", (AT_MOST_ONCE,))
        journal = cls(path, db, lock)
        # Only one process holds the lock, so a row still 'trying' or 'sending' belongs to a sender that was killed.
        for state, after, note in (
            ("trying", "pending", "interrupted before the message was complete: not delivered, sent on the next run"),
            ("sending", "uncertain", "interrupted after the whole message went out: it may have been delivered"),
        ):
            for row in db.execute("SELECT key, error FROM deliveries WHERE state = ?", (state,)).fetchall():
                journal._log(row["key"], after, note)
                # 'pending' keeps the last meaningful reason (e.g. an earlier 4xx); 'uncertain' is itself one.
                journal.finish(row["key"], after, row["error"] if after == "pending" else note, log=False)
        return journal

    @classmethod
    def open_readonly(cls, path: Path) -> Journal | None:
        # Empty: a sender killed between creating the file and its tables (the next --send makes them): nothing sent.
        if not path.is_file() or path.stat().st_size == 0:
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

    def units(self, row: sqlite3.Row) -> tuple[Unit, ...]:
        """The PDFs a delivery carries (a journal from before version 3, read-only: each leaflet in each kind)."""
        columns = row.keys()  # a Row's `in` looks at its values, not its columns
        return _parse(row["units"]) if "units" in columns and row["units"] else _product(row["leaflets"], row["kinds"])

    def holders(self, email: str, lang: str) -> dict[Unit, Holder]:
        """Each PDF that reached (or may have reached) this patient in this language, with its message."""
        if self._has("delivered"):
            rows = self.db.execute(
                "SELECT d.leaflet, d.kind, m.key, m.state FROM delivered d JOIN deliveries m USING (key)"
                " WHERE d.email = ? AND d.lang = ?",
                (email.lower(), lang),
            ).fetchall()
            return {(r["leaflet"], r["kind"]): Holder(r["key"], r["state"]) for r in rows}
        held: dict[Unit, Holder] = {}  # a journal from before version 3, opened read-only for a dry run
        marks = ", ".join("?" * len(HOLDING))
        for r in self.db.execute(
            f"SELECT * FROM deliveries WHERE lower(email) = ? AND lang = ? AND state IN ({marks}) ORDER BY created",
            (email.lower(), lang, *HOLDING),
        ).fetchall():
            for unit in self.units(r):
                held.setdefault(unit, Holder(r["key"], r["state"]))
        return held

    def prepare(
        self, r: Recipient, key: str, units: tuple[Unit, ...], new_message_id: Callable[[], str]
    ) -> sqlite3.Row:
        """The journal row of the message carrying `units` to `r`, created as 'pending' with a Message-ID it keeps."""
        now = _now()
        self.db.execute(
            "INSERT INTO deliveries (key, email, name, lang, leaflets, kinds, paper, large_print, message_id, state,"
            " source, row, created, updated, units) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET name = excluded.name, paper = excluded.paper,"
            " large_print = excluded.large_print, source = excluded.source, row = excluded.row",
            (
                key,
                r.email,
                r.name,
                r.lang,
                " ".join(dict.fromkeys(u[0] for u in units)),
                " ".join(dict.fromkeys(u[1] for u in units)),
                r.paper,
                int(r.large_print),
                new_message_id(),
                r.source,
                r.row,
                now,
                now,
                _format(units),
            ),
        )
        row = self.get(key)
        assert row is not None
        return row

    def claim(self, key: str, states: tuple[str, ...]) -> bool:
        """Atomically mark a delivery 'trying' (an attempt, before the point of no return) if it is in `states`."""
        marks = ", ".join("?" * len(states))
        cur = self.db.execute(
            f"UPDATE deliveries SET state = 'trying', attempts = attempts + 1, updated = ? "
            f"WHERE key = ? AND state IN ({marks})",
            (_now(), key, *states),
        )
        return cur.rowcount == 1

    def point_of_no_return(self, key: str) -> None:
        """Committed just before the final '.' of DATA: from here on the message may reach the patient.

        Its PDFs go into `delivered` in the same transaction; one that another message already carried (or may
        have) refuses the message: the journal itself never lets a PDF go to a patient twice.
        """
        now = _now()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            cur = self.db.execute(
                "UPDATE deliveries SET state = 'sending', updated = ? WHERE key = ? AND state = 'trying'", (now, key)
            )
            if cur.rowcount != 1:  # never send a message the journal does not know is going out
                raise MailError("send journal: the delivery is no longer being tried; not sent", self.path)
            row = self.get(key)
            assert row is not None
            for leaflet, kind in self.units(row):
                unit = (row["email"].lower(), row["lang"], leaflet, kind)
                holder = self.db.execute(
                    "SELECT key FROM delivered WHERE email = ? AND lang = ? AND leaflet = ? AND kind = ?", unit
                ).fetchone()
                if holder is not None and holder["key"] != key:
                    raise MailError("send journal: a leaflet in this message was sent before; not sent", self.path)
                if holder is None:
                    self.db.execute("INSERT INTO delivered VALUES (?, ?, ?, ?, ?, ?)", (*unit, key, now))
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def release(self, key: str) -> None:
        """The server refused the message: its PDFs did not reach the patient by it and may go in another message.

        Unless an earlier attempt was uncertain (a resend on request refused now): that one may have arrived.
        """
        if not self.db.execute("SELECT 1 FROM attempts WHERE key = ? AND outcome = 'uncertain'", (key,)).fetchone():
            self.db.execute("DELETE FROM delivered WHERE key = ?", (key,))

    def finish(self, key: str, state: str, error: str = "", *, detail: str = "", log: bool = True) -> None:
        """Settle a delivery and add the attempt to its history (with `detail`, e.g. the server's 250 reply)."""
        now = _now()
        self.db.execute(
            "UPDATE deliveries SET state = ?, error = ?, updated = ?, sent = CASE WHEN ? = 'sent' THEN ? ELSE sent END"
            " WHERE key = ?",
            (state, error, now, state, now, key),
        )
        if log:
            self._log(key, state, detail or error or state)

    def restore(self, key: str, state: str, error: str, detail: str) -> None:
        """Put a delivery back as it was: the attempt never reached the server, so it says nothing new about it."""
        self.db.execute(
            "UPDATE deliveries SET state = ?, error = ?, attempts = attempts - 1, updated = ? WHERE key = ?",
            (state, error, _now(), key),
        )
        self._log(key, "pending", detail)

    def _log(self, key: str, outcome: str, detail: str) -> None:
        self.db.execute("INSERT INTO attempts VALUES (?, ?, ?, ?)", (key, _now(), outcome, detail))

    def _has(self, table: str) -> bool:
        return bool(
            self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
        )

    def history(self, key: str) -> list[sqlite3.Row]:
        """The attempts, oldest first (none for a journal from before histories, opened read-only)."""
        if not self._has("attempts"):
            return []
        return self.db.execute("SELECT * FROM attempts WHERE key = ? ORDER BY rowid", (key,)).fetchall()

    def rows(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM deliveries ORDER BY source, row, created").fetchall()


def _lock(path: Path, wait: float = 0.0) -> int | None:
    """An exclusive lock beside the journal, released by the OS even if the process is killed."""
    try:
        import fcntl  # noqa: PLC0415 - POSIX only; the import failing is how Windows is detected
    except ImportError:  # pragma: no cover - not POSIX
        return None
    fd = os.open(f"{path}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError:
            if time.monotonic() < deadline:
                time.sleep(0.05)
                continue
        os.close(fd)
        raise MailError(
            "the send journal is in use by another 'leafgen email --send': wait for it to finish", path
        ) from None


def _unlock(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)
