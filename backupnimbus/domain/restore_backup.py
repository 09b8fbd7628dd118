"""Restore: a backup from the store, or an archive in a local file, into a target database.

What is restored is one of three requests (`RestoreRequest`): the backup at a key, the newest
complete backup of a set, or a local file. A backup from the store is vouched for by its
manifest, and its sha256 checked on the way; a local file has no manifest, so it is checked
whole before anything is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Mapping
from typing import TypeAlias, assert_never

import attrs

from backupnimbus.domain.archive import AGE_MAGIC, age_encrypted
from backupnimbus.domain.archive_formats import ArchiveFormats
from backupnimbus.domain.list_backups import ListBackups, latest_complete
from backupnimbus.domain.models import Manifest
from backupnimbus.domain.no_encryption import NoEncryption
from backupnimbus.domain.oplog import OPLOG_NAMESPACE, OplogWindow
from backupnimbus.domain.plain_archive import plain_archive
from backupnimbus.domain.read_manifest import read_manifest
from backupnimbus.domain.streams import drain
from backupnimbus.domain.verify_backup import (
    NOT_MONGODUMP,
    NoLocalFiles,
    check_stream,
    not_mongodump,
)
from backupnimbus.errors import (
    BackupNimbusError,
    BackupNotFoundError,
    RestoreFailedError,
    StorageFailedError,
    UsageInvalidError,
    VerificationFailedError,
)
from backupnimbus.ports.archive_restorer import ArchiveRestorer, RestoreOptions, RestoreReport
from backupnimbus.ports.cipher import ArchiveCipher
from backupnimbus.ports.compressor import StreamCompressor
from backupnimbus.ports.dump_runner import MONGODUMP_ARCHIVE
from backupnimbus.ports.local_files import LocalFiles
from backupnimbus.ports.object_store import ObjectStore, Readable

log = logging.getLogger(__name__)

_CHUNK = 1024 * 1024
_CHECK_AFTER_FAILURE = 1024**3
_STOPPED = (
    "The restore was stopped before the archive's end, but documents already written stay in "
    "the target."
)


@attrs.frozen
class RestoreFromKey:
    """The backup whose archive is at `key` in the store."""

    key: str
    options: RestoreOptions = attrs.field(factory=RestoreOptions)


@attrs.frozen
class RestoreLatest:
    """The newest complete backup of a set."""

    name: str | None = None
    """The backup set; None: the newest of every set (`--all-sets`)."""
    options: RestoreOptions = attrs.field(factory=RestoreOptions)


@attrs.frozen
class RestoreFromFile:
    """An archive in a local file, outside the store (plain, gzip, zstd, age-encrypted)."""

    path: str
    options: RestoreOptions = attrs.field(factory=RestoreOptions)


RestoreRequest: TypeAlias = RestoreFromKey | RestoreLatest | RestoreFromFile
"""What to restore, and how (`options`: which namespaces, renamed how, dropped first, dry run,
oplog replay)."""


@attrs.frozen
class RestoreResult:
    key: str | None
    """The restored backup's archive key; None for a local file."""
    file: str | None
    """The restored local file; None for a backup from the store."""
    target_hosts: tuple[str, ...]
    """Without credentials."""
    namespaces: Mapping[str, int | None]
    """Target namespace -> documents restored; for a dry run, documents in the backup
    (None when no manifest says)."""
    size: int
    """Bytes of the archive as stored."""
    sha256: str
    """Hex digest of those bytes."""
    verified: bool
    """The digest matched the manifest's; False when there was no manifest (a local file)."""
    dry_run: bool
    existing: tuple[str, ...] = ()
    """For a dry run: the target namespaces that already exist in the target (which --drop
    would replace, and a restore without it would add documents to)."""
    warnings: tuple[str, ...] = ()
    """For a partial backup: what its dump left out, which this restore cannot bring back."""
    oplog_replay: bool = False
    """The archive's oplog was replayed (for a dry run: would be)."""
    oplog: OplogWindow | None = None
    """The backup's oplog section as its manifest records it; None without one (or a file)."""


