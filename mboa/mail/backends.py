"""The mailers: `send(message)` over SMTP (production) or into a local mailbox, one `.eml` file
per message under `<data_dir>/mail/` (development and tests, listed at `/dashboard/dev/mail`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.policy
import os
import re
import uuid
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid, parsedate_to_datetime
from pathlib import Path
from typing import Protocol

import aiosmtplib
import anyio

from mboa.config import Settings

MESSAGE_NAME = re.compile(r"^[0-9]{8}T[0-9]{12}-[0-9a-f]{32}$")
"""A mailbox file's stem (also its id in the mailbox's pages): nothing else is ever opened."""


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    to: str
    subject: str
    text: str
    html: str


class Mailer(Protocol):
    async def send(self, message: Message) -> None: ...


def as_email(message: Message, sender: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.to
    mail["Subject"] = message.subject
    mail["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    mail["Message-ID"] = make_msgid(domain="mboa.cm")
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    return mail


class SmtpMailer:
    """aiosmtplib: STARTTLS (587), implicit TLS (465) or plain (a local relay)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings.mail

    async def send(self, message: Message) -> None:
        mail = self.settings
        await aiosmtplib.send(
            as_email(message, mail.from_address),
            hostname=mail.host,
            port=mail.port,
            username=mail.username,
            password=mail.password.get_secret_value() if mail.password else None,
            use_tls=mail.security == "tls",
            start_tls=mail.security == "starttls",
            timeout=mail.timeout_seconds,
        )


class MailboxMailer:
    """Each message a file `<UTC time>-<random>.eml` in `directory` (written then renamed, so a
    reader never sees half a message)."""

    def __init__(self, directory: Path, sender: str) -> None:
        self.directory = directory
        self.sender = sender

    async def send(self, message: Message) -> None:
        data = bytes(as_email(message, self.sender))
        name = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex}"
        await anyio.to_thread.run_sync(self._write, name, data)

    def _write(self, name: str, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.directory / f".{name}.tmp"
        partial.write_bytes(data)
        os.replace(partial, self.directory / f"{name}.eml")


def mailer_for(settings: Settings) -> Mailer:
    if settings.mail_backend == "smtp":
        return SmtpMailer(settings)
    return MailboxMailer(settings.mailbox_dir, settings.mail.from_address)


# -- reading the local mailbox (its dashboard pages) ---------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Stored:
    id: str
    to: str
    subject: str
    sent_at: dt.datetime
    text: str
    html: str


def _read(path: Path) -> Stored:
    with path.open("rb") as file:
        parsed = BytesParser(policy=email.policy.default).parse(file)
    assert isinstance(parsed, EmailMessage)
    text_part = parsed.get_body(preferencelist=("plain",))
    html_part = parsed.get_body(preferencelist=("html",))
    return Stored(
        id=path.stem,
        to=str(parsed["To"]),
        subject=str(parsed["Subject"]),
        sent_at=parsedate_to_datetime(str(parsed["Date"])),
        text=text_part.get_content() if text_part is not None else "",
        html=html_part.get_content() if html_part is not None else "",
    )


def mailbox_messages(directory: Path, *, limit: int = 100) -> list[Stored]:
    """The newest messages first."""
    if not directory.is_dir():
        return []
    names = sorted((p for p in directory.glob("*.eml") if MESSAGE_NAME.match(p.stem)), reverse=True)
    return [_read(path) for path in names[:limit]]


def mailbox_message(directory: Path, message_id: str) -> Stored | None:
    if not MESSAGE_NAME.match(message_id):
        return None
    path = directory / f"{message_id}.eml"
    return _read(path) if path.is_file() else None
