"""Staff accounts for the desk: scrypt password hashes in one JSON file, and a limit on failed logins."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections import deque
from pathlib import Path

from leafgen.errors import LeafgenError
from leafgen.project import write_atomic

ACCOUNTS = "staff.json"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 10
# scrypt (hashlib, OpenSSL): memory-hard, in the standard library; n=2**15, r=8 costs 32 MiB and ~0.1 s a try.
N, R, P = 2**15, 8, 1
MAXMEM = 64 * 1024 * 1024


def _hash(password: str, salt: bytes, n: int = N, r: int = R, p: int = P) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=MAXMEM, dklen=32)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    b64 = base64.b64encode
    return f"scrypt${N}${R}${P}${b64(salt).decode()}${b64(_hash(password, salt)).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = _hash(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


# An unknown user costs as much as a wrong password, so timing does not tell which names exist.
_DUMMY = hash_password(secrets.token_hex(8))


def accounts_path(data_dir: Path) -> Path:
    return data_dir / ACCOUNTS


def load_accounts(data_dir: Path) -> dict[str, str]:
    path = accounts_path(data_dir)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise ValueError("not a mapping of names to hashes")
    except (ValueError, UnicodeDecodeError) as e:
        raise LeafgenError(f"staff accounts file is broken: {e}", path) from None
    return data


def _save(data_dir: Path, accounts: dict[str, str]) -> None:
    path = accounts_path(data_dir)
    # Hashes only, but still nobody else's business: 0600 from the first byte, not chmodded after the rename.
    write_atomic(path, (json.dumps(accounts, indent=2, sort_keys=True) + "\n").encode(), private=True)


def add_account(data_dir: Path, name: str, password: str) -> bool:
    """Add or replace an account; True if it replaced one."""
    if not NAME_RE.match(name):
        raise LeafgenError(
            "a staff name is 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"
        )
    if len(password) < MIN_PASSWORD:
        raise LeafgenError(f"the password must have at least {MIN_PASSWORD} characters")
    accounts = load_accounts(data_dir)
    existed = name in accounts
    accounts[name] = hash_password(password)
    _save(data_dir, accounts)
    return existed


def remove_account(data_dir: Path, name: str) -> None:
    accounts = load_accounts(data_dir)
    if name not in accounts:
        raise LeafgenError(f"no staff account {name!r}", accounts_path(data_dir))
    del accounts[name]
    _save(data_dir, accounts)


def check_login(accounts: dict[str, str], name: str, password: str) -> bool:
    stored = accounts.get(name)
    ok = verify_password(password, stored or _DUMMY)
    return ok and stored is not None


class RateLimit:
    """At most `limit` failed logins per client address and per staff name in `window` seconds."""

    def __init__(self, limit: int = 5, window: float = 300.0):
        self.limit, self.window = limit, window
        self._fails: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._fails.setdefault(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def wait(self, *keys: str) -> float:
        """Seconds until another attempt is allowed (0: allowed now)."""
        now = time.monotonic()
        with self._lock:
            waits = [q[0] + self.window - now for k in keys if len(q := self._recent(k, now)) >= self.limit]
        return max(waits, default=0.0)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for k in keys:
                self._recent(k, now).append(now)

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for k in keys:
                self._fails.pop(k, None)
