"""Backups put straight into a store, as a finished run leaves them: an archive and, unless told
otherwise, its manifest, for tests of the use cases that read them (verify, restore)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import attrs

from backupnimbus.domain.keys import archive_key, manifest_key
from backupnimbus.domain.manifest_codec import encode_manifest
from backupnimbus.domain.models import Compression, Manifest, SourceInfo
from backupnimbus.ports.compressor import NONE
from backupnimbus.ports.dump_runner import MONGODUMP_ARCHIVE
from backupnimbus.ports.object_store import ObjectStore


def store_backup(
    store: ObjectStore, name: str, at: datetime, data: bytes, *,
    compression: str = NONE, encrypted: bool = False, manifest: bool = True,
    fmt: str = MONGODUMP_ARCHIVE, encrypted_key: bool = False, **fields: Any,
) -> str:  # fmt: skip
    """Returns: the archive's key. `encrypted_key` gives the key age's suffix too; `fields`
    replace the manifest's other fields (namespaces, recipients, source, ...)."""
    key = archive_key(
        prefix="backups/", name=name, at=at, compression=compression, encrypted=encrypted_key
    )
    store.put_bytes(key=key, data=data)
    if manifest:
        written = Manifest(
            name=name, key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
            compressed=compression != NONE, encrypted=encrypted, started_at=at,
            finished_at=at + timedelta(seconds=5), mongodump_version="100.8.0",
            tool_version="0.1.0", source=SourceInfo(hosts=("db:27017",)),
            compression=Compression(algorithm=compression), format=fmt,
        )  # fmt: skip
        store.put_bytes(
            key=manifest_key(key), data=encode_manifest(attrs.evolve(written, **fields))
        )
    return key
