"""The mailers (docs/dashboard.md, "E-mail"): SMTP against a real server (aiosmtpd on
127.0.0.1), and the local mailbox's files."""

from __future__ import annotations

from pathlib import Path

import aiosmtplib
import anyio
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from mboa.config import MailSettings, Settings
from mboa.kit.net import free_port
from mboa.mail.backends import MailboxMailer, Message, SmtpMailer, mailbox_message, mailbox_messages


class Collect:
    def __init__(self) -> None:
        self.received: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.received.append(envelope)
        return "250 OK"


async def test_the_smtp_mailer_sends_through_a_real_server(settings: Settings) -> None:
    handler = Collect()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        configured = settings.model_copy(
            update={
                "mail": MailSettings(
                    backend="smtp",
                    host="127.0.0.1",
                    port=port,
                    security="none",
                    from_address="Mboa Pay <no-reply@mboa.cm>",
                )
            }
        )
        await SmtpMailer(configured).send(
            Message(to="ada@example.cm", subject="Bonjour", text="Texte", html="<p>HTML</p>")
        )
    finally:
        controller.stop()
    [envelope] = handler.received
    assert envelope.mail_from == "no-reply@mboa.cm"
    assert envelope.rcpt_tos == ["ada@example.cm"]
    content = envelope.content
    assert isinstance(content, bytes)
    assert b"Subject: Bonjour" in content
    assert b"text/plain" in content
    assert b"text/html" in content


async def test_the_smtp_mailer_fails_loudly_when_no_server_answers(settings: Settings) -> None:
    configured = settings.model_copy(
        update={
            "mail": MailSettings(
                backend="smtp",
                host="127.0.0.1",
                port=free_port(),
                security="none",
                timeout_seconds=2,
            )
        }
    )
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await SmtpMailer(configured).send(
            Message(to="ada@example.cm", subject="x", text="x", html="x")
        )


async def test_the_mailbox_writes_one_file_per_message(tmp_path: Path) -> None:
    mailer = MailboxMailer(tmp_path, "Mboa Pay <no-reply@mboa.cm>")
    await mailer.send(Message(to="a@example.cm", subject="Un", text="premier", html="<p>1</p>"))
    await mailer.send(Message(to="b@example.cm", subject="Deux", text="second", html="<p>2</p>"))
    listed = mailbox_messages(tmp_path)
    assert [m.subject for m in listed] == ["Deux", "Un"]  # newest first
    assert listed[1].text.strip() == "premier"
    assert "<p>1</p>" in listed[1].html
    assert sorted([p.suffix async for p in anyio.Path(tmp_path).iterdir()]) == [".eml", ".eml"]


async def test_the_mailbox_opens_only_its_own_files(tmp_path: Path) -> None:
    (tmp_path / "secret.eml").write_text("Subject: no\n\nno")
    assert mailbox_messages(tmp_path) == []
    assert mailbox_message(tmp_path, "../secret") is None
    assert mailbox_message(tmp_path, "secret") is None