@attrs.frozen
class RestoreBackup:
    """Streams a backup into a target database: from the store, checking its sha256 against
    its manifest on the way, or from a local file, checked whole first."""

    store: ObjectStore
    backups: ListBackups
    restorer: ArchiveRestorer
    compressor: StreamCompressor
    """Decompresses gzip and zstd archives on their way to the restorer."""
    cipher: ArchiveCipher = attrs.field(factory=NoEncryption)
    """Decrypts encrypted backups on their way to the restorer."""
    files: LocalFiles = attrs.field(factory=NoLocalFiles)
    """Opens the archive of a `RestoreFromFile`."""
    formats: ArchiveFormats = attrs.field(factory=ArchiveFormats)
    """The format `restorer` reads: a backup of another is refused before it starts."""

    def run(self, *, request: RestoreRequest) -> RestoreResult:
        """Raises:
        UsageInvalidError: the oplog replay asked for has no oplog to replay, or the local
            file cannot be opened, or is to be restored while the configured dump backend
            restores another format than mongodump archives.
        ConfigInvalidError: the backup is of another format than the configured dump
            backend's (the message says which DUMP_BACKEND restores it).
        BackupNotFoundError: no archive at the key, or no complete backup of the set.
        VerificationFailedError: the manifest is missing or unusable; the bytes differ
            from it (sha256, encryption); the local file is not an intact archive; the
            archive cannot be decrypted.
        RestoreFailedError: the restore tool failed, or the target refused documents.
        StorageFailedError: reading the archive failed.
        """
        match request:
            case RestoreFromFile(path=path):
                self._refuse_file_of_other_format(path)
                return self._restore_file(path, request.options)
            case RestoreLatest(name=name):
                record = latest_complete(self.backups.run(name=name), name=name)
                assert record.manifest is not None, "latest_complete returns complete backups"
                self.formats.refuse_other(record.manifest.format, key=record.key)
                return self._restore_stored(record.key, record.manifest, request.options)
            case RestoreFromKey(key=key):
                if not self.store.exists(key=key):
                    raise BackupNotFoundError(f"No backup at {key}", details={"key": key})
                manifest = read_manifest(self.store, key=key)
                self.formats.refuse_other(manifest.format, key=key)
                return self._restore_stored(key, manifest, request.options)
            case _:
                assert_never(request)

    def _restore_stored(
        self, key: str, manifest: Manifest, options: RestoreOptions
    ) -> RestoreResult:
        if options.oplog_replay and not _has_oplog(manifest):
            raise UsageInvalidError(
                [f"--oplog-replay: backup {key} holds no oplog (it was dumped without --oplog; "
                 "see MONGODUMP_OPLOG), so there is nothing to replay. Nothing was restored."]
            )  # fmt: skip
        with self.store.open_read(key=key) as stream:
            reader = _VerifyingReader(
                stream,
                expected=manifest.sha256,
                label=key,
                vouched_by="its manifest says",
                verdict="The backup is corrupt.",
                consequence=_consequence(options),
            )
            _refuse_encryption_mismatch(reader, key=key, manifest=manifest)
            return self._restore(options, reader, manifest=manifest, label=key, file=None)

    def _restore_file(self, path: str, options: RestoreOptions) -> RestoreResult:
        # A dry run writes nothing, so it needs no check first; it still reads the file whole.
        checked = None if options.dry_run else self._check_file(path)
        with self.files.open_read(path) as stream:
            reader = _VerifyingReader(
                stream,
                expected=checked,
                label=path,
                vouched_by="the check before the restore found",
                verdict="The file changed after it was checked.",
                consequence=_consequence(options),
            )
            return self._restore(options, reader, manifest=None, label=path, file=path)

    def _refuse_file_of_other_format(self, path: str) -> None:
        """A local file is restored only as a mongodump archive, which its own structure and
        CRCs vouch for; another backend's restorer reads a format only a manifest vouches for."""
        if self.formats.active == MONGODUMP_ARCHIVE:
            return
        raise self.formats.local_file_refused(
            path, command="restore",
            why="a local file is restored only as a mongodump archive, checked whole first",
        )  # fmt: skip

    def _check_file(self, path: str) -> str:
        """mongorestore writes documents as they arrive, and finds damage only where it is: a
        local file has no manifest to vouch for it, so it is checked whole (structure and
        every CRC-64, after decryption when it is age-encrypted) before anything is written.

        Returns: its sha256, which the restore's own read of it must match.
        """
        with self.files.open_read(path) as stream:
            try:
                checked = check_stream(
                    stream=_Guarded(stream, label=path),
                    compressor=self.compressor,
                    cipher=self.cipher,
                    label=path,
                )
            except VerificationFailedError as damaged:
                if damaged.details.get("reason") == NOT_MONGODUMP:
                    first_bytes = damaged.details["first_bytes"]
                    raise not_mongodump(
                        path, first_bytes=first_bytes, outcome=", so nothing was restored"
                    ) from damaged
                raise VerificationFailedError(
                    f"{path} is not an intact archive, so nothing was restored: {damaged.message}",
                    details={**damaged.details, "file": path},
                ) from damaged
        return checked.sha256

    def _restore(
        self,
        options: RestoreOptions,
        reader: _VerifyingReader,
        *,
        manifest: Manifest | None,
        label: str,
        file: str | None,
    ) -> RestoreResult:
        dry_run = options.dry_run
        encrypted = age_encrypted(reader.peek(len(AGE_MAGIC)))
        # A missing or wrong identity fails here, before the restorer starts.
        with (
            self._plaintext(reader, encrypted=encrypted, label=label) as plaintext,
            plain_archive(
                plaintext,
                compressor=self.compressor,
                label=label,
                algorithm=manifest.declared_compression if manifest else None,
            ) as archive,
        ):
            # Decompressed here, by the fast library, whatever the algorithm: the restore tool
            # reads a plain archive.
            log.info("restore started", extra={"source": label, "dry_run": dry_run})
            try:
                report = self.restorer.restore(stream=archive, compressed=False, options=options)
            except RestoreFailedError as failure:
                # A corrupt archive explains a failed restore best, so check the rest of it
                # first, unless that means a long download just to word the error.
                if manifest is not None and manifest.size - reader.size <= _CHECK_AFTER_FAILURE:
                    try:
                        drain(archive)
                    except VerificationFailedError as corrupt:
                        corrupt.details["restore_failure"] = {"message": failure.message,
                                                              **failure.details}  # fmt: skip
                        raise corrupt from failure
                raise
            # mongorestore may stop reading early (a dry run reads only the prelude): the
            # digest still covers every byte, and decrypting to the end authenticates them.
            drain(archive)
        reader.drain()
        result = RestoreResult(
            key=None if file else label,
            file=file,
            target_hosts=report.target_hosts,
            namespaces=_namespaces(report, manifest, dry_run=dry_run),
            size=reader.size,
            sha256=reader.hexdigest(),
            verified=manifest is not None,
            dry_run=dry_run,
            existing=self.restorer.existing(list(report.planned)) if dry_run else (),
            warnings=manifest.warnings if manifest and not manifest.complete else (),
            oplog_replay=options.oplog_replay,
            oplog=manifest.oplog if manifest else None,
        )
        if report.failures:
            raise RestoreFailedError(
                f"{report.failures} document(s) failed to restore: the target already held "
                "documents with the same _id, or refused them (drop the collections first to "
                "replace them)",
                details={"failures": report.failures, "namespaces": dict(result.namespaces),
                         "sha256_verified": result.verified},
            )  # fmt: skip
        log.info("restore finished", extra={"source": label, "bytes": result.size})
        return result

    def _plaintext(
        self, reader: Readable, *, encrypted: bool, label: str
    ) -> contextlib.AbstractContextManager[Readable]:
        if encrypted:
            return self.cipher.decrypting(reader, label=label)
        return contextlib.nullcontext(reader)


