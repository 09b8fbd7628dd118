"""The Mailer used while notifications are off: it says what it would have sent, and no more."""

from __future__ import annotations

import logging

from backupnimbus.ports.mailer import Email

log = logging.getLogger(__name__)


class LogMailer:
    def send(self, *, email: Email) -> None:
        # The subject only: bodies may quote error output that has no business in the logs twice.
        log.info(
            "notifications are off (NOTIFICATIONS_ENABLED); e-mail not sent",
            extra={"subject": email.subject},
        )
