from __future__ import annotations

import re
from typing import Protocol

import attrs

# What SES and the configuration accept as an address: local@domain.tld, nothing around it.
EMAIL_ADDRESS = re.compile(r"^[^@\s,;<>]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


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
