"""Start the desk: check where it may listen, warm the render workers, and serve it with waitress."""

from __future__ import annotations

import ipaddress
import logging
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

import waitress

from leafgen.desk.app import Settings, create_app
from leafgen.desk.staff import load_accounts
from leafgen.desk.worker import Pool
from leafgen.errors import LeafgenError
from leafgen.project import Project

# Bodies up to this size stay in memory (waitress would spill bigger ones to a temporary file, and a form holds
# patient details): the app itself refuses anything over FORM_LIMIT with a page that says why.
BODY_CEILING = 16 * 1024 * 1024


def is_loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def serve(
    project: Project,
    host: str,
    port: int,
    data_dir: Path,
    outbox: Path | None,
    journal: Path | None,
    allow_hosts: list[str],
    workers: int,
    email_wait: float,
    out: TextIO,
) -> int:
    """Serve until Ctrl-C or SIGTERM; logs (method, path, status, time) go to standard error."""
    root = project.root
    accounts = load_accounts(data_dir)
    if not is_loopback(host) and not accounts:
        raise LeafgenError(
            f"refusing to serve on {host}: other computers could reach the desk without a login. Add a staff "
            f"account first (leafgen staff add NAME --data {data_dir}), or serve on 127.0.0.1"
        )
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="leafgen desk: %(message)s", force=True)
    logging.getLogger("waitress").setLevel(logging.WARNING)
    settings = Settings(root, data_dir, outbox, journal, host, tuple(allow_hosts), workers, email_wait, accounts)

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # Before the workers start: a SIGTERM while they warm up (a service manager stopping a desk that is still
    # starting) would otherwise end this process outright and leave the fork server and its workers running.
    signal.signal(signal.SIGTERM, stop)
    pool = Pool(root, workers)
    try:
        pool.warm()
        app = create_app(settings, pool)
        server: Any = waitress.create_server(
            app,
            host=host,
            port=port,
            threads=8,
            ident="leafgen-desk",
            max_request_body_size=BODY_CEILING,
            inbuf_overflow=BODY_CEILING,
            clear_untrusted_proxy_headers=True,
        )
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{server.effective_port}/"
        login = f"staff login required ({len(accounts)} account(s))" if accounts else "no login (this computer only)"
        names = ", ".join(
            dict.fromkeys(
                (
                    "127.0.0.1",
                    "localhost",
                    *([host] if not is_loopback(host) and host not in ("0.0.0.0", "::") else []),
                    *allow_hosts,
                )
            )
        )
        print(f"leafgen desk: serving {url} ; {login}; answers to host names: {names}", file=out)
        print("leafgen desk: Ctrl-C to stop", file=out, flush=True)
        try:
            server.run()
        finally:
            server.close()
    except KeyboardInterrupt:
        pass
    finally:
        pool.close()
    print("leafgen desk: stopped", file=out, flush=True)
    return 0