def _refuse_encryption_mismatch(reader: _VerifyingReader, *, key: str, manifest: Manifest) -> None:
    """A manifest and an archive that disagree on encryption do not belong together; said now,
    before the restorer starts, rather than as whatever the decryption or the restore tool
    makes of the wrong bytes. (A short archive is read whole by the peek, and fails its sha256
    first.)"""
    stored = age_encrypted(reader.peek(len(AGE_MAGIC)))
    if stored == manifest.encrypted:
        return
    if manifest.encrypted:
        problem = "its manifest says it is age-encrypted, but the stored bytes are not"
    else:
        problem = "the stored bytes are age-encrypted, but its manifest says they are not"
    raise VerificationFailedError(
        f"Backup {key}: {problem}, so the archive is not the one its manifest describes. "
        "Nothing was restored.",
        details={"key": key, "manifest_encrypted": manifest.encrypted,
                 "stored_encrypted": stored},
    )  # fmt: skip


def _consequence(options: RestoreOptions) -> str:
    return "Nothing was written (dry run)." if options.dry_run else _STOPPED


def _has_oplog(manifest: Manifest) -> bool:
    # Manifests from before `oplog` was recorded still count the oplog's namespace.
    return manifest.oplog is not None or OPLOG_NAMESPACE in (manifest.namespaces or {})


