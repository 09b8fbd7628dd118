"""Retention: which backups of a set a policy lets go, and deleting them safely.

What prune does with each state of a backup (see list_backups):

- COMPLETE backups, and only they, take part in the keep rules, ordered and grouped into periods
  by the finish time their manifest records: the stamp in a key is whatever `--timestamp` or a
  clock gave it, so a key stamped in the future cannot crowd out newer backups, and a manual
  backup stamped in the past is as new as when it finished.
- PARTIAL backups never count toward a rule. One is kept while it is newer than the newest
  complete backup of its set (it may hold the only copy of what changed since), and deleted as
  superseded once a newer complete backup exists.
- UNREADABLE backups (a manifest exists but does not decode, or names another archive or set)
  are never deleted: nothing proves they are not good backups a newer version wrote. They are
  kept and reported.
- INCOMPLETE archives (no manifest) are deleted once the store says they were written longer
  ago than the grace period; a younger one may be an upload still running.

Two guards stand above the plan: keys the caller protects (the backup a run just made) are
never deleted, and a plan that would delete the newest complete backup of a set is refused
before anything is deleted.

With Object Lock (`locking`), a third: a backup whose archive or manifest is still locked is
kept and reported as "locked until ...", never deleted (no governance bypass is ever asked for;
on a versioned bucket a plain delete would only hide it behind a delete marker). And the lock
of every complete backup the plan keeps is extended before it runs out, within the policy's
maximum (see domain/object_lock.py).
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Collection
from datetime import timedelta

import attrs

from backupnimbus.domain.keys import manifest_key
from backupnimbus.domain.list_backups import (
    COMPLETE,
    INCOMPLETE,
    PARTIAL,
    UNREADABLE,
    BackupRecord,
    ListBackups,
    finished_order,
)
from backupnimbus.domain.object_lock import Locking, is_locked, lock_text
from backupnimbus.domain.retention import RetentionPolicy, plan_retention, require_rule
from backupnimbus.errors import BackupNimbusError, BackupNotFoundError, UsageInvalidError
from backupnimbus.ports.clock import Clock
from backupnimbus.ports.object_lock import Lock
from backupnimbus.ports.object_store import ObjectStore

log = logging.getLogger(__name__)

TOO_RECENT = "incomplete, too recent"
FORGOTTEN = "kept by no rule"
PROTECTED = "protected"
PARTIAL_NEWEST = "partial, newer than the newest complete backup"
PARTIAL_SUPERSEDED = "partial, superseded by a newer complete backup"
UNREADABLE_PREFIX = "unreadable manifest: "
LOCKED_PREFIX = "locked until "


@attrs.frozen
class KeptBackup:
    key: str
    """The archive's key."""
    state: str
    """COMPLETE, PARTIAL, UNREADABLE or INCOMPLETE (see list_backups)."""
    reasons: tuple[str, ...]
    """Every rule that kept it ("daily #3"), or why a backup outside the rules stays
    ("locked until ..." for one the plan would delete but its lock forbids)."""
    lock: Lock | None = None
    """Its Object Lock after this prune (extended, or as found); None: none, or not in use."""

    @property
    def complete(self) -> bool:
        return self.state == COMPLETE


@attrs.frozen
class DeletedBackup:
    key: str
    """The archive's key; its manifest went with it (first)."""
    state: str
    reason: str


@attrs.frozen
class ExtendedLock:
    key: str
    """The archive's key; its manifest's lock was extended to the same date."""
    previous: Lock | None
    lock: Lock
    """The new lock (on a dry run: the one it would get)."""


