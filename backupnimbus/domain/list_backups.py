from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

import attrs

from backupnimbus.domain.keys import ARCHIVE_KEY, COMPRESSION_OF_SUFFIX, MANIFEST_SUFFIX
from backupnimbus.domain.models import Manifest
from backupnimbus.domain.read_manifest import ManifestUnusableError, read_manifest
from backupnimbus.domain.read_manifest import manifest_mismatch as manifest_mismatch
from backupnimbus.errors import BackupNotFoundError
from backupnimbus.ports.object_lock import Lock, ObjectLocks
from backupnimbus.ports.object_store import ObjectStore, StoredObject

log = logging.getLogger(__name__)

_STORE_CLOCK_RESOLUTION = timedelta(seconds=1)


COMPLETE = "complete"
"""Proven whole, and the dump tool left nothing out: the only state that counts as a backup."""
PARTIAL = "partial"
"""Proven whole, but the dump tool reported skipping something; kept, never counted."""
UNREADABLE = "unreadable"
"""A manifest exists but does not decode, or names another archive: never counted, never
deleted, since nothing proves it is not a good backup a newer version wrote."""
INCOMPLETE = "incomplete"
"""No manifest: an upload that never finished, or one still running."""


@attrs.frozen
class BackupRecord:
    """One archive in the store, with its manifest when the backup completed."""

    key: str
    name: str
    timestamp: datetime
    """The time in the key (UTC)."""
    size: int
    compressed: bool
    compression: str
    """The algorithm the key's suffix names: GZIP, ZSTD or NONE."""
    encrypted: bool
    modified_at: datetime
    manifest: Manifest | None = None
    """The decoded manifest; None when there is none or it is unreadable."""
    manifest_problem: str | None = None
    """Why a manifest that exists could not be used; None when it could, or is absent."""
    manifest_written_at: datetime | None = None
    """When the store wrote the manifest, by the store's own clock."""
    lock: Lock | None = None
    """The archive's Object Lock, as the store has it now; None when it has none or locks
    are not in use."""

    @property
    def state(self) -> str:
        """COMPLETE, PARTIAL, UNREADABLE or INCOMPLETE."""
        if self.manifest_problem is not None:
            return UNREADABLE
        if self.manifest is None:
            return INCOMPLETE
        return COMPLETE if self.manifest.complete else PARTIAL

    @property
    def complete(self) -> bool:
        """A good backup: its manifest decodes, matches it, and reports nothing left out."""
        return self.state == COMPLETE

    @property
    def manifest_key(self) -> str:
        return self.key + MANIFEST_SUFFIX


@attrs.frozen
class ListBackups:
    store: ObjectStore
    prefix: str
    locks: ObjectLocks | None = None
    """When set, each archive's lock is read (one request per backup)."""

    def run(self, *, name: str | None = None) -> list[BackupRecord]:
        """Returns: the backups under the prefix (of one set when `name` is given), newest first."""
        objects = {obj.key: obj for obj in self.store.list_objects(prefix=self.prefix)}
        records = []
        for key, obj in objects.items():
            match = ARCHIVE_KEY.match(key[len(self.prefix) :])
            if match is None or (name is not None and match["name"] != name):
                continue
            record = _record(obj, match)
            if key + MANIFEST_SUFFIX in objects:
                written = objects[key + MANIFEST_SUFFIX].modified_at
                record = self._with_manifest(attrs.evolve(record, manifest_written_at=written))
            if self.locks is not None:
                locked = self._with_lock(record, self.locks)
                if locked is None:
                    continue
                record = locked
            records.append(record)
        return sorted(records, key=lambda r: (r.timestamp, r.key), reverse=True)

    def _with_lock(self, record: BackupRecord, locks: ObjectLocks) -> BackupRecord | None:
        try:
            return attrs.evolve(record, lock=locks.lock_of(key=record.key))
        except BackupNotFoundError:
            return None  # deleted since the listing

    def _with_manifest(self, record: BackupRecord) -> BackupRecord:
        try:
            manifest = read_manifest(self.store, key=record.key, name=record.name)
        except ManifestUnusableError as unusable:
            if unusable.details["reason"] == INCOMPLETE:
                return record  # deleted since the listing, by a prune or by hand
            problem = unusable.details["problem"]
            log.warning(
                "unreadable manifest: the backup is neither counted nor deleted",
                extra={"key": record.manifest_key, "problem": problem},
            )
            return attrs.evolve(record, manifest_problem=problem)
        return attrs.evolve(record, manifest=manifest)


def latest_complete(records: list[BackupRecord], *, name: str | None) -> BackupRecord:
    """The one rule for `--latest`, shared by every command and action.

    Returns: of the complete backups of set `name` (None: of every set, as `--all-sets` asks),
    the one whose manifest says it finished last (the key's stamp may be anything a user or a
    clock gave it). Partial, unreadable and incomplete backups are never chosen. Raises
    BackupNotFoundError when there is none.
    """
    mine = [r for r in records if name is None or r.name == name]
    candidates = [r for r in mine if r.complete]
    if not candidates:
        others = sorted({r.state for r in mine} - {COMPLETE})
        which = "in any set" if name is None else f"of set {name!r}"
        raise BackupNotFoundError(
            f"No complete backup {which} found",
            details={"name": name, "searched": len(records), "other_states": others},
        )
    return max(candidates, key=finished_order)


def finished_order(record: BackupRecord) -> tuple[datetime, str]:
    """Sort key of complete backups, oldest first: when the backup finished, then the key.

    That is the manifest's finish time, but never later than when the store wrote the manifest:
    the store's clock is one clock for every backup, while a host whose clock once ran ahead
    would otherwise write a backup that counts as the newest, for `--latest` and retention
    alike, until real time caught up with it."""
    assert record.manifest is not None, "only complete backups have an order"
    finished = record.manifest.finished_at
    if record.manifest_written_at is not None:
        # S3 keeps whole seconds: the manifest may look written before the run finished.
        finished = min(finished, record.manifest_written_at + _STORE_CLOCK_RESOLUTION)
    return (finished, record.key)


def _record(obj: StoredObject, match: re.Match[str]) -> BackupRecord:
    stamp = datetime.strptime(match["stamp"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return BackupRecord(
        key=obj.key,
        name=match["name"],
        timestamp=stamp,
        size=obj.size,
        compressed=match["compression"] is not None,
        compression=COMPRESSION_OF_SUFFIX[match["compression"]],
        encrypted=bool(match["age"]),
        modified_at=obj.modified_at,
    )