def _namespaces(
    report: RestoreReport, manifest: Manifest | None, *, dry_run: bool
) -> dict[str, int | None]:
    if not dry_run:
        return dict(report.restored)
    counts = (manifest.namespaces if manifest else None) or {}
    return {target: counts.get(source) for target, source in sorted(report.planned.items())}


class _VerifyingReader:
    """Hashes the archive on its way to the restorer, and keeps its last byte back until the
    digest is known to match.

    So a corrupt archive never reaches its end in the restore tool: the tool is stopped before
    it can finish (and report success) on bad data.
    """

    def __init__(
        self,
        source: Readable,
        *,
        expected: str | None,
        label: str,
        vouched_by: str,
        verdict: str,
        consequence: str,
    ) -> None:
        self._source = _Guarded(source, label=label)
        self._expected = expected
        self._label = label
        self._vouched_by = vouched_by
        self._verdict = verdict
        self._consequence = consequence
        self._digest = hashlib.sha256()
        self._buffer = bytearray()
        self._ended = False
        self.size = 0

    def read(self, size: int, /) -> bytes:
        self._fill(size)
        chunk = bytes(self._buffer[:size])
        del self._buffer[:size]
        return chunk

    def peek(self, size: int) -> bytes:
        self._fill(size)
        return bytes(self._buffer[:size])

    def drain(self) -> None:
        """Reads to the end, so that the digest is complete (and checked)."""
        while self.read(_CHUNK):
            pass

    def hexdigest(self) -> str:
        return self._digest.hexdigest()

    def _fill(self, size: int) -> None:
        # More than `size` in hand until the end: the byte left over is the one kept back.
        while not self._ended and len(self._buffer) <= size:
            chunk = self._source.read(max(size, _CHUNK))
            if not chunk:
                self._ended = True
                self._verify()
                return
            self._digest.update(chunk)
            self.size += len(chunk)
            self._buffer += chunk

    def _verify(self) -> None:
        actual = self._digest.hexdigest()
        if self._expected is None or actual == self._expected:
            return
        self._buffer.clear()
        raise VerificationFailedError(
            f"sha256 mismatch: {self._label} hashes to {actual}, but {self._vouched_by} "
            f"{self._expected}. {self._verdict} {self._consequence}",
            details={"key": self._label, "expected_sha256": self._expected,
                     "actual_sha256": actual, "size": self.size},
        )  # fmt: skip


class _Guarded:
    """Counts the bytes read, and words a failed read as a storage failure: a dropped
    connection or a disk error is not a verdict on the archive."""

    def __init__(self, source: Readable, *, label: str) -> None:
        self._source = source
        self._label = label
        self.size = 0

    def read(self, size: int, /) -> bytes:
        try:
            chunk = self._source.read(size)
        except BackupNimbusError:
            raise
        except Exception as exc:
            raise StorageFailedError(
                f"Reading {self._label} failed after {self.size} bytes: {type(exc).__name__}",
                details={"source": self._label, "bytes_read": self.size},
            ) from exc
        self.size += len(chunk)
        return chunk
