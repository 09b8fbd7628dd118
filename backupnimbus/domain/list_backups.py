from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

import attrs

from backupnimbus.domain.keys import MANIFEST_SUFFIX
from backupnimbus.domain.manifest_codec import decode_manifest
from backupnimbus.domain.models import Manifest
from backupnimbus.errors import BackupNotFoundError
from backupnimbus.ports.object_store import ObjectStore, StoredObject

log = logging.getLogger(__name__)

_ARCHIVE = re.compile(
    r"(?P<name>[^/]+)/\d{4}/\d{2}/\d{2}/(?P=name)-(?P<stamp>\d{8}T\d{6}Z)"
    r"\.archive(?P<gz>\.gz)?(?P<age>\.age)?$"
)


@attrs.frozen
class BackupRecord:
    """One archive in the store, with its manifest when the backup completed."""

    key: str
    name: str
    timestamp: datetime
    """The time in the key (UTC)."""
    size: int
    compressed: bool
    encrypted: bool
    modified_at: datetime
    manifest: Manifest | None = None
    """None means incomplete: the archive has no (readable) manifest."""

    @property
    def complete(self) -> bool:
        return self.manifest is not None

    @property
    def manifest_key(self) -> str:
        return self.key + MANIFEST_SUFFIX


@attrs.frozen
class ListBackups:
    store: ObjectStore
    prefix: str

    def run(self, *, name: str | None = None) -> list[BackupRecord]:
        """Returns: the backups under the prefix (of one set when `name` is given), newest first."""
        objects = {obj.key: obj for obj in self.store.list_objects(prefix=self.prefix)}
        records = []
        for key, obj in objects.items():
            match = _ARCHIVE.match(key[len(self.prefix) :])
            if match is None or (name is not None and match["name"] != name):
                continue
            manifest = None
            if key + MANIFEST_SUFFIX in objects:
                manifest = self._read_manifest(key + MANIFEST_SUFFIX)
            records.append(_record(obj, match, manifest))
        return sorted(records, key=lambda r: (r.timestamp, r.key), reverse=True)

    def _read_manifest(self, key: str) -> Manifest | None:
        try:
            with self.store.open_read(key=key) as stream:
                return decode_manifest(stream.read())
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable manifest; the backup counts as incomplete", extra={"key": key})
            return None


def latest_complete(records: list[BackupRecord]) -> BackupRecord:
    """Args: records, newest first. Raises BackupNotFoundError when none is complete."""
    for record in records:
        if record.complete:
            return record
    raise BackupNotFoundError("No complete backup found", details={"searched": len(records)})


def _record(obj: StoredObject, match: re.Match[str], manifest: Manifest | None) -> BackupRecord:
    stamp = datetime.strptime(match["stamp"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return BackupRecord(
        key=obj.key,
        name=match["name"],
        timestamp=stamp,
        size=obj.size,
        compressed=bool(match["gz"]),
        encrypted=bool(match["age"]),
        modified_at=obj.modified_at,
        manifest=manifest,
    )
