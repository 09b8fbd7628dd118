"""An in-memory object store whose objects carry write times, and the manifests it holds:
shared by the prune tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import attrs

from backupnimbus.adapters.memory import InMemoryObjectStore
from backupnimbus.domain.keys import archive_key, manifest_key
from backupnimbus.domain.manifest_codec import encode_manifest
from backupnimbus.domain.models import COMPLETE, PARTIAL, Manifest, SourceInfo
from backupnimbus.errors import StorageFailedError
from backupnimbus.ports.compressor import GZIP
from backupnimbus.ports.object_store import StoredObject

PREFIX = "backups/"
NOW = datetime(2025, 4, 7, 10, 15, 30, tzinfo=UTC)


def manifest_bytes(
    key: str, name: str, at: datetime, *, finished_at: datetime | None = None,
    partial: bool = False,
) -> bytes:  # fmt: skip
    """A manifest whose backup started at `at` and finished 42 s later unless told otherwise."""
    return encode_manifest(
        Manifest(
            name=name, key=key, size=len(key), sha256="0" * 64, compressed=True,
            encrypted=False, started_at=at,
            finished_at=finished_at or at + timedelta(seconds=42),
            mongodump_version="100.10.0", tool_version="0.1.0",
            source=SourceInfo(hosts=("db.example:27017",)),
            status=PARTIAL if partial else COMPLETE,
            warnings=("skipped db.broken",) if partial else (),
        )
    )  # fmt: skip


@attrs.define
class AgedStore(InMemoryObjectStore):
    """The in-memory store, with a write time per key and a log of deletes in order."""

    written_at: dict[str, datetime] = attrs.Factory(dict)
    deletes: list[str] = attrs.Factory(list)
    refuse_delete: str | None = None
    """Fail deleting keys ending in this, as a store that goes away mid-run would."""

    def list_objects(self, *, prefix: str) -> Iterator[StoredObject]:
        for obj in super().list_objects(prefix=prefix):
            yield attrs.evolve(obj, modified_at=self.written_at[obj.key])

    def delete(self, *, key: str) -> None:
        if self.refuse_delete is not None and key.endswith(self.refuse_delete):
            raise StorageFailedError("fake store refused the delete", details={"key": key})
        self.deletes.append(key)
        super().delete(key=key)

    def add(
        self, name: str, at: datetime, *, complete: bool = True,
        finished_at: datetime | None = None, partial: bool = False,
    ) -> str:  # fmt: skip
        """Stores a backup stamped (key) and written at `at`; returns the archive key.

        `finished_at` is what its manifest says (default: 42 s after `at`); `complete=False`
        leaves the manifest out, as an upload still running or never finished does."""
        key = archive_key(prefix=PREFIX, name=name, at=at, compression=GZIP)
        self.objects[key] = b"archive " + key.encode()
        self.written_at[key] = at
        if complete:
            manifest = manifest_bytes(key, name, at, finished_at=finished_at, partial=partial)
            self.objects[manifest_key(key)] = manifest
            # The store writes a manifest when its backup finishes.
            self.written_at[manifest_key(key)] = finished_at or at + timedelta(seconds=42)
        return key
