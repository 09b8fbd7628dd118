"""One contract for every Mailer, run against the fake and against SES on a moto server.

Messages sent to moto are read back from its model dump, `GET /moto-api/data.json`, which lists
every `ses.Message` the server accepted: subject, sender, destinations and body. moto keeps one
body per SendEmail, the HTML one when there is one, which is also what a mail client shows; so
the contract compares the body a reader sees.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import boto3
import pytest
import tenacity
from botocore.config import Config as BotoConfig

from backupnimbus.adapters.memory import RecordingMailer
from backupnimbus.adapters.retrying import RetryPolicy
from backupnimbus.adapters.ses import SesMailer
from backupnimbus.errors import NotificationFailedError
from backupnimbus.ports.mailer import Email, Mailer
from backupnimbus.redaction import Redactor
from tests.support.cli import REGION, b64, run_cli
from tests.support.servers import free_port
from tests.support.ses import SENDER, Delivered, moto_sent

CONFIGURED = ("ops@example.com", "dba@example.com")
NO_SLEEP = RetryPolicy(attempts=3, wait=tenacity.wait_none())


@attrs.frozen
class Harness:
    mailer: Mailer
    """Configured with CONFIGURED recipients and a sender that may send."""
    delivered: Callable[[str], list[Delivered]]
    """Every message delivered with this subject."""
    broken: Mailer
    """A mailer that cannot send."""
    reason: str
    """What the broken mailer's error must name."""


def _ses_client(endpoint: str, **tuning: Any) -> Any:
    return boto3.client(
        "ses", endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id="testing", aws_secret_access_key="testing",
        config=BotoConfig(retries={"total_max_attempts": 1}, **tuning),
    )  # fmt: skip


def _fake() -> Harness:
    mailer = RecordingMailer(recipients=CONFIGURED)
    return Harness(
        mailer=mailer,
        delivered=lambda subject: [
            Delivered(e.subject, e.html or e.text, e.recipients)
            for e in mailer.sent
            if e.subject == subject
        ],
        broken=RecordingMailer(fail=True),
        reason="fake mailer is down",
    )


def _ses(endpoint: str) -> Harness:
    client = _ses_client(endpoint)
    client.verify_email_identity(EmailAddress=SENDER)
    unverified = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    return Harness(
        mailer=SesMailer(client=client, sender=SENDER, recipients=CONFIGURED, retry=NO_SLEEP),
        delivered=lambda subject: moto_sent(endpoint, subject),
        broken=SesMailer(client=client, sender=unverified, recipients=CONFIGURED, retry=NO_SLEEP),
        reason="MessageRejected: Email address not verified",
    )


