"""Kill-and-rerun: send lists to a local SMTP server, SIGKILL the sender at random moments, rerun until done.

Counts, per list and in total, what a clinic cares about: patients who never got the message although nothing is
left to do (lost), patients who got it twice (duplicates), deliveries left 'uncertain' (and how many of those did
reach the server), and how many runs it took. The server (aiosmtpd on 127.0.0.1) answers after a random delay of
up to --slow seconds at RCPT TO and at the end of DATA, so kills land in every phase: before the message, while
the body goes out, and after the final dot while the sender waits for the answer. With --greylist a share of the
addresses is refused with 451 at first, so deferred rows and their reruns are exercised too. With --overlap each
list goes twice, as a clinic's desk and list would: first the handout alone, then handout and checklist; the second
must carry only the checklist. The server counts PDFs (attachments, by file name) per patient as well as messages:
a PDF received twice is a duplicate even when the messages differ.

    python bench/email_kill.py                  # 35 lists of 40, as in issue 11 (several minutes on 2 cores)
    python bench/email_kill.py --lists 5 --seed 7 --greylist 0.1
    python bench/email_kill.py --lists 10 --overlap

Not a test: it takes minutes and its kill points are random; the tests cover each case deterministically.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parents[1]
LEAFLET = "pins-and-needles-in-back"
LANGS = ("en", "es", "fr", "ar")


class Server:
    """Counts each message by recipient; answers slowly at random; greylists chosen addresses once."""

    def __init__(self, slow: float, greylisted: set[str], rng: random.Random) -> None:
        self.slow, self.greylisted, self.rng = slow, greylisted, rng
        self.lock = threading.Lock()
        self.got: Counter[str] = Counter()  # messages per patient
        self.pdfs: Counter[tuple[str, str]] = Counter()  # (patient, attachment file name)

    async def _pause(self) -> None:
        await asyncio.sleep(self.rng.uniform(0, self.slow))

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list) -> str:  # noqa: N802
        await self._pause()
        if address in self.greylisted:
            self.greylisted.discard(address)
            return "451 4.7.1 Greylisted, please try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        names = [
            a.get_filename() for a in message_from_bytes(envelope.content, policy=policy.default).iter_attachments()
        ]
        with self.lock:  # counted when the whole message is in, as a real server would queue it
            for rcpt in envelope.rcpt_tos:
                self.got[rcpt] += 1
                for name in names:
                    self.pdfs[rcpt, name] += 1
        await self._pause()  # then a slow answer: a kill here leaves the delivery uncertain
        return "250 2.0.0 Queued"


def states(journal: Path) -> dict[str, str]:
    """Each patient's state: uncertain if any message to them is, else the state of their latest message."""
    if not journal.exists():
        return {}
    db = sqlite3.connect(journal)
    try:
        rows = db.execute("SELECT email, state FROM deliveries ORDER BY created, rowid").fetchall()
    except sqlite3.OperationalError:  # killed after creating the file, before its tables: the next run makes them
        rows = []
    finally:
        db.close()
    out: dict[str, str] = {}
    for email, state in rows:
        if out.get(email) != "uncertain":
            out[email] = state
    return out


