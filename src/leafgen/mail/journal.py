"""Remember every delivery in SQLite, so a list can be rerun after a crash without sending twice."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from leafgen.errors import MailError
from leafgen.mail.recipients import Recipient

JOURNAL = "journal.sqlite"

AT_MOST_ONCE = (
    "A message interrupted after it fully reached the mail server but before the server's answer was recorded "
    "is 'uncertain': it may have been delivered, so leafgen does not send it again by itself (at most once). "
    "Look for its Message-ID in the server's log or sent folder; 'leafgen email --retry-uncertain' resends it "
    "with the same Message-ID, so a duplicate can be recognised."
)


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
            (
                r.key,
                r.email,
                r.name,
                r.lang,
                " ".join(r.leaflets),
                " ".join(r.kinds),
                r.paper,
                int(r.large_print),
                new_message_id(),
                r.source,
                r.row,
                now,
                now,
            ),
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
        raise MailError(
            "the send journal is in use by another 'leafgen email --send': wait for it to finish", path
        ) from None
    return fd


def _unlock(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)