@pytest.fixture(params=["fake", "ses"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "fake":
        yield _fake()
    else:
        yield _ses(request.getfixturevalue("ses_endpoint"))


def _subject(text: str) -> str:
    # moto's record is shared by every test of the session; a unique subject finds ours.
    return f"{text} {uuid.uuid4().hex[:10]}"


# --- the contract -------------------------------------------------------------------------------


def test_text_mail_reaches_the_configured_recipients(harness: Harness) -> None:
    subject = _subject("[BackupNimbus] Backup succeeded: orders")

    harness.mailer.send(email=Email(subject=subject, text="Key: backups/orders/x.archive.gz\n"))

    assert harness.delivered(subject) == [
        Delivered(subject, "Key: backups/orders/x.archive.gz\n", CONFIGURED)
    ]


def test_a_reader_sees_the_html_body_when_there_is_one(harness: Harness) -> None:
    subject = _subject("With HTML")
    markup = "<html><body><h2>Backup succeeded</h2><code>&lt;key&gt;</code></body></html>"

    harness.mailer.send(email=Email(subject=subject, text="Backup succeeded", html=markup))

    assert harness.delivered(subject) == [Delivered(subject, markup, CONFIGURED)]


def test_recipients_of_the_email_replace_the_configured_ones(harness: Harness) -> None:
    subject = _subject("Override")

    harness.mailer.send(
        email=Email(subject=subject, text="hi", recipients=("cto@example.com", "a@example.org"))
    )

    assert harness.delivered(subject) == [
        Delivered(subject, "hi", ("cto@example.com", "a@example.org"))
    ]


def test_non_ascii_text_arrives_intact(harness: Harness) -> None:
    subject = _subject("Sauvegarde réussie ✓ — données")
    text = "Grüße aus Zürich 🚀\n東京: 1 200 ドキュメント\n"

    harness.mailer.send(email=Email(subject=subject, text=text))

    assert harness.delivered(subject) == [Delivered(subject, text, CONFIGURED)]


def test_a_mailer_that_cannot_send_raises_notification_failed_naming_why(harness: Harness) -> None:
    subject = _subject("Never delivered")

    with pytest.raises(NotificationFailedError) as caught:
        harness.broken.send(email=Email(subject=subject, text="hi"))

    assert harness.reason in caught.value.message
    assert caught.value.to_document()["error"]["code"] == "NOTIFICATION_ERROR"
    assert harness.delivered(subject) == []


# --- SES specifics ------------------------------------------------------------------------------


def test_unreachable_ses_is_retried_then_reported(caplog: pytest.LogCaptureFixture) -> None:
    client = _ses_client(f"http://127.0.0.1:{free_port()}", connect_timeout=2)
    mailer = SesMailer(client=client, sender=SENDER, recipients=CONFIGURED, retry=NO_SLEEP)

    with caplog.at_level(logging.WARNING), pytest.raises(NotificationFailedError) as caught:
        mailer.send(email=Email(subject="hi", text="hi"))

    assert caught.value.message.startswith("SES SendEmail failed: EndpointConnectionError")
    retries = [r for r in caplog.records if r.getMessage() == "SES SendEmail failed, retrying"]
    assert len(retries) == NO_SLEEP.attempts - 1


def test_a_rejected_message_is_not_retried(
    ses_endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    harness = _ses(ses_endpoint)

    with caplog.at_level(logging.WARNING), pytest.raises(NotificationFailedError):
        harness.broken.send(email=Email(subject="hi", text="hi"))

    assert [r for r in caplog.records if "retrying" in r.getMessage()] == []


def test_the_error_names_no_secret_even_if_aws_quotes_one(ses_endpoint: str) -> None:
    client = _ses_client(ses_endpoint)
    secret = "sender-is-a-secret-here@example.com"
    mailer = SesMailer(
        client=client, sender=secret, recipients=CONFIGURED, retry=NO_SLEEP,
        redactor=Redactor((secret,)),
    )  # fmt: skip

    with pytest.raises(NotificationFailedError) as caught:
        mailer.send(email=Email(subject="hi", text="hi"))

    assert "MessageRejected" in caught.value.message
    assert secret not in json.dumps(caught.value.to_document())


def test_no_recipients_anywhere_fails_before_calling_ses(ses_endpoint: str) -> None:
    mailer = SesMailer(
        client=_ses_client(ses_endpoint), sender=SENDER, recipients=(), retry=NO_SLEEP
    )

    with pytest.raises(NotificationFailedError, match="NOTIFICATION_RECIPIENTS"):
        mailer.send(email=Email(subject="hi", text="hi"))


# --- `backupnimbus notify`, end to end ----------------------------------------------------------


@pytest.fixture
def notify_env(ses_endpoint: str) -> dict[str, str]:
    """Notifications through moto's SES; no MONGO_URI, which `notify` must not need."""
    _ses_client(ses_endpoint).verify_email_identity(EmailAddress=SENDER)
    return {
        "AWS_ACCESS_KEY_ID": b64("testing"),
        "AWS_SECRET_ACCESS_KEY": b64("testing"),
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL_SES": ses_endpoint,
        "NOTIFICATIONS_ENABLED": "true",
        "NOTIFICATION_SENDER_EMAIL": b64(SENDER),
        "NOTIFICATION_RECIPIENTS": b64(",".join(CONFIGURED)),
    }


def test_notify_command_sends_to_the_configured_recipients(
    notify_env: dict[str, str], ses_endpoint: str
) -> None:
    subject = _subject("Restore drill")

    completed = run_cli(["notify", "--subject", subject, "--message", "Drill at 10:00"], notify_env)

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == f"Sent {subject!r} to {', '.join(CONFIGURED)}"
    assert moto_sent(ses_endpoint, subject) == [Delivered(subject, "Drill at 10:00", CONFIGURED)]


def test_notify_command_with_html_and_recipients_as_json(
    notify_env: dict[str, str], ses_endpoint: str
) -> None:
    subject = _subject("Quarterly check")
    args = ["notify", "--subject", subject, "--message", "plain", "--html", "<p>rich</p>",
            "--recipient", "cto@example.com", "--recipient", "audit@example.org",
            "--json"]  # fmt: skip

    completed = run_cli(args, notify_env)

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {
        "status": "sent",
        "subject": subject,
        "recipients": ["cto@example.com", "audit@example.org"],
    }
    assert moto_sent(ses_endpoint, subject) == [
        Delivered(subject, "<p>rich</p>", ("cto@example.com", "audit@example.org"))
    ]


def test_notify_without_a_sender_is_a_config_error_naming_the_variable(
    notify_env: dict[str, str],
) -> None:
    env = {k: v for k, v in notify_env.items() if not k.startswith("NOTIF")}

    completed = run_cli(["notify", "--subject", "s", "--message", "m", "--json"], env)

    assert completed.returncode == 2
    error = json.loads(completed.stdout)["error"]
    assert error["code"] == "CONFIG_ERROR"
    assert "NOTIFICATION_SENDER_EMAIL is required" in error["message"]
    assert "NOTIFICATIONS_ENABLED" in error["message"]
    assert "Traceback" not in completed.stderr


def test_notify_with_an_unverified_sender_fails_with_the_reason(
    notify_env: dict[str, str], ses_endpoint: str
) -> None:
    env = {**notify_env, "NOTIFICATION_SENDER_EMAIL": b64("stranger@example.net")}
    subject = _subject("Rejected")

    completed = run_cli(["notify", "--subject", subject, "--message", "m"], env)

    assert completed.returncode == 1
    error = json.loads(completed.stderr.strip().splitlines()[-1])["error"]
    assert error["code"] == "NOTIFICATION_ERROR"
    assert "MessageRejected: Email address not verified" in error["message"]
    assert moto_sent(ses_endpoint, subject, sender="stranger@example.net") == []
