from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import attrs

from backupnimbus.domain.oplog import OplogWindow
from backupnimbus.ports.compressor import DEFAULT_LEVELS, GZIP, Compression
from backupnimbus.ports.dump_runner import MONGODUMP_ARCHIVE
from backupnimbus.ports.object_lock import Lock


@attrs.frozen
class SourceInfo:
    """What was backed up, with no credentials in it."""

    hosts: tuple[str, ...]
    """host[:port] of each seed, or the SRV name."""
    database: str | None = None
    """The database named in the URI, if any."""


@attrs.frozen
class BackupRequest:
    name: str
    """Logical name of the backup set; part of the key."""
    compression: Compression = attrs.field(factory=lambda: Compression(GZIP, DEFAULT_LEVELS[GZIP]))
    """How the archive is compressed, by BackupNimbus (never by the dump tool)."""
    timestamp: datetime | None = None
    """Overrides the clock for the key, as the original tool allowed."""
    deadline: datetime | None = None
    """Stop, abort the upload and fail with TIMEOUT if the archive is not stored by then
    (Lambda's remaining time less a margin, or `run --timeout`)."""


@attrs.frozen
class ServerSideEncryption:
    """Encryption at rest by the store (S3 SSE), asked for on every upload."""

    algorithm: str
    """"AES256" (keys managed by S3) or "aws:kms"."""
    kms_key_id: str | None = None
    """With "aws:kms": the KMS key (id, ARN or alias); None: the account's default S3 key."""


COMPLETE = "complete"
PARTIAL = "partial"


@attrs.frozen
class Manifest:
    """Written after the archive only once the archive was proven whole: the dump tool exited 0
    and the archive was walked to its end with every CRC correct, so its presence means the
    archive is complete. A `partial` one is whole too, but the tool reported that it left
    something out (`warnings`): it is kept, and never counts as a good backup."""

    name: str
    key: str
    """The archive's key."""
    size: int
    """Stored bytes of the archive."""
    sha256: str
    """Hex digest of the stored bytes."""
    compressed: bool
    """Compressed at all (by any algorithm); `compression` says how."""
    encrypted: bool
    """Encrypted with age before it was stored (the key ends in .age)."""
    started_at: datetime
    finished_at: datetime
    mongodump_version: str
    tool_version: str
    source: SourceInfo
    namespaces: Mapping[str, int] | None = None
    """Document count per namespace, as the archive walk counted them (None only in manifests
    written before the walk existed)."""
    format_version: int = 1
    recipients: tuple[str, ...] = ()
    """The age public keys the archive is encrypted to; empty when it is not encrypted."""
    server_side_encryption: ServerSideEncryption | None = None
    """The encryption at rest the store was asked for, if any."""
    status: str = COMPLETE
    """COMPLETE, or PARTIAL when the dump tool reported skipping or failing something."""
    warnings: tuple[str, ...] = ()
    """What the dump tool reported leaving out (redacted), for a PARTIAL backup."""
    compression: Compression | None = None
    """Algorithm and level; None in manifests written before it was recorded, which were
    gzipped by mongodump when `compressed`."""
    object_lock: Lock | None = None
    """The Object Lock the archive and this manifest were stored with; None when unlocked.
    Prune may extend it later: the store's lock is the current one."""
    oplog: OplogWindow | None = None
    """The archive's oplog section (a dump with `--oplog`); None when it has none."""
    consistent_at: datetime | None = None
    """With an oplog: the time a restore that replays it is consistent to (its last entry)."""
    format: str = MONGODUMP_ARCHIVE
    """What the archive's plain bytes are, as its dump backend declared: MONGODUMP_ARCHIVE
    (also for manifests written before it was recorded), walked and CRC-checked; any other is
    checked by its size and sha256 only."""

    @property
    def walkable(self) -> bool:
        """A mongodump archive, whose structure and CRCs can be checked."""
        return self.format == MONGODUMP_ARCHIVE

    @property
    def declared_compression(self) -> str | None:
        """The algorithm this manifest records; None for a manifest from before it recorded one,
        whose archive tells by its magic number (mongodump's gzip, or none)."""
        return self.compression.algorithm if self.compression is not None else None

    @property
    def complete(self) -> bool:
        return self.status == COMPLETE

    @property
    def duration_s(self) -> float:
        return round((self.finished_at - self.started_at).total_seconds(), 3)


@attrs.frozen
class NotificationOutcome:
    sent: bool
    """True when the mailer accepted the message."""
    error: str | None = None
    """Why it was not sent, already free of secrets."""


@attrs.frozen
class BackupResult:
    manifest: Manifest
    manifest_key: str
    notification: NotificationOutcome | None = None
