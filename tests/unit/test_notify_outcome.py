"""NotifyOutcome and SendMessage with fakes: what lands in the mail, and what never does."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from backupnimbus.adapters.memory import RecordingMailer
from backupnimbus.domain.models import BackupResult, Manifest, NotificationOutcome, SourceInfo
from backupnimbus.domain.notify_outcome import NotifyOutcome, human_size
from backupnimbus.domain.send_message import SendMessage
from backupnimbus.entrypoints.container import bootstrap, config_from_environment
from backupnimbus.errors import (
    DumpFailedError,
    NotificationFailedError,
    ObjectExistsError,
    UsageInvalidError,
)
from backupnimbus.ports.mailer import Email
from backupnimbus.redaction import Redactor
from tests.support.cli import b64

KEY = "backups/orders/2025/04/07/orders-20250407T101530Z.archive.gz"
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
SECRET = "hunter2-Sup3r-s3cret"


def _result(size: int = 3 * 1024 * 1024 + 123) -> BackupResult:
    started = datetime(2025, 4, 7, 10, 15, 30, tzinfo=UTC)
    manifest = Manifest(
        name="orders",
        key=KEY,
        size=size,
        sha256=SHA,
        compressed=True,
        encrypted=False,
        started_at=started,
        finished_at=started + timedelta(seconds=42.5),
        mongodump_version="100.10.0",
        tool_version="0.1.0",
        source=SourceInfo(hosts=("db.example.com:27017",)),
        namespaces={"shop.orders": 1000, "shop.users": 200},
    )
    return BackupResult(manifest=manifest, manifest_key=KEY + ".manifest.json")


def _everything(email: Email) -> str:
    return "\n".join([email.subject, email.text, email.html or "", *email.recipients])


class ExplodingMailer:
    """A mailer with a bug in it: it raises something that is not a NotificationFailedError."""

    def send(self, *, email: Email) -> None:
        raise RuntimeError("socket went away")


class LeakyMailer:
    """Fails with a message that quotes a secret, as a careless SDK error might."""

    def send(self, *, email: Email) -> None:
        raise NotificationFailedError(f"SES said no to mongodb://admin:{SECRET}@db.example.com")


def test_success_mail_tells_where_the_backup_is_and_how_to_check_it() -> None:
    mailer = RecordingMailer()

    outcome = NotifyOutcome(mailer=mailer).notify(name="orders", result=_result())

    assert outcome == NotificationOutcome(sent=True)
    [email] = mailer.sent
    assert email.subject == "[BackupNimbus] Backup succeeded: orders"
    for body in (email.text, email.html or ""):
        assert KEY in body
        assert SHA in body
        assert "3.0 MiB (3145851 bytes)" in body
        assert "42.5 s" in body
        assert "1200 in 2 namespace(s)" in body


def test_failure_mail_holds_the_error_code_message_and_key() -> None:
    mailer = RecordingMailer()
    error = ObjectExistsError(f"A backup already exists at {KEY}", details={"key": KEY})

    outcome = NotifyOutcome(mailer=mailer).notify(name="orders", error=error)

    assert outcome == NotificationOutcome(sent=True)
    [email] = mailer.sent
    assert email.subject == "[BackupNimbus] Backup failed: orders"
    assert "ALREADY_EXISTS" in email.text
    assert f"A backup already exists at {KEY}" in email.text
    assert f"Key:     {KEY}" in email.text
    assert "ALREADY_EXISTS" in (email.html or "")


def test_html_body_escapes_what_the_error_says() -> None:
    mailer = RecordingMailer()
    error = DumpFailedError("mongodump said <script>alert(1)</script> & quit")

    NotifyOutcome(mailer=mailer).notify(name="orders", error=error)

    [email] = mailer.sent
    assert "<script>" not in (email.html or "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; quit" in (email.html or "")
    assert "mongodump said <script>alert(1)</script> & quit" in email.text


def test_planted_secret_never_reaches_the_mail() -> None:
    mailer = RecordingMailer()
    error = DumpFailedError(
        f"mongodump could not connect to mongodb://admin:{SECRET}@db.example.com/shop",
        details={"stderr_tail": [f"auth failed for password {SECRET}"], "exit_code": 1},
    )
    redactor = Redactor((SECRET,))

    NotifyOutcome(mailer=mailer, redactor=redactor).notify(name="orders", error=error)

    [email] = mailer.sent
    assert SECRET not in _everything(email)
    # Still useful: the reason and the stderr tail arrive, masked.
    assert "mongodb://admin:***@db.example.com/shop" in email.text
    assert "auth failed for password ***" in email.text


def test_mailer_down_is_reported_not_raised() -> None:
    outcome = NotifyOutcome(mailer=RecordingMailer(fail=True)).notify(
        name="orders", result=_result()
    )

    assert outcome == NotificationOutcome(sent=False, error="fake mailer is down")


def test_a_buggy_mailer_still_cannot_raise_out_of_notify() -> None:
    error = DumpFailedError("mongodump failed with exit code 1")

    outcome = NotifyOutcome(mailer=ExplodingMailer()).notify(name="orders", error=error)

    assert outcome == NotificationOutcome(sent=False, error="Unexpected failure: RuntimeError")


def test_the_mailers_own_error_is_redacted_in_the_outcome() -> None:
    notify = NotifyOutcome(mailer=LeakyMailer(), redactor=Redactor((SECRET,)))

    outcome = notify.notify(name="orders", result=_result())

    assert outcome is not None
    assert outcome.sent is False
    assert outcome.error is not None
    assert SECRET not in outcome.error
    assert "SES said no" in outcome.error


def test_on_success_false_sends_nothing_on_success_but_still_reports_failures() -> None:
    mailer = RecordingMailer()
    notify = NotifyOutcome(mailer=mailer, on_success=False)

    assert notify.notify(name="orders", result=_result()) is None
    assert mailer.sent == []

    notify.notify(name="orders", error=DumpFailedError("mongodump failed"))
    assert [email.subject for email in mailer.sent] == ["[BackupNimbus] Backup failed: orders"]


def test_on_failure_false_sends_nothing_on_failure() -> None:
    mailer = RecordingMailer()

    outcome = NotifyOutcome(mailer=mailer, on_failure=False).notify(
        name="orders", error=DumpFailedError("mongodump failed")
    )

    assert outcome is None
    assert mailer.sent == []


def test_notify_needs_exactly_one_of_result_and_error() -> None:
    with pytest.raises(TypeError, match="exactly one"):
        NotifyOutcome(mailer=RecordingMailer()).notify(name="orders")


@pytest.mark.parametrize(
    ("size", "shown"),
    [(0, "0 bytes"), (1023, "1023 bytes"), (1024, "1.0 KiB (1024 bytes)"),
     (5 * 1024**4, "5.0 TiB (5497558138880 bytes)")],
)  # fmt: skip
def test_human_size(size: int, shown: str) -> None:
    assert human_size(size) == shown


def test_send_message_passes_subject_bodies_and_recipients_to_the_mailer() -> None:
    mailer = RecordingMailer(recipients=("ops@example.com",))
    send = SendMessage(mailer=mailer)

    send.send(subject="Restore drill", message="Drill at 10:00", html="<b>Drill</b> at 10:00")
    send.send(subject="Hello", message="hi", recipients=["dba@example.com", "cto@example.com"])

    assert mailer.sent == [
        Email("Restore drill", "Drill at 10:00", "<b>Drill</b> at 10:00", ("ops@example.com",)),
        Email("Hello", "hi", None, ("dba@example.com", "cto@example.com")),
    ]


def test_send_message_rejects_bad_arguments_all_at_once() -> None:
    mailer = RecordingMailer()

    with pytest.raises(UsageInvalidError) as caught:
        SendMessage(mailer=mailer).send(
            subject="two\nlines", message="  ", recipients=["ops@example.com", "a,b@example.com"]
        )

    assert caught.value.problems == [
        "the subject must be a single line",
        "the message is empty",
        "not an e-mail address: 'a,b@example.com' (give one address per recipient, "
        "e.g. ops@example.com)",
    ]
    assert caught.value.exit_code == 2
    assert mailer.sent == []


def test_notify_on_success_setting_reaches_the_wired_use_case() -> None:
    environ = {
        "NOTIFICATIONS_ENABLED": "true",
        "NOTIFICATION_SENDER_EMAIL": b64("backups@example.com"),
        "NOTIFICATION_RECIPIENTS": b64("ops@example.com"),
        "NOTIFY_ON_SUCCESS": "false",
    }
    config = config_from_environment(environ, require_mongo=False, require_store=False)
    mailer = RecordingMailer()

    notify = bootstrap(config, mailer=mailer).resolve(NotifyOutcome)
    notify.notify(name="orders", result=_result())
    notify.notify(name="orders", error=DumpFailedError("mongodump failed"))

    assert [email.subject for email in mailer.sent] == ["[BackupNimbus] Backup failed: orders"]


def test_bad_notify_flag_is_a_config_problem_naming_the_variable() -> None:
    from backupnimbus.errors import ConfigInvalidError

    with pytest.raises(ConfigInvalidError) as caught:
        config_from_environment(
            {"NOTIFY_ON_FAILURE": "sometimes"}, require_mongo=False, require_store=False
        )

    assert caught.value.problems == ["NOTIFY_ON_FAILURE must be true or false"]


def test_with_notifications_off_no_outcome_is_mailed_and_messages_only_reach_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = config_from_environment({}, require_mongo=False, require_store=False)
    container = bootstrap(config)

    with caplog.at_level(logging.INFO):
        outcome = container.resolve(NotifyOutcome).notify(
            name="orders", error=DumpFailedError("boom")
        )
        container.resolve(SendMessage).send(subject="Drill", message=f"text with {SECRET}")

    assert outcome is None
    said = [r for r in caplog.records if r.name == "backupnimbus.adapters.log_mailer"]
    assert [getattr(r, "subject", None) for r in said] == ["Drill"]
    assert all(SECRET not in r.getMessage() for r in said)
