"""BackupJob with fakes: the backup alone decides the outcome; mail and retention only report."""

from __future__ import annotations

import logging

import pytest

from backupnimbus.adapters.fake_archive import fake_archive
from backupnimbus.adapters.memory import (
    FakeDumpRunner,
    InMemoryObjectStore,
    RecordingMailer,
)
from backupnimbus.domain.models import BackupRequest
from backupnimbus.domain.retention import RetentionPolicy
from backupnimbus.errors import BackupNimbusError, DumpFailedError, StorageFailedError
from backupnimbus.ports.object_store import StoredObject
from tests.support.jobs import fake_backup_job


def test_success_mails_the_key_and_sha256() -> None:
    job, store, mailer = fake_backup_job()

    result = job.run(request=BackupRequest(name="nightly"))

    assert result.backup.notification is not None
    assert result.backup.notification.sent
    [email] = mailer.sent
    assert "succeeded" in email.subject
    assert result.backup.manifest.key in email.text
    assert result.backup.manifest.sha256 in email.text
    assert result.backup.manifest.key in store.objects


def test_a_failed_backup_is_mailed_then_raised() -> None:
    job, store, mailer = fake_backup_job(
        dumps=FakeDumpRunner(data=fake_archive({"db.coll": 10}, padding=400), fail_after=100)
    )

    with pytest.raises(DumpFailedError) as caught:
        job.run(request=BackupRequest(name="nightly"))

    [email] = mailer.sent
    assert "failed" in email.subject
    assert "DUMP_ERROR" in email.text
    assert caught.value.details["notification"] == {"sent": True, "error": None}
    assert store.objects == {}


def test_a_mail_failure_never_turns_a_good_backup_into_a_failure() -> None:
    job, store, _ = fake_backup_job(mailer=RecordingMailer(fail=True))

    result = job.run(request=BackupRequest(name="nightly"))

    assert result.backup.notification is not None
    assert not result.backup.notification.sent
    assert "fake mailer is down" in (result.backup.notification.error or "")
    assert result.backup.manifest.key in store.objects


def test_a_mail_failure_never_hides_a_failed_backup() -> None:
    job, _, _ = fake_backup_job(
        dumps=FakeDumpRunner(data=fake_archive({"db.coll": 10}, padding=400), fail_after=10),
        mailer=RecordingMailer(fail=True),
    )

    with pytest.raises(DumpFailedError) as caught:
        job.run(request=BackupRequest(name="nightly"))

    assert caught.value.details["notification"]["sent"] is False


def test_retention_runs_after_a_good_backup() -> None:
    store = InMemoryObjectStore()
    job, _, _ = fake_backup_job(store=store, retention=RetentionPolicy(last=1))
    first = job.run(request=BackupRequest(name="nightly"))

    second = job.run(request=BackupRequest(name="nightly"))

    assert second.retention is not None
    assert second.retention_error is None
    assert [gone.key for gone in second.retention.deleted] == [first.backup.manifest.key]
    assert first.backup.manifest.key not in store.objects
    assert second.backup.manifest.key in store.objects


def test_a_failed_prune_after_a_good_backup_is_only_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class NoDeletes(InMemoryObjectStore):
        def delete(self, *, key: str) -> None:
            raise StorageFailedError("the store refused the delete", details={"key": key})

    store = NoDeletes()
    job, _, mailer = fake_backup_job(store=store, retention=RetentionPolicy(last=1))
    first = job.run(request=BackupRequest(name="nightly"))

    with caplog.at_level(logging.ERROR, logger="backupnimbus"):
        second = job.run(request=BackupRequest(name="nightly"))

    # The backup stands, is mailed as a success, and the prune failure is reported beside it.
    assert second.backup.manifest.key in store.objects
    assert second.backup.notification is not None
    assert second.backup.notification.sent
    assert "succeeded" in mailer.sent[-1].subject
    assert second.retention is None
    assert second.retention_error == "the store refused the delete"
    assert any(
        record.getMessage() == "retention after the backup failed" for record in caplog.records
    )
    # Nothing was deleted: the backup the policy would forget is still there.
    assert first.backup.manifest.key in store.objects


def test_an_unexpected_exception_is_wrapped_mailed_and_raised() -> None:
    class ExplodingStore(InMemoryObjectStore):
        def list_objects(self, *, prefix: str) -> list[StoredObject]:
            raise RuntimeError("disk on fire")

    job, _, mailer = fake_backup_job(store=ExplodingStore())

    with pytest.raises(BackupNimbusError, match="Unexpected failure: RuntimeError") as caught:
        job.run(request=BackupRequest(name="nightly"))

    assert type(caught.value) is BackupNimbusError
    assert "failed" in mailer.sent[0].subject
