"""A message of the caller's own, for plugins and `backupnimbus notify`."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from backupnimbus.errors import UsageInvalidError
from backupnimbus.ports.mailer import EMAIL_ADDRESS, Email, Mailer

# A sanity check, not RFC 5322: it catches typos and lists pasted into one argument.


@attrs.frozen
class SendMessage:
    mailer: Mailer

    def send(
        self,
        *,
        subject: str,
        message: str,
        html: str | None = None,
        recipients: Sequence[str] = (),
    ) -> None:
        """Args:
            subject: one line.
            message: the plain-text body.
            html: an HTML body sent beside the text, if given.
            recipients: replace the configured recipients when not empty.

        Raises `UsageInvalidError` listing every bad argument, and `NotificationFailedError`
        when the mailer cannot send.
        """
        problems = []
        if not subject.strip():
            problems.append("the subject is empty")
        elif "\n" in subject or "\r" in subject:
            problems.append("the subject must be a single line")
        if not message.strip():
            problems.append("the message is empty")
        bad = [address for address in recipients if not EMAIL_ADDRESS.match(address)]
        if bad:
            problems.append(
                f"not an e-mail address: {', '.join(map(repr, bad))} "
                "(give one address per recipient, e.g. ops@example.com)"
            )
        if problems:
            raise UsageInvalidError(problems)
        self.mailer.send(
            email=Email(
                subject=subject.strip(),
                text=message,
                html=html or None,
                recipients=tuple(recipients),
            )
        )
