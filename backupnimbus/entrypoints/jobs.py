"""The work an invocation selects, shared by the Lambda handler and the CLI."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import attrs

from backupnimbus.domain.compression_choice import CompressionNames, choose_compression
from backupnimbus.entrypoints.config import Config
from backupnimbus.entrypoints.lambda_events import Invocation
from backupnimbus.errors import PartialBackupError

LAMBDA_MARGIN_S = 30.0
"""Time kept back from Lambda's timeout to stop mongodump, abort the upload and send the mail."""


def lambda_budget_s(context: Any) -> float | None:
    """Seconds a backup may run inside this invocation: the remaining time less a margin of
    LAMBDA_MARGIN_S, or a quarter of the remaining time when that is less (short timeouts)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    seconds = float(remaining()) / 1000
    return seconds - min(LAMBDA_MARGIN_S, seconds / 4)


@attrs.frozen
class Jobs:
    config: Config
    container: Any
    """The punq container from container.bootstrap."""

    def invoke(self, invocation: Invocation, context: Any = None) -> dict[str, Any]:
        if invocation.action == "verify":
            return self.verify(invocation)
        if invocation.action == "prune":
            return self.prune(invocation)
        if invocation.action == "drill":
            return self.drill(
                name=invocation.name or self.config.backup_name,
                key=invocation.key,
                random_within_days=invocation.random_within_days,
                budget_s=lambda_budget_s(context),
            )
        return self.backup(invocation, budget_s=lambda_budget_s(context))

    def backup(
        self,
        invocation: Invocation,
        *,
        budget_s: float | None = None,
        name_source: str = "the event's name",
    ) -> dict[str, Any]:
        """Args: budget_s: seconds the backup may take before it is stopped (TIMEOUT);
        name_source: what a user calls the invocation's name (--name, the event's name)."""
        from backupnimbus.domain.backup_job import BackupJob
        from backupnimbus.domain.models import BackupRequest
        from backupnimbus.entrypoints.config import key_length_problem
        from backupnimbus.entrypoints.documents import job_result_document, store_document
        from backupnimbus.errors import UsageInvalidError
        from backupnimbus.ports.clock import Clock

        if invocation.name is not None:
            # BACKUP_NAME was checked with the configuration; a name given now, only here.
            too_long = key_length_problem(self.config.backup_prefix, invocation.name, name_source)
            if too_long:
                raise UsageInvalidError([too_long])

        compression = choose_compression(
            compress=invocation.compress,
            algorithm=invocation.compression,
            level=None,
            fallback=self.config.backup_compression,
            names=CompressionNames(compress="compress", algorithm="compression", level="level"),
        )
        request = BackupRequest(
            name=invocation.name or self.config.backup_name,
            compression=compression,
            timestamp=invocation.timestamp,
            deadline=None
            if budget_s is None
            else self.container.resolve(Clock).now() + timedelta(seconds=budget_s),
        )
        clock = self.container.resolve(Clock)
        started = clock.now()
        try:
            job = self.container.resolve(BackupJob).run(request=request)
        except BaseException:
            # The failure still counts: the "no successful backup" alarm reads these metrics.
            _metric(request.name, succeeded=False, size=0, started=started, at=clock.now())
            raise
        manifest = job.backup.manifest
        _metric(
            request.name,
            succeeded=manifest.complete,
            size=manifest.size,
            started=started,
            at=clock.now(),
        )
        document = {**job_result_document(job), "store": store_document(self.config)}
        if not manifest.complete:
            # Stored and kept, but never a success: exit 3 on the command line, a function
            # error in Lambda, so that the alarms see it as they see a failure.
            raise PartialBackupError(
                f"Backup incomplete: {manifest.key} was stored, but the dump left something "
                f"out ({len(manifest.warnings)} warning(s)); it does not count as a good backup",
                details={"backup": document},
            )
        return document

    def verify(self, invocation: Invocation) -> dict[str, Any]:
        from backupnimbus.domain.verify_backup import VerifyBackup, VerifyFromKey, VerifyLatest
        from backupnimbus.entrypoints.documents import store_document, verified_document

        request: VerifyFromKey | VerifyLatest = (
            VerifyLatest(name=invocation.name or self.config.backup_name)
            if invocation.key is None
            else VerifyFromKey(key=invocation.key, name=invocation.name)
        )
        report = self.container.resolve(VerifyBackup).run(request=request)
        return {**verified_document(report), "store": store_document(self.config)}

    def prune(self, invocation: Invocation) -> dict[str, Any]:
        """Prunes the event's set, else BACKUP_NAME's: never another set's backups."""
        from backupnimbus.domain.prune_backups import PruneBackups
        from backupnimbus.entrypoints.documents import prune_result_document, store_document

        name = invocation.name or self.config.backup_name
        result = self.container.resolve(PruneBackups).run(policy=self.config.retention, name=name)
        return {**prune_result_document(result), "set": name, "store": store_document(self.config)}

    def drill(
        self,
        *,
        name: str,
        key: str | None = None,
        random_within_days: float | None = None,
        sample_size: int | None = None,
        seed: int | None = None,
        budget_s: float | None = None,
    ) -> dict[str, Any]:
        """A restore drill of one backup of set `name`; its metric is emitted either way."""
        from backupnimbus.domain.restore_drill import DEFAULT_SAMPLE, DrillRequest, RestoreDrill
        from backupnimbus.entrypoints.documents import drill_document, store_document
        from backupnimbus.entrypoints.metrics import emit_drill_metric
        from backupnimbus.ports.clock import Clock

        clock = self.container.resolve(Clock)
        started = clock.now()
        request = DrillRequest(
            name=name,
            key=key,
            random_within_days=random_within_days,
            sample_size=DEFAULT_SAMPLE if sample_size is None else sample_size,
            seed=seed,
            deadline=None if budget_s is None else started + timedelta(seconds=budget_s),
        )
        try:
            result = self.container.resolve(RestoreDrill).run(request=request)
        except BaseException:
            at = clock.now()
            emit_drill_metric(
                name=name, succeeded=False, seconds=(at - started).total_seconds(), at=at
            )
            raise
        emit_drill_metric(name=name, succeeded=True, seconds=result.rto_s, at=clock.now())
        return {**drill_document(result), "store": store_document(self.config)}


def _metric(name: str, *, succeeded: bool, size: int, started: datetime, at: datetime) -> None:
    from backupnimbus.entrypoints.metrics import emit_backup_metric

    duration = (at - started).total_seconds()
    emit_backup_metric(name=name, succeeded=succeeded, size=size, duration_s=duration, at=at)
