from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Mapping

import attrs

from backupnimbus.domain.archive import AGE_MAGIC
from backupnimbus.domain.list_backups import ListBackups, latest_complete
from backupnimbus.domain.models import Manifest
from backupnimbus.domain.no_encryption import NoEncryption
from backupnimbus.domain.oplog import OPLOG_NAMESPACE, OplogWindow
from backupnimbus.domain.plain_archive import plain_archive
from backupnimbus.domain.read_manifest import read_manifest
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
from backupnimbus.ports.object_store import ObjectStore, Readable

log = logging.getLogger(__name__)

_CHUNK = 1024 * 1024
_CHECK_AFTER_FAILURE = 1024**3
_STOPPED = (
    "The restore was stopped before the archive's end, but documents already written stay in "
    "the target."
)


@attrs.frozen
class LocalArchive:
    """An archive outside the store. It has no manifest, so there is nothing to verify against."""

    path: str
    """Where it was read from, for the result."""
    stream: Readable = attrs.field(repr=False, eq=False)
    """Its bytes, opened (and closed) by the caller."""


@attrs.frozen
class RestoreRequest:
    key: str | None = None
    """The archive key of a backup in the store."""
    latest: bool = False
    """Restore the newest complete backup."""
    name: str | None = None
    """With `latest`: the backup set to take the newest complete backup of; None: of every
    set (`--all-sets`)."""
    file: LocalArchive | None = None
    """Restore this archive instead of one from the store."""
    options: RestoreOptions = attrs.field(factory=RestoreOptions)


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
    warnings: tuple[str, ...] = ()
    """For a partial backup: what its dump left out, which this restore cannot bring back."""
    """For a dry run: the target namespaces that already exist in the target (which --drop
    would replace, and a restore without it would add documents to)."""
    oplog_replay: bool = False
    """The archive's oplog was replayed (for a dry run: would be)."""
    oplog: OplogWindow | None = None
    """The backup's oplog section as its manifest records it; None without one (or a file)."""


