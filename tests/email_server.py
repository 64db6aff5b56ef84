"""A real SMTP server on 127.0.0.1 for the email tests (aiosmtpd), with faults it can be told to inject."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    tls: bool
    login: str | None

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]


class Handler:
    """Stores what arrives; can answer 451 once (or N times: greylisting) or 550 always for chosen recipients, drop
    the connection once or answer 421 at the N-th MAIL FROM, hold its answer to a chosen RCPT TO or to the N-th
    message (so a test can kill the sender at that moment), and keeps the order of RCPT TO commands."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.tempfail_once: set[str] = set()
        self.greylist: dict[str, int] = {}  # address -> how many more times to answer 451
        self.rcpts: list[str] = []  # every RCPT TO, in order, whatever the answer
        self.hold_rcpt: str | None = None
        self.close_at_mail: int | None = None
        self.tempfailed: list[str] = []
        self.reject: set[str] = set()
        self.drop_at_mail: int | None = None
        self.dropped = 0
        self.mail_commands = 0
        self.hold_at: int | None = None
        self.arrived = threading.Event()
        self.release = threading.Event()

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if address in r.rcpt_tos]

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list) -> str:  # noqa: N802
        self.mail_commands += 1
        if self.drop_at_mail == self.mail_commands:
            self.drop_at_mail = None
            self.dropped += 1
            server.transport.abort()  # a dropped connection, not a polite 421
            return "250 OK"
        if self.close_at_mail == self.mail_commands:
            self.close_at_mail = None
            return "421 4.3.2 Service shutting down, try again"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list) -> str:  # noqa: N802
        self.rcpts.append(address)
        if address == self.hold_rcpt:  # a slow server: no answer yet, nothing of the message received
            self.arrived.set()
            deadline = time.monotonic() + 30
            while not self.release.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        if self.greylist.get(address):
            self.greylist[address] -= 1
            self.tempfailed.append(address)
            return "451 4.7.1 Greylisted, please try again later"
        if address in self.tempfail_once:
            self.tempfail_once.discard(address)
            self.tempfailed.append(address)
            return "451 4.3.0 Mailbox busy, try again later"
        if address in self.reject:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        login = session.auth_data if session.authenticated else None  # what authenticator() below returned
        with self.lock:
            tls = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None  # STARTTLS, TLS
            self.received.append(
                Received(envelope.mail_from, tuple(envelope.rcpt_tos), envelope.original_content, tls, login)
            )
            count = len(self.received)
        if self.hold_at == count:
            self.arrived.set()
            deadline = time.monotonic() + 30
            while not self.release.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        return "250 2.0.0 Message accepted"


class LoopbackController(Controller):
    """aiosmtpd's Controller on a free port chosen by the OS (port 0), so parallel runs never collide."""

    def _create_server(self):  # a coroutine
        async def create():
            server = await self.loop.create_server(
                self._factory_invoker, host=self.hostname, port=0, ssl=self.ssl_context
            )
            self.port = server.sockets[0].getsockname()[1]
            return server

        return create()


def authenticator(user: str, password: str) -> Any:
    """An aiosmtpd authenticator that accepts exactly one login (LOGIN and PLAIN)."""
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login == user.encode() and data.password == password.encode()
        return AuthResult(success=ok, handled=False, auth_data=user if ok else None)

    return check


def start(handler: Handler, **kwargs: Any) -> LoopbackController:
    controller = LoopbackController(handler, hostname="127.0.0.1", **kwargs)
    controller.start()
    return controller
