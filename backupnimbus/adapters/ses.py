"""Mailer on Amazon SES (SendEmail), with a plain-text body and an optional HTML one."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from backupnimbus.adapters.aws_errors import is_transient
from backupnimbus.adapters.retrying import RetryPolicy
from backupnimbus.errors import NotificationFailedError
from backupnimbus.ports.mailer import Email
from backupnimbus.redaction import Redactor

if TYPE_CHECKING:
    from mypy_boto3_ses import SESClient
    from mypy_boto3_ses.type_defs import BodyTypeDef

log = logging.getLogger(__name__)

# AWS error messages can be long (an IAM denial quotes the whole ARN); keep mails and logs short.
_MAX_REASON = 300


class SesMailer:
    def __init__(
        self,
        *,
        client: SESClient,
        sender: str,
        recipients: Sequence[str],
        retry: RetryPolicy,
        redactor: Redactor | None = None,
    ) -> None:
        self._client = client
        self._sender = sender
        self._recipients = tuple(recipients)
        self._retry = retry
        self._redactor = redactor or Redactor()

    def send(self, *, email: Email) -> None:
        to = email.recipients or self._recipients
        if not to:
            raise NotificationFailedError(
                "No recipients: set NOTIFICATION_RECIPIENTS or name the recipients of the message"
            )
        body: BodyTypeDef = {"Text": {"Data": email.text, "Charset": "UTF-8"}}
        if email.html is not None:
            body["Html"] = {"Data": email.html, "Charset": "UTF-8"}
        try:
            self._retry.call(
                lambda: self._client.send_email(
                    Source=self._sender,
                    Destination={"ToAddresses": list(to)},
                    Message={"Subject": {"Data": email.subject, "Charset": "UTF-8"}, "Body": body},
                ),
                is_transient=is_transient,
                log=log,
                what="SES SendEmail",
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise self._failed(error.get("Code", "unknown"), error.get("Message", "")) from exc
        except BotoCoreError as exc:
            raise self._failed(type(exc).__name__, str(exc)) from exc

    def _failed(self, reason: str, text: str) -> NotificationFailedError:
        said = self._redactor.redact(text)[:_MAX_REASON]
        return NotificationFailedError(
            f"SES SendEmail failed: {reason}" + (f": {said}" if said else ""),
            details={"operation": "SendEmail", "reason": reason},
        )