@attrs.frozen
class RestoreBackup:
    """Streams a backup from the store into a target database, checking its sha256 on the way."""

    store: ObjectStore
    backups: ListBackups
    restorer: ArchiveRestorer
    compressor: StreamCompressor
    """Decompresses gzip and zstd archives on their way to the restorer."""
    cipher: ArchiveCipher = attrs.field(factory=NoEncryption)
    """Decrypts encrypted backups on their way to the restorer."""

    def run(self, *, request: RestoreRequest) -> RestoreResult:
        _check(request)
        if request.file is not None:
            file = request.file
            return self._restore(request, file.stream, manifest=None, label=file.path)
        key, manifest = self._manifest(request)
        if request.options.oplog_replay and not _has_oplog(manifest):
            raise UsageInvalidError(
                [f"--oplog-replay: backup {key} holds no oplog (it was dumped without --oplog; "
                 "see MONGODUMP_OPLOG), so there is nothing to replay. Nothing was restored."]
            )  # fmt: skip
        with self.store.open_read(key=key) as stream:
            return self._restore(request, stream, manifest=manifest, label=key)

    def _manifest(self, request: RestoreRequest) -> tuple[str, Manifest]:
        if request.latest:
            record = latest_complete(self.backups.run(name=request.name), name=request.name)
            assert record.manifest is not None, "latest_complete returns complete backups"
            return record.key, record.manifest
        assert request.key is not None
        key = request.key
        if not self.store.exists(key=key):
            raise BackupNotFoundError(f"No backup at {key}", details={"key": key})
        return key, read_manifest(self.store, key=key)

    def _restore(
        self, request: RestoreRequest, stream: Readable, *, manifest: Manifest | None, label: str
    ) -> RestoreResult:
        dry_run = request.options.dry_run
        reader = _VerifyingReader(
            stream,
            expected=manifest.sha256 if manifest else None,
            label=label,
            consequence="Nothing was written (dry run)." if dry_run else _STOPPED,
        )
        encrypted = manifest.encrypted if manifest else reader.peek(len(AGE_MAGIC)) == AGE_MAGIC
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
                report = self.restorer.restore(
                    stream=archive, compressed=False, options=request.options
                )
            except RestoreFailedError as failure:
                # A corrupt archive explains a failed restore best, so check the rest of it
                # first, unless that means a long download just to word the error.
                if manifest is not None and manifest.size - reader.size <= _CHECK_AFTER_FAILURE:
                    try:
                        _drain(archive)
                    except VerificationFailedError as corrupt:
                        corrupt.details["restore_failure"] = {"message": failure.message,
                                                              **failure.details}  # fmt: skip
                        raise corrupt from failure
                raise
            # mongorestore may stop reading early (a dry run reads only the prelude): the
            # digest still covers every byte, and decrypting to the end authenticates them.
            _drain(archive)
        reader.drain()
        result = RestoreResult(
            key=label if manifest else None,
            file=request.file.path if request.file else None,
            target_hosts=report.target_hosts,
            namespaces=_namespaces(report, manifest, dry_run=dry_run),
            size=reader.size,
            sha256=reader.hexdigest(),
            verified=manifest is not None,
            dry_run=dry_run,
            existing=self.restorer.existing(list(report.planned)) if dry_run else (),
            warnings=manifest.warnings if manifest and not manifest.complete else (),
            oplog_replay=request.options.oplog_replay,
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


def _check(request: RestoreRequest) -> None:
    problems = []
    if sum([request.key is not None, request.latest, request.file is not None]) != 1:
        problems.append("give exactly one of KEY, --latest or --file PATH")
    if (request.options.ns_from is None) != (request.options.ns_to is None):
        problems.append("--ns-from and --ns-to must be given together")
    options = request.options
    if options.oplog_replay and (options.ns_from is not None or options.ns_to is not None):
        # As mongorestore refuses it: the oplog's entries name the original namespaces.
        problems.append(
            "--oplog-replay cannot be combined with --ns-from/--ns-to: the oplog's entries "
            "write to the original namespaces, which a rename would leave out of step"
        )
    if options.oplog_replay and options.ns_include:
        problems.append(
            "--oplog-replay cannot be combined with --ns-include: the oplog replays writes to "
            "every namespace, so it restores the whole backup"
        )
    if problems:
        raise UsageInvalidError(problems)


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


def _drain(stream: Readable) -> None:
    while stream.read(_CHUNK):
        pass


class _VerifyingReader:
    """Hashes the archive on its way to the restorer, and keeps its last byte back until the
    digest is known to match.

    So a corrupt archive never reaches its end in the restore tool: the tool is stopped before
    it can finish (and report success) on bad data.
    """

    def __init__(
        self, source: Readable, *, expected: str | None, label: str, consequence: str
    ) -> None:
        self._source = source
        self._expected = expected
        self._label = label
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
            chunk = self._pull(max(size, _CHUNK))
            if not chunk:
                self._ended = True
                self._verify()
                return
            self._digest.update(chunk)
            self.size += len(chunk)
            self._buffer += chunk

    def _pull(self, size: int) -> bytes:
        try:
            return self._source.read(size)
        except BackupNimbusError:
            raise
        except Exception as exc:
            raise StorageFailedError(
                f"Reading {self._label} failed after {self.size} bytes: {type(exc).__name__}",
                details={"source": self._label, "bytes_read": self.size},
            ) from exc

    def _verify(self) -> None:
        actual = self._digest.hexdigest()
        if self._expected is None or actual == self._expected:
            return
        self._buffer.clear()
        raise VerificationFailedError(
            f"sha256 mismatch: {self._label} hashes to {actual}, but its manifest says "
            f"{self._expected}. The backup is corrupt. {self._consequence}",
            details={"key": self._label, "expected_sha256": self._expected,
                     "actual_sha256": actual, "size": self.size},
        )  # fmt: skip
