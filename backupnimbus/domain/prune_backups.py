from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta

import attrs

from backupnimbus.domain.keys import manifest_key
from backupnimbus.domain.list_backups import BackupRecord, ListBackups
from backupnimbus.domain.retention import RetentionPolicy, plan_retention, require_rule
from backupnimbus.ports.clock import Clock
from backupnimbus.ports.object_store import ObjectStore

log = logging.getLogger(__name__)

TOO_RECENT = "incomplete, too recent"
FORGOTTEN = "kept by no rule"


@attrs.frozen
class KeptBackup:
    key: str
    """The archive's key."""
    complete: bool
    """False for an archive without a manifest that may still be in progress."""
    reasons: tuple[str, ...]
    """Every rule that kept it ("daily #3"), or why an incomplete archive stays."""


@attrs.frozen
class DeletedBackup:
    key: str
    """The archive's key; its manifest went with it."""
    reason: str


@attrs.frozen
class PruneResult:
    policy: RetentionPolicy
    kept: tuple[KeptBackup, ...]
    """Newest first."""
    deleted: tuple[DeletedBackup, ...]
    """Newest first; on a dry run, what would have been deleted."""
    dry_run: bool


@attrs.frozen
class PruneBackups:
    """Deletes the backups a retention policy no longer keeps, and stale incomplete archives.

    Only complete backups take part in the policy, which applies to each backup set (name) on
    its own, as restic applies its policy per group.
    """

    list_backups: ListBackups
    store: ObjectStore
    clock: Clock
    incomplete_grace: timedelta = timedelta(hours=24)
    """An incomplete archive younger than this may belong to a backup still running."""

    def run(
        self, *, policy: RetentionPolicy, name: str | None = None, dry_run: bool = False
    ) -> PruneResult:
        """Args: `name` limits the run to one backup set; `dry_run` deletes nothing.

        Raises UsageInvalidError for an empty policy, before touching the store.
        """
        require_rule(policy)
        records = self.list_backups.run(name=name)
        decisions: dict[str, KeptBackup | DeletedBackup] = {}
        self._apply_policy(policy, [r for r in records if r.complete], decisions)
        self._judge_incomplete([r for r in records if not r.complete], decisions)
        kept = tuple(d for r in records if isinstance(d := decisions[r.key], KeptBackup))
        deleted = tuple(d for r in records if isinstance(d := decisions[r.key], DeletedBackup))
        if not dry_run:
            for gone in deleted:
                self._delete(gone)
        return PruneResult(policy=policy, kept=kept, deleted=deleted, dry_run=dry_run)

    def _apply_policy(
        self,
        policy: RetentionPolicy,
        complete: list[BackupRecord],
        decisions: dict[str, KeptBackup | DeletedBackup],
    ) -> None:
        sets: dict[str, list[BackupRecord]] = defaultdict(list)
        for record in complete:
            sets[record.name].append(record)
        for members in sets.values():
            plan = plan_retention(policy=policy, backups={r.key: r.timestamp for r in members})
            for key, reasons in plan.keep.items():
                decisions[key] = KeptBackup(key, True, tuple(str(r) for r in reasons))
            for key in plan.forget:
                decisions[key] = DeletedBackup(key, FORGOTTEN)

    def _judge_incomplete(
        self, incomplete: list[BackupRecord], decisions: dict[str, KeptBackup | DeletedBackup]
    ) -> None:
        now = self.clock.now()
        for record in incomplete:
            if now - record.modified_at > self.incomplete_grace:
                hours = self.incomplete_grace / timedelta(hours=1)
                decisions[record.key] = DeletedBackup(
                    record.key, f"incomplete, older than {hours:g} h"
                )
            else:
                decisions[record.key] = KeptBackup(record.key, False, (TOO_RECENT,))

    def _delete(self, gone: DeletedBackup) -> None:
        # Manifest first: if the run dies between the two deletes, the archive is left without
        # a manifest, so it reads as incomplete (never as a good backup) and a later run
        # removes it. An incomplete archive may have an unreadable manifest; it goes too.
        self.store.delete(key=manifest_key(gone.key))
        self.store.delete(key=gone.key)
        log.info("backup deleted", extra={"key": gone.key, "reason": gone.reason})
