"""A real SMTP server for the tests (aiosmtpd), which keeps every message it receives.

Use the fixture by importing it into a test module (``from tests.smtp import smtp_server``) and
point geova at it with ``server.settings()`` (GEOVA_SMTP_HOST and GEOVA_SMTP_PORT, as
``create_app`` overrides or environment variables). ``running_smtp(port)`` starts one on a chosen
port: a test can send to a closed port first, then start the server there.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port nobody listens on (closed: a connection there is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    """One message as the server got it: the envelope's recipients and the parsed message."""

    rcpt_tos: list[str]
    mail_from: str
    message: EmailMessage

    @property
    def body(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""


@dataclass
class SmtpServer:
    host: str
    port: int
    received: list[Received] = field(default_factory=list)

    def settings(self) -> dict[str, Any]:
        return {"GEOVA_SMTP_HOST": self.host, "GEOVA_SMTP_PORT": self.port}

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[Received]:
        """The messages once ``count`` have arrived (mails sent by a background thread take a moment)."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.received) >= count, f"the SMTP server received {len(self.received)} of {count} mails"
        return list(self.received)


class _Keeper:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        self.server.received.append(Received(list(envelope.rcpt_tos), envelope.mail_from, message))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


@contextmanager
def running_smtp(port: int | None = None) -> Iterator[SmtpServer]:
    """An SMTP server on ``port`` (default: a free one) for the duration of the block."""
    server = SmtpServer(HOST, port or free_port())
    controller = Controller(_Keeper(server), hostname=HOST, port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on a free port of 127.0.0.1; ``.received`` holds what it got."""
    with running_smtp() as server:
        yield server
