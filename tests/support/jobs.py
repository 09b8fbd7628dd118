"""A BackupJob wired by the composition root with fakes: shared by the job and deadline tests."""

from __future__ import annotations

import tenacity

from backupnimbus.adapters.memory import (
    FakeClock,
    FakeDumpRunner,
    InMemoryObjectStore,
    RecordingMailer,
)
from backupnimbus.adapters.retrying import RetryPolicy
from backupnimbus.domain.backup_job import BackupJob
from backupnimbus.domain.retention import RetentionPolicy
from backupnimbus.entrypoints.config import Config, NotificationConfig
from backupnimbus.entrypoints.container import bootstrap

NO_WAIT = RetryPolicy(wait=tenacity.wait_none())


def fake_backup_job(
    *,
    dumps: FakeDumpRunner | None = None,
    store: InMemoryObjectStore | None = None,
    mailer: RecordingMailer | None = None,
    retention: RetentionPolicy | None = None,
) -> tuple[BackupJob, InMemoryObjectStore, RecordingMailer]:
    store = store or InMemoryObjectStore()
    mailer = mailer or RecordingMailer(recipients=("ops@example.com",))
    config = Config(
        mongo_uri="mongodb://u:pw@db:27017/",
        notifications=NotificationConfig(
            enabled=True, sender="b@example.com", recipients=("ops@example.com",)
        ),
        retention=retention or RetentionPolicy(),
    )
    container = bootstrap(
        config, dump_runner=dumps or FakeDumpRunner(), store=store,
        mailer=mailer, clock=FakeClock(), retry=NO_WAIT,
    )  # fmt: skip
    return container.resolve(BackupJob), store, mailer
