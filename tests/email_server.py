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
    """Stores what arrives; can answer 451 once or 550 always for chosen recipients, drop the connection once at
    the N-th MAIL FROM, and hold its reply to the N-th message (so a test can kill the sender at that moment)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.tempfail_once: set[str] = set()
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
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list) -> str:  # noqa: N802
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
            self.received.append(Received(envelope.mail_from, tuple(envelope.rcpt_tos), envelope.original_content,
                                          tls, login))
            count = len(self.received)
        if self.hold_at == count:
            self.arrived.set()
            deadline = time.monotonic() + 30
            while not self.release.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        return "250 2.0.0 Message accepted"


class LoopbackController(Controller):
    """aiosmtpd's Controller on a free port chosen by the OS (port 0), so parallel runs never collide."""

    def _create_server(self):  # noqa: ANN202 - a coroutine
        async def create():  # noqa: ANN202
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
