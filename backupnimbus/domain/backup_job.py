from __future__ import annotations

import logging

import attrs

from backupnimbus.domain.models import BackupRequest, BackupResult
from backupnimbus.domain.notify_outcome import NotifyOutcome
from backupnimbus.domain.prune_backups import PruneBackups, PruneResult
from backupnimbus.domain.retention import RetentionPolicy
from backupnimbus.domain.run_backup import RunBackup
from backupnimbus.errors import BackupNimbusError

log = logging.getLogger(__name__)


@attrs.frozen
class JobResult:
    backup: BackupResult
    retention: PruneResult | None = None
    """What the after-backup prune did, when a retention policy is configured."""
    retention_error: str | None = None
    """Why the after-backup prune failed; the backup itself still succeeded."""


@attrs.frozen
class BackupJob:
    """A scheduled run: back up, apply the retention policy, mail the outcome.

    Only the backup decides success. A failed prune or mail is reported beside a good backup,
    never instead of it; and a failed backup is mailed, then raised, never swallowed.
    """

    backup: RunBackup
    notify: NotifyOutcome
    prune: PruneBackups
    retention: RetentionPolicy
    """Applied after every successful backup unless it is empty."""

    def run(self, *, request: BackupRequest) -> JobResult:
        try:
            result = self.backup.run(request=request)
        except BackupNimbusError as error:
            self._report_failure(request, error)
            raise
        except KeyboardInterrupt:
            self._report_failure(request, BackupNimbusError("The backup was interrupted"))
            raise
        except Exception as unexpected:
            wrapped = BackupNimbusError(
                f"Unexpected failure: {type(unexpected).__name__}",
                details={"type": type(unexpected).__name__},
            )
            self._report_failure(request, wrapped)
            raise wrapped from unexpected
        pruned, prune_error = self._apply_retention(request.name, made=result.manifest.key)
        outcome = self.notify.notify(name=request.name, result=result)
        return JobResult(
            backup=attrs.evolve(result, notification=outcome),
            retention=pruned,
            retention_error=prune_error,
        )

    def _apply_retention(self, name: str, *, made: str) -> tuple[PruneResult | None, str | None]:
        """Prunes the set just backed up; `made`, the backup this run wrote, is never deleted
        (its key or its manifest's finish time may be anything a flag or a clock gave it)."""
        if self.retention.is_empty():
            return None, None
        try:
            return self.prune.run(policy=self.retention, name=name, protect=(made,)), None
        except BackupNimbusError as error:
            log.error("retention after the backup failed", extra={"error": error.message})
            return None, error.message

    def _report_failure(self, request: BackupRequest, error: BackupNimbusError) -> None:
        outcome = self.notify.notify(name=request.name, error=error)
        if outcome is not None:
            error.details["notification"] = {"sent": outcome.sent, "error": outcome.error}