def run_until_done(args: argparse.Namespace, csv: Path, journal: Path, env: dict, work: Path, rng: random.Random):
    """Run the list, killing the sender at random, until a run ends by itself with nothing left: (runs, kills)."""
    runs = kills = 0
    while True:
        runs += 1
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "leafgen",
                "email",
                "--project",
                str(ROOT),
                "--recipients",
                str(csv),
                "--send",
                "--journal",
                str(journal),
                "--retry-delay",
                "0.05",
                "--retries",
                "2",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=work,
        )
        killed = False
        if rng.random() < args.kill_chance:
            try:
                proc.wait(rng.uniform(0, args.kill_within))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                killed = True
        code = proc.wait()
        kills += killed
        left = [s for s in states(journal).values() if s not in ("sent", "uncertain", "failed")]
        if not killed and code in (0, 1, 75) and not left and len(states(journal)) == args.size:
            return runs, kills
        if runs >= args.max_runs:
            print(f"{csv.name}: gave up after {runs} runs", file=sys.stderr)
            return runs, kills


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lists", type=int, default=35)
    ap.add_argument("--size", type=int, default=40)
    ap.add_argument("--kill-within", type=float, default=4.0, help="kill at a random moment up to this many seconds")
    ap.add_argument("--kill-chance", type=float, default=0.8, help="chance that a run is killed at all")
    ap.add_argument("--slow", type=float, default=0.05, help="server answer delay, random up to this (s)")
    ap.add_argument("--greylist", type=float, default=0.0, help="share of addresses refused with 451 at first")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--max-runs", type=int, default=40, help="give up on a list after this many runs")
    ap.add_argument("--overlap", action="store_true", help="each list twice: handout, then handout and checklist")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="leafgen-kill-"))

    greylisted: set[str] = set()
    handler = Server(args.slow, greylisted, rng)
    with socket.socket() as s:  # a free port (aiosmtpd's Controller cannot start on port 0)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    env = dict(
        os.environ,
        LEAFGEN_SMTP_HOST="127.0.0.1",
        LEAFGEN_SMTP_PORT=str(port),
        LEAFGEN_SMTP_SECURITY="none",
        LEAFGEN_SMTP_FROM="Clinic <leaflets@clinic.example>",
        LEAFGEN_SMTP_TIMEOUT="10",
    )

    totals: Counter[str] = Counter()
    start = time.monotonic()
    try:
        for n in range(1, args.lists + 1):
            addresses = [f"l{n:02d}p{i:02d}@example.org" for i in range(1, args.size + 1)]
            greylisted.update(a for a in addresses if rng.random() < args.greylist)
            journal = work / f"list{n:02d}.sqlite"
            runs = kills = 0
            for phase, kinds in enumerate(("handout", "handout checklist") if args.overlap else ("handout",)):
                csv = work / f"list{n:02d}-{phase}.csv"
                rows = [f"{a},Patient {i},{LANGS[i % len(LANGS)]},{LEAFLET},{kinds}" for i, a in enumerate(addresses)]
                csv.write_text("email,name,lang,leaflet,kind\n" + "\n".join(rows) + "\n")
                r, k = run_until_done(args, csv, journal, env, work, rng)
                runs, kills = runs + r, kills + k
            expected = 2 if args.overlap else 1  # PDFs per patient
            final = states(journal)
            got = {a: sum(n for (who, _), n in handler.pdfs.items() if who == a) for a in addresses}  # PDFs
            uncertain = [a for a in addresses if final.get(a) == "uncertain"]
            lost = sum(got[a] < expected and final.get(a) != "uncertain" for a in addresses)
            lying = sum(got[a] < expected and final.get(a) == "sent" for a in addresses)
            twice = {a for (a, _), n in handler.pdfs.items() if n > 1}  # patients who got some PDF twice
            dup = len(twice & set(addresses))
            arrived_uncertain = sum(got[a] >= expected for a in uncertain)
            once = sum(got[a] == expected and a not in twice for a in addresses)  # every PDF, none twice
            totals.update(
                lists=1,
                recipients=args.size,
                runs=runs,
                kills=kills,
                delivered_once=once,
                messages=sum(handler.got[a] for a in addresses),
                lost=lost,
                sent_but_not_received=lying,
                duplicates=dup,
                uncertain=len(uncertain),
                uncertain_arrived=arrived_uncertain,
                failed=sum(final.get(a) == "failed" for a in addresses),
            )
            print(
                f"list {n:2d}: {runs} runs ({kills} killed), {once}/{args.size} once, "
                f"{lost} lost, {dup} duplicates, {len(uncertain)} uncertain ({arrived_uncertain} had arrived)",
                flush=True,
            )
    finally:
        controller.stop()
    print(
        f"\n{totals['lists']} lists of {args.size} ({totals['recipients']} patients), seed {args.seed}, "
        f"server delay up to {args.slow} s, greylist share {args.greylist}, overlap {args.overlap}, "
        f"{time.monotonic() - start:.0f} s"
    )
    totals["uncertain_never_arrived"] = totals["uncertain"] - totals["uncertain_arrived"]  # stuck, never resent
    for key in (
        "runs",
        "kills",
        "delivered_once",
        "messages",
        "lost",
        "sent_but_not_received",
        "duplicates",
        "uncertain",
        "uncertain_arrived",
        "uncertain_never_arrived",
        "failed",
    ):
        print(f"  {key:24} {totals[key]}")
    return 0 if not (totals["lost"] or totals["duplicates"] or totals["sent_but_not_received"]) else 1


if __name__ == "__main__":
    sys.exit(main())
