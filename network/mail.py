"""Outgoing mail to members (login codes, notices): SMTP when a host is configured, else the local outbox, a
directory of .eml files (the embedded default: `coalition up` names it, the console's Mail outbox page shows it)."""

from __future__ import annotations

import os
import secrets
import smtplib
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage
from email.parser import BytesParser
from email import policy
from pathlib import Path
from typing import Protocol

from network.settings import Settings


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str) -> None: ...


def message(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, to, subject
    mail["Date"] = datetime.now(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S +0000")
    mail.set_content(body)
    return mail


@dataclass(frozen=True)
class SmtpMailer:
    host: str
    port: int
    sender: str
    starttls: bool = True
    username: str = ""
    password: str = ""
    timeout_seconds: float = 10.0

    def send(self, to: str, subject: str, body: str) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password)
            smtp.send_message(message(self.sender, to, subject, body))


@dataclass(frozen=True)
class OutboxMailer:
    directory: Path
    sender: str

    def send(self, to: str, subject: str, body: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S.%f}-{secrets.token_hex(4)}.eml"
        descriptor = os.open(self.directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(message(self.sender, to, subject, body).as_bytes())


@dataclass(frozen=True)
class OutboxMessage:
    path: Path
    to: str
    subject: str
    date: str
    body: str


def read_outbox(directory: Path, limit: int = 50) -> list[OutboxMessage]:
    """The newest `limit` messages in the outbox, newest first."""
    if not directory.is_dir():
        return []
    messages = []
    for path in sorted(directory.glob("*.eml"), reverse=True)[:limit]:
        parsed = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        messages.append(OutboxMessage(path, str(parsed["To"]), str(parsed["Subject"]), str(parsed["Date"]),
                                      parsed.get_body(("plain",)).get_content()))
    return messages


def mailer_from_settings(settings: Settings) -> Mailer:
    if settings.smtp_host:
        return SmtpMailer(settings.smtp_host, settings.smtp_port, settings.smtp_from, settings.smtp_starttls,
                          settings.smtp_username, settings.smtp_password)
    return OutboxMailer(settings.resolved_mail_outbox_dir(), settings.smtp_from)
