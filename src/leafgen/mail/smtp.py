"""Deliver a message over SMTP with verified TLS, telling temporary failures from permanent ones."""

from __future__ import annotations

import contextlib
import ipaddress
import re
import smtplib
import socket
import ssl
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from leafgen.errors import MailError
from leafgen.mail.addresses import CONTROL, check_address, check_name

SECURITY = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
CONFIG_KEYS = ("host", "port", "security", "user", "password", "from", "cafile", "timeout")
ENV_PREFIX = "LEAFGEN_SMTP_"


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
            raise MailError(
                f"{self.where('security')}: security must be one of {', '.join(SECURITY)}, not {self.security!r}"
            )
        if self.security == "none" and not is_loopback(self.host):
            raise MailError(
                f"{self.where('security')}: security 'none' sends patient mail unencrypted and is only "
                f"allowed for a loopback host (localhost, 127.0.0.1, ::1), not {self.host!r}"
            )
        if not 0 < self.port < 65536:
            raise MailError(f"{self.where('port')}: port must be 1-65535")
        if not self.sender:
            raise MailError(
                f"no sender: set {ENV_PREFIX}FROM (or 'from' in --smtp-config), "
                'e.g. "Riverside Clinic <leaflets@riverside.example>"'
            )
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


# --- SMTP delivery -------------------------------------------------------------------------------------------


class Undelivered(Exception):  # noqa: N818 - an outcome, not a bug
    """The server did not take the message; `detail` may quote the address (journal only), `note` does not.

    `connection`: the connection failed (could not connect, 421, dropped, timed out) before the point of no return,
    which says something about the server, not about this message. `connect`: it could not even be opened.
    """

    def __init__(self, note: str, detail: str = "", *, connect: bool = False, connection: bool = False):
        super().__init__(note)
        self.note, self.detail = note, detail or note
        self.connect, self.connection = connect, connection or connect


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
                    raise MailError(
                        f"SMTP server {where} does not offer STARTTLS: refusing to send patient mail "
                        f"unencrypted ({ENV_PREFIX}SECURITY)"
                    )
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
            return MailError(
                f"TLS certificate of SMTP server {where} not trusted ({e.verify_message}): refusing to "
                f"send; if the server uses a private CA, point {ENV_PREFIX}CAFILE at its certificate"
            )
        if isinstance(e, ssl.SSLError):
            return MailError(f"TLS with SMTP server {where} failed: {e.reason or e}")
        if isinstance(e, smtplib.SMTPAuthenticationError):
            return MailError(
                f"SMTP server {where} refused the login for user {self.cfg.user!r}: {_reply(e.smtp_code, e.smtp_error)}"
            )
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

    def deliver(self, data: bytes, sender: str, rcpt: str, before_end: Callable[[], None] = lambda: None) -> str:
        """Hand one message to the server; the server's reply, or Temporary, Permanent, Uncertain or MailError.

        `before_end` runs just before the final "." of DATA, the point of no return: until the server has that
        line it discards the transaction, so a sender killed before it has sent nothing (the journal commits the
        point in `before_end`, and a failure there aborts the message).
        """
        self.body_sent = False
        if self.smtp is None:
            self.smtp = self._connect()
        smtp = self.smtp
        stage = "MAIL FROM"
        try:
            code, resp = smtp.mail(sender)
            if code != 250:
                self._refused(code, resp, stage)
            stage = "RCPT TO"
            code, resp = smtp.rcpt(rcpt)
            if code not in (250, 251):
                self._refused(code, resp, stage)
            stage = "DATA"
            code, resp = smtp.docmd("DATA")
            if code != 354:
                self._refused(code, resp, stage)
            # smtplib's own data(), by hand, so the journal can commit between the body and its final dot.
            body = re.sub(rb"(?m)^\.", b"..", data)
            if not body.endswith(b"\r\n"):
                body += b"\r\n"
            smtp.send(body)
            try:
                before_end()
            except BaseException:
                self.drop()  # without the final dot the server discards what it has
                raise
            self.body_sent = True  # before the dot goes out: once any of it may have left, the outcome is open
            smtp.send(b".\r\n")
            code, resp = smtp.getreply()
        except OSError as e:  # SMTPServerDisconnected, reset, timeout
            self.drop()
            what = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            if self.body_sent:
                raise Uncertain(
                    "connection lost after the message was sent, before the server confirmed it",
                    f"connection lost after the message was sent ({what})",
                ) from None
            raise Temporary(
                f"connection lost at {stage}",
                f"connection lost at {stage}, before the message was complete ({what})",
                connection=True,
            ) from None
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
            raise Temporary(f"SMTP {code} at {stage}", reply, connection=stage != "end of DATA")
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