@attrs.frozen
class PruneResult:
    policy: RetentionPolicy
    kept: tuple[KeptBackup, ...]
    """Newest first."""
    deleted: tuple[DeletedBackup, ...]
    """Newest first; on a dry run, what would have been deleted."""
    dry_run: bool
    extended: tuple[ExtendedLock, ...] = ()
    """Locks of kept backups extended (on a dry run: that would be), newest first."""
    locks_in_use: bool = False
    """Whether locks were read and respected (S3_OBJECT_LOCK_MODE is set)."""

    @property
    def locked(self) -> tuple[KeptBackup, ...]:
        """The backups the plan would delete but whose lock has not run out."""
        return tuple(k for k in self.kept if k.reasons[0].startswith(LOCKED_PREFIX))

    @property
    def unreadable(self) -> tuple[tuple[str, str], ...]:
        """(key, why its manifest cannot be used) of every backup kept for that reason."""
        return tuple(
            (kept.key, kept.reasons[0].removeprefix(UNREADABLE_PREFIX))
            for kept in self.kept
            if kept.state == UNREADABLE
        )


Decision = KeptBackup | DeletedBackup


@attrs.frozen
class PruneBackups:
    """Deletes the backups a retention policy no longer keeps, set by set."""

    list_backups: ListBackups
    store: ObjectStore
    clock: Clock
    incomplete_grace: timedelta = timedelta(hours=24)
    """An incomplete archive younger than this may belong to a backup still running."""
    locking: Locking | None = None
    """With Object Lock: locked backups are kept, and kept backups' locks extended."""

    def run(
        self,
        *,
        policy: RetentionPolicy,
        name: str | None = None,
        all_sets: bool = False,
        dry_run: bool = False,
        protect: Collection[str] = (),
    ) -> PruneResult:
        """Args:
            name: the backup set to prune; required unless `all_sets`.
            all_sets: prune every set, each planned on its own.
            dry_run: plan, delete nothing.
            protect: archive keys never deleted whatever the plan (the backup just made).

        Raises UsageInvalidError for an empty policy or a missing/ambiguous set, before
        touching the store; BackupNimbusError, before any delete, for a plan that would delete
        the newest complete backup of a set.
        """
        require_rule(policy)
        if all_sets and name is not None:
            raise UsageInvalidError(["give one backup set (--name) or --all-sets, not both"])
        if name is None and not all_sets:
            raise UsageInvalidError(
                ["prune works on one backup set: give --name NAME, or --all-sets to prune "
                 "every set, each on its own"]
            )  # fmt: skip
        records = self.list_backups.run(name=name)
        sets: dict[str, list[BackupRecord]] = defaultdict(list)
        for record in records:
            sets[record.name].append(record)
        decisions: dict[str, Decision] = {}
        for members in sets.values():
            decisions.update(self._plan_set(policy, members, frozenset(protect)))
        extended: list[ExtendedLock] = []
        if self.locking is not None:
            extended = self._respect_locks(self.locking, records, decisions, dry_run=dry_run)
        kept = tuple(d for r in records if isinstance(d := decisions[r.key], KeptBackup))
        deleted = tuple(d for r in records if isinstance(d := decisions[r.key], DeletedBackup))
        if not dry_run:
            for gone in deleted:
                self._delete(gone)
        return PruneResult(
            policy=policy,
            kept=kept,
            deleted=deleted,
            dry_run=dry_run,
            extended=tuple(extended),
            locks_in_use=self.locking is not None,
        )

    def _respect_locks(
        self,
        locking: Locking,
        records: list[BackupRecord],
        decisions: dict[str, Decision],
        *,
        dry_run: bool,
    ) -> list[ExtendedLock]:
        """Turns every planned delete of a locked backup into a keep, and extends the locks of
        the complete backups kept (unless `dry_run`). Extensions come before any delete, so a
        failure to extend leaves everything in place."""
        now = self.clock.now()
        extended = []
        for record in records:
            decision = decisions[record.key]
            if isinstance(decision, DeletedBackup):
                lock = self._latest_lock(locking, record)
                if is_locked(lock, now=now):
                    assert lock is not None
                    why = LOCKED_PREFIX + lock_text(lock).partition(" until ")[2]
                    decisions[record.key] = KeptBackup(record.key, decision.state, (why,), lock)
                    log.info("backup kept: still locked", extra={"key": record.key})
                continue
            lock = record.lock
            if record.state == COMPLETE and record.manifest is not None:
                wanted = locking.policy.extension(
                    current=lock, made=record.manifest.finished_at, now=now
                )
                if wanted is not None:
                    if not dry_run:
                        locking.locks.lock(key=record.key, lock=wanted)
                        locking.locks.lock(key=manifest_key(record.key), lock=wanted)
                        log.info("lock extended", extra={"key": record.key})
                    extended.append(ExtendedLock(record.key, lock, wanted))
                    lock = wanted
            decisions[record.key] = attrs.evolve(decision, lock=lock)
        return extended

    def _latest_lock(self, locking: Locking, record: BackupRecord) -> Lock | None:
        """The later of the archive's and the manifest's lock: either forbids the delete."""
        locks = [record.lock]
        with contextlib.suppress(BackupNotFoundError):  # deleted since the listing
            locks.append(locking.locks.lock_of(key=manifest_key(record.key)))
        present = [lock for lock in locks if lock is not None]
        return max(present, key=lambda lock: lock.retain_until) if present else None

    def _plan_set(
        self, policy: RetentionPolicy, members: list[BackupRecord], protect: frozenset[str]
    ) -> dict[str, Decision]:
        complete = [r for r in members if r.state == COMPLETE]
        newest = max(complete, key=finished_order) if complete else None
        decisions: dict[str, Decision] = {}
        if complete:
            plan = plan_retention(
                policy=policy,
                backups={r.key: finished_order(r)[0] for r in complete},
            )
            for key, reasons in plan.keep.items():
                decisions[key] = KeptBackup(key, COMPLETE, tuple(str(r) for r in reasons))
            for key in plan.forget:
                decisions[key] = DeletedBackup(key, COMPLETE, FORGOTTEN)
        for record in members:
            if record.state != COMPLETE:
                decisions[record.key] = self._judge_outside_rules(record, newest)
        for key, decision in decisions.items():
            if isinstance(decision, DeletedBackup) and key in protect:
                decisions[key] = KeptBackup(key, decision.state, (PROTECTED,))
        if newest is not None and isinstance(decisions[newest.key], DeletedBackup):
            raise BackupNimbusError(
                f"Refusing to prune: the plan would delete the newest complete backup of set "
                f"{newest.name!r}; nothing was deleted",
                details={"name": newest.name, "key": newest.key},
            )
        return decisions

    def _judge_outside_rules(self, record: BackupRecord, newest: BackupRecord | None) -> Decision:
        """The fate of a backup no keep rule looks at: partial, unreadable or incomplete."""
        if record.state == UNREADABLE:
            why = UNREADABLE_PREFIX + str(record.manifest_problem)
            return KeptBackup(record.key, UNREADABLE, (why,))
        if record.state == PARTIAL:
            if newest is None or finished_order(record) > finished_order(newest):
                return KeptBackup(record.key, PARTIAL, (PARTIAL_NEWEST,))
            return DeletedBackup(record.key, PARTIAL, PARTIAL_SUPERSEDED)
        assert record.state == INCOMPLETE
        if self.clock.now() - record.modified_at > self.incomplete_grace:
            hours = self.incomplete_grace / timedelta(hours=1)
            return DeletedBackup(record.key, INCOMPLETE, f"incomplete, older than {hours:g} h")
        return KeptBackup(record.key, INCOMPLETE, (TOO_RECENT,))

    def _delete(self, gone: DeletedBackup) -> None:
        # Manifest first: if the run dies between the two deletes, the archive is left without
        # a manifest, so it reads as incomplete (never as a good backup) and a later run
        # removes it. An incomplete archive's manifest is deleted too, in case its upload
        # finished since the listing: a manifest must never outlive its archive.
        self.store.delete(key=manifest_key(gone.key))
        self.store.delete(key=gone.key)
        log.info("backup deleted", extra={"key": gone.key, "reason": gone.reason})
