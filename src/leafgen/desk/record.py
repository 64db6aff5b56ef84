"""The record of what was handed out, as patient-information standards ask: which leaflet, version, language,
kind and print size, when, and by whom. Never the patient: emailed addresses stay in the send journal only."""

from __future__ import annotations

import csv
import io
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

RECORD = "handouts.sqlite"
FORMULA_START = "=+-@\t\r"
COLUMNS = (
    "when_utc",
    "staff",
    "action",
    "leaflet",
    "version",
    "lang",
    "kind",
    "paper",
    "large_print",
    "fillable",
    "english_fallback",
    "personalised",
    "email_state",
)
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS handouts (id INTEGER PRIMARY KEY, {", ".join(f"{c} TEXT NOT NULL" for c in COLUMNS)});
"""


class Record:
    """One SQLite file; a lock because the web server's threads share the connection."""

    def __init__(self, data_dir: Path):
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / RECORD
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()

    def add(self, **values: object) -> None:
        row = {c: "" for c in COLUMNS}
        row["when_utc"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        for k, v in values.items():
            if k not in row:
                raise KeyError(k)
            row[k] = ("yes" if v else "no") if isinstance(v, bool) else str(v)
        with self._lock:
            self._db.execute(
                f"INSERT INTO handouts ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                [row[c] for c in COLUMNS],
            )

    def rows(self, limit: int | None = None) -> list[dict[str, str]]:
        sql = f"SELECT {', '.join(COLUMNS)} FROM handouts ORDER BY id DESC"
        with self._lock:
            cur = self._db.execute(sql + (f" LIMIT {int(limit)}" if limit else ""))
            return [dict(zip(COLUMNS, r, strict=True)) for r in cur.fetchall()]

    def csv(self) -> str:
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\r\n")
        w.writerow(COLUMNS)
        for r in reversed(self.rows()):
            # A cell starting with = + - @ (or a tab or CR) is a formula to a spreadsheet: quote it as text. An
            # empty cell stays empty ("" is in every string, so test the first character's presence first).
            w.writerow(["'" + v if v and v[0] in FORMULA_START else v for v in (r[c] for c in COLUMNS)])
        return out.getvalue()

    def close(self) -> None:
        self._db.close()
