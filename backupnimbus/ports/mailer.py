from __future__ import annotations

from typing import Protocol

import attrs


@attrs.frozen
class Email:
    subject: str
    text: str
    """Plain-text body."""
    html: str | None = None
    """Optional HTML body, sent beside the text."""
    recipients: tuple[str, ...] = ()
    """Overrides the configured recipients when not empty."""


class Mailer(Protocol):
    def send(self, *, email: Email) -> None:
        """Sends `email`; raises `NotificationFailedError` when it cannot."""
        ...
