"""Kill-and-rerun: send lists to a local SMTP server, SIGKILL the sender at random moments, rerun until done.

Counts, per list and in total, what a clinic cares about: patients who never got the message although nothing is
left to do (lost), patients who got it twice (duplicates), deliveries left 'uncertain' (and how many of those did
reach the server), and how many runs it took. The server (aiosmtpd on 127.0.0.1) answers after a random delay of
up to --slow seconds at RCPT TO and at the end of DATA, so kills land in every phase: before the message, while
the body goes out, and after the final dot while the sender waits for the answer. With --greylist a share of the
addresses is refused with 451 at first, so deferred rows and their reruns are exercised too.

    python bench/email_kill.py                  # 35 lists of 40, as in issue 11 (several minutes on 2 cores)
    python bench/email_kill.py --lists 5 --seed 7 --greylist 0.1

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
        self.got: Counter[str] = Counter()

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
        with self.lock:  # counted when the whole message is in, as a real server would queue it
            for rcpt in envelope.rcpt_tos:
                self.got[rcpt] += 1
        await self._pause()  # then a slow answer: a kill here leaves the delivery uncertain
        return "250 2.0.0 Queued"


def states(journal: Path) -> dict[str, str]:
    if not journal.exists():
        return {}
    db = sqlite3.connect(journal)
    try:
        return dict(db.execute("SELECT email, state FROM deliveries").fetchall())
    finally:
        db.close()


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
            csv = work / f"list{n:02d}.csv"
            rows = [f"{a},Patient {i},{LANGS[i % len(LANGS)]},{LEAFLET},handout" for i, a in enumerate(addresses)]
            csv.write_text("email,name,lang,leaflet,kind\n" + "\n".join(rows) + "\n")
            journal = work / f"list{n:02d}.sqlite"
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
                    break
                if runs >= args.max_runs:
                    print(f"list {n}: gave up after {runs} runs", file=sys.stderr)
                    break
            final = states(journal)
            got = {a: handler.got[a] for a in addresses}
            uncertain = [a for a in addresses if final.get(a) == "uncertain"]
            lost = sum(got[a] == 0 and final.get(a) != "uncertain" for a in addresses)
            lying = sum(got[a] == 0 and final.get(a) == "sent" for a in addresses)
            dup = sum(got[a] > 1 for a in addresses)
            arrived_uncertain = sum(got[a] >= 1 for a in uncertain)
            totals.update(
                lists=1,
                recipients=args.size,
                runs=runs,
                kills=kills,
                delivered_once=sum(got[a] == 1 for a in addresses),
                lost=lost,
                sent_but_not_received=lying,
                duplicates=dup,
                uncertain=len(uncertain),
                uncertain_arrived=arrived_uncertain,
                failed=sum(final.get(a) == "failed" for a in addresses),
            )
            print(
                f"list {n:2d}: {runs} runs ({kills} killed), {sum(v == 1 for v in got.values())}/{args.size} once, "
                f"{lost} lost, {dup} duplicates, {len(uncertain)} uncertain ({arrived_uncertain} had arrived)",
                flush=True,
            )
    finally:
        controller.stop()
    print(
        f"\n{totals['lists']} lists of {args.size} ({totals['recipients']} patients), seed {args.seed}, "
        f"server delay up to {args.slow} s, greylist share {args.greylist}, {time.monotonic() - start:.0f} s"
    )
    totals["uncertain_never_arrived"] = totals["uncertain"] - totals["uncertain_arrived"]  # stuck, never resent
    for key in (
        "runs",
        "kills",
        "delivered_once",
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
