"""RunBackup: one dump streamed into the store, proven whole on the way, then its manifest."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import attrs

from backupnimbus.domain.archive import ArchiveSummary
from backupnimbus.domain.archive_walk import WalkedStream
from backupnimbus.domain.deadline import StoppableReader, watch_deadline
from backupnimbus.domain.keys import archive_key, manifest_key, stamp_prefix
from backupnimbus.domain.manifest_codec import encode_manifest
from backupnimbus.domain.models import (
    COMPLETE,
    PARTIAL,
    BackupRequest,
    BackupResult,
    Manifest,
    ServerSideEncryption,
    SourceInfo,
)
from backupnimbus.domain.no_encryption import NoEncryption
from backupnimbus.domain.object_lock import Locking
from backupnimbus.domain.streams import DigestingReader
from backupnimbus.errors import (
    BackupNimbusError,
    DumpFailedError,
    EmptyBackupError,
    ObjectExistsError,
    StorageFailedError,
    UsageInvalidError,
)
from backupnimbus.ports.cipher import ArchiveCipher
from backupnimbus.ports.clock import Clock
from backupnimbus.ports.compressor import NONE, StreamCompressor
from backupnimbus.ports.dump_runner import MONGODUMP_ARCHIVE, Dump, DumpRunner
from backupnimbus.ports.object_lock import Lock
from backupnimbus.ports.object_store import ObjectStore, Readable
from backupnimbus.stop_signal import StopSignal

log = logging.getLogger(__name__)

FUTURE_TOLERANCE = timedelta(minutes=5)
"""How far ahead of the clock a given timestamp may be: clock skew, not a date in the future."""
_OPLOG = ".oplog"
NOTHING_STORED = "nothing was stored"
"""What the error of a failed run says of the store; reworded when its archive could not be
deleted."""


@attrs.frozen
class BackupSettings:
    prefix: str
    """Key prefix in the store, ending in '/' (or empty)."""
    source: SourceInfo
    tool_version: str
    server_side_encryption: ServerSideEncryption | None = None
    """What the store encrypts each upload with at rest, for the manifest."""
    allow_empty: bool = False
    """Store an archive that holds no collection. Off by default: a dump of a database that does
    not exist (a typo, a renamed database, lost rights) is a valid, empty archive."""
    archive_format: str = MONGODUMP_ARCHIVE
    """What the dump streams, as its backend declares: a mongodump archive is walked on its way
    to the store; another format is stored as it comes, and never when it is empty."""


@attrs.frozen
class RunBackup:
    """Dumps the source into the store: archive first, manifest last, and the manifest only for
    an archive proven whole."""

    dumps: DumpRunner
    store: ObjectStore
    clock: Clock
    settings: BackupSettings
    compressor: StreamCompressor
    """Compresses the archive, after the walk and before the encryption."""
    cipher: ArchiveCipher = attrs.field(factory=NoEncryption)
    """Encrypts the archive on its way to the store when it has recipients."""
    locking: Locking | None = None
    """Locks the archive and the manifest (S3 Object Lock) when set."""

    def run(self, *, request: BackupRequest, stop: StopSignal | None = None) -> BackupResult:
        """Args: `stop`: set it (SIGTERM, a caller's own deadline) to stop the run in any phase;
        the run then raises its reason, with nothing left at the key."""
        stop = stop or StopSignal()
        if self.locking is not None:
            # Before anything is written: a backup that was meant to be locked must not be
            # stored unlocked by a bucket that cannot lock.
            self.locking.require_support()
        started = self.clock.now()
        at = _checked_timestamp(request.timestamp, now=started)
        encrypted = bool(self.cipher.recipients)
        key = archive_key(
            prefix=self.settings.prefix,
            name=request.name,
            at=at,
            compression=request.compression.algorithm,
            encrypted=encrypted,
        )
        # Checked up front so a taken stamp fails in milliseconds, not after a full dump. Any
        # suffix counts: an encrypted and a plain backup of one stamp would be two "latest".
        self._refuse_taken_stamp(key)
        digest: DigestingReader | None = None
        with watch_deadline(
            stop,
            deadline=request.deadline,
            clock=self.clock,
            key=key,
            progress=lambda: digest.size if digest else 0,
        ) as check_deadline:
            stop.raise_if_set()
            fmt = self.settings.archive_format
            dump_version = _tool_version(
                _reported(self.dumps.describe_tool, "tool's version", archive_format=fmt)
            )
            log.info("backup started", extra={"key": key, "backup_name": request.name})
            # The order matters: the walk reads what the dump wrote, once; compression comes
            # before encryption, which leaves nothing to compress; the digest is of what is
            # stored, so that it can be checked without a key.
            uploaded = False
            try:
                with (
                    _BackendDump(self.dumps, stop=stop, archive_format=fmt) as dump,
                    _stopping(stop, dump),
                    self._checked(dump) as walked,
                    self.compressor.compressing(walked, compression=request.compression) as packed,
                    self._stored_form(packed) as stored,
                ):
                    digest = DigestingReader(stored)
                    self.store.put_stream(
                        key=key, stream=StoppableReader(digest, stop, check=check_deadline)
                    )
                    uploaded = True
                    warnings = _warnings(_reported(dump.warnings, "warnings", archive_format=fmt))
                    if isinstance(walked, WalkedStream):
                        namespaces, oplog = walked.summary.counts, walked.summary.oplog
                    else:  # another format is not walked: its backend says what it holds
                        namespaces, oplog = (
                            _counts(_reported(dump.namespaces, "namespaces", archive_format=fmt)),
                            None,
                        )
            except BaseException as failure:
                # A dump that fails once its stream ended (a backend's own bug, its cleanup)
                # must not leave an archive no manifest vouches for.
                if uploaded:
                    self._forget_archive(key, failure)
                raise
        lock = self._lock_archive(key)
        manifest = Manifest(
            name=request.name,
            key=key,
            size=digest.size,
            sha256=digest.hexdigest(),
            compressed=request.compression.algorithm != NONE,
            compression=request.compression,
            encrypted=encrypted,
            started_at=started,
            finished_at=self.clock.now(),
            mongodump_version=dump_version,
            tool_version=self.settings.tool_version,
            source=self.settings.source,
            namespaces=namespaces,
            recipients=self.cipher.recipients,
            server_side_encryption=self.settings.server_side_encryption,
            status=PARTIAL if warnings else COMPLETE,
            warnings=warnings,
            object_lock=lock,
            oplog=oplog,
            consistent_at=oplog.consistent_at if oplog else None,
            format=fmt,
        )
        manifest_at = manifest_key(key)
        try:
            if self.locking is not None and lock is not None:
                # Locked in the same request that writes it: never a moment unlocked.
                self.locking.locks.put_locked_bytes(
                    key=manifest_at, data=encode_manifest(manifest), lock=lock
                )
            else:
                self.store.put_bytes(key=manifest_at, data=encode_manifest(manifest))
        except BaseException as failure:
            self._forget_archive(key, failure)
            raise
        if warnings:
            log.warning(
                "backup stored but partial: the dump tool left something out",
                extra={"key": key, "warnings": list(warnings)},
            )
        log.info(
            "backup finished",
            extra={"key": key, "bytes": manifest.size, "duration_s": manifest.duration_s},
        )
        return BackupResult(manifest=manifest, manifest_key=manifest_at)

    def _lock_archive(self, key: str) -> Lock | None:
        """Locks the stored archive; a multipart upload cannot carry its lock (and some stores
        ignore it there), so it is set once the upload has completed, and read back."""
        if self.locking is None:
            return None
        lock = self.locking.policy.first_lock(now=self.clock.now())
        try:
            self.locking.locks.lock(key=key, lock=lock)
            stored = self.locking.locks.lock_of(key=key)
            if stored is None or stored.retain_until < lock.retain_until:
                raise StorageFailedError(
                    f"The store did not keep the lock of {key}",
                    details={"key": key, "reason": "lock not applied"},
                )
        except BaseException as failure:
            self._forget_archive(key, failure)
            raise
        return lock

    def _refuse_taken_stamp(self, key: str) -> None:
        taken = [obj.key for obj in self.store.list_objects(prefix=stamp_prefix(key))]
        if taken:
            raise ObjectExistsError(
                f"A backup of this set with this timestamp already exists at {min(taken)}",
                details={"key": key, "existing": sorted(taken)},
            )

    def _checked(self, dump: Dump) -> contextlib.AbstractContextManager[Readable]:
        """The dump on its way to the store, proven whole: a mongodump archive by its walk,
        another format only by not being empty (its own backend vouches for the rest)."""
        if self.settings.archive_format == MONGODUMP_ARCHIVE:
            return _walked(dump, accept=self._require_collections)
        return contextlib.nullcontext(_NotEmpty(dump, archive_format=self.settings.archive_format))

    def _require_collections(self, summary: ArchiveSummary) -> None:
        collections = [e.namespace for e in summary.prelude if e.namespace != _OPLOG]
        if not collections and not self.settings.allow_empty:
            raise EmptyBackupError(
                "The dump holds no collection, so it was not stored: check that "
                "MONGODUMP_NS_INCLUDE names a database that exists and that the user may read "
                "it; set ALLOW_EMPTY_BACKUP=true if an empty backup is expected",
                details={"reason": "empty archive"},
            )

    def _stored_form(self, dump: Readable) -> contextlib.AbstractContextManager[Readable]:
        """The dump as it is stored: encrypted when there are recipients. The manifest's size
        and sha256 are of these bytes, so that they can be checked without a key."""
        if self.cipher.recipients:
            return self.cipher.encrypting(dump)
        return contextlib.nullcontext(dump)

    def _forget_archive(self, key: str, failure: BaseException) -> None:
        """Deletes the archive of a run that fails with `failure`; when that fails too, says
        so in `failure`, which stays the error reported."""
        # Without its manifest the archive would pass for a backup nobody can vouch for, and a
        # failed run must leave nothing at the final key.
        try:
            self.store.delete(key=key)
        except Exception as error:
            # Whatever the store raises (a plugin's own error, a file system gone read-only),
            # the run's own failure is the one to report: prune removes the orphan later.
            # Only our own errors' words: another's text may hold anything.
            said = error.message if isinstance(error, BackupNimbusError) else type(error).__name__
            log.error(
                "could not delete the archive of a failed backup",
                extra={"key": key, "error": said},
            )
            if isinstance(failure, BackupNimbusError):
                _archive_left(failure, key=key)
        else:
            log.warning(
                "deleted the archive: the run failed before its manifest was written",
                extra={"key": key},
            )


def _archive_left(error: BackupNimbusError, *, key: str) -> None:
    """Rewords a failed run's error whose archive could not be deleted: the archive is still in
    the store, so the error must not say that nothing was stored."""
    said = error.message.replace(NOTHING_STORED, "no backup was stored")
    error.message = (
        f"{said}. The run's archive may remain at {key} (deleting it failed): with no "
        "manifest it is an incomplete backup, which a later prune removes"
    )
    error.args = (error.message,)
    error.details["archive_left"] = key


def _checked_timestamp(timestamp: datetime | None, *, now: datetime) -> datetime:
    """The key's time: the clock's, or a given one that could be true.

    A stamp far in the future would sort above every real backup for as long as the clock takes
    to catch up; years outside 1970..9999 have no key the listing can parse."""
    if timestamp is None:
        return now
    if timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=UTC)
    try:
        timestamp = timestamp.astimezone(UTC)
    except OverflowError:
        timestamp = timestamp.replace(year=1 if timestamp.year < 1970 else 9999)
    if not 1970 <= timestamp.year <= 9999:
        raise UsageInvalidError(
            [f"timestamp {timestamp.isoformat()} is outside the years 1970 to 9999"]
        )
    if timestamp - now > FUTURE_TOLERANCE:
        raise UsageInvalidError(
            [
                f"timestamp {timestamp.isoformat()} is more than 5 minutes in the future "
                f"(now {now.isoformat()}); give a time that has passed, or none for now"
            ]
        )
    return timestamp


@contextlib.contextmanager
def _stopping(stop: StopSignal, dump: Dump) -> Iterator[None]:
    # The adapter reacts to the signal itself; this also covers a dump that does not.
    forget = stop.on_stop(dump.stop)
    try:
        yield
    finally:
        forget()


def _counts(reported: Mapping[Any, Any]) -> dict[str, int]:
    """A dump backend's counts, checked as the manifest will be read back: a manifest that
    cannot be read is a backup nobody can verify, restore or prune."""
    counts = dict(reported)
    bad = sorted(
        repr(ns)
        for ns, n in counts.items()
        if not isinstance(ns, str) or type(n) is not int or n < 0
    )
    if bad:
        raise DumpFailedError(
            f"The dump backend reported {len(bad)} namespace(s) without a document count "
            f"(a whole number of 0 or more), so {NOTHING_STORED}: " + ", ".join(bad[:5]),
            details={"reason": "bad namespace counts", "namespaces": bad[:20]},
        )
    return counts


def _reported(report: Callable[[], Any], what: str, *, archive_format: str) -> Any:
    """What a dump backend reports once its stream ended; its own error (whose text may hold
    anything of its source) is a DumpFailedError named by its type, as one mid-stream is."""
    try:
        return report()
    except BackupNimbusError:
        raise
    except Exception as exc:
        raise DumpFailedError(
            f"The dump backend ({archive_format}) failed to report its {what}: "
            f"{type(exc).__name__}",
            details={"format": archive_format, "report": what, "error": type(exc).__name__},
        ) from exc


def _warnings(reported: Any) -> tuple[str, ...]:
    """A dump backend's warnings, checked as the manifest will be read back (see `_counts`)."""
    warnings = tuple(reported)
    bad = [type(w).__name__ for w in warnings if not isinstance(w, str)]
    if bad:
        raise DumpFailedError(
            f"The dump backend reported {len(bad)} warning(s) that are no text, so "
            f"{NOTHING_STORED}: " + ", ".join(sorted(set(bad))),
            details={"reason": "bad warnings", "types": sorted(set(bad))},
        )
    return warnings


def _tool_version(reported: Any) -> str:
    """The dump tool's version, for the manifest: text, or the manifest could not be read."""
    if not isinstance(reported, str):
        raise DumpFailedError(
            f"The dump backend gave its tool's version as {type(reported).__name__}, not text, "
            "so nothing was stored",
            details={"reason": "bad tool version", "type": type(reported).__name__},
        )
    return reported


class _NotEmpty:
    """Passes a dump through, and raises EmptyBackupError instead of its end when it held no
    byte: an empty stream is no backup of anything, whatever ALLOW_EMPTY_BACKUP says. A read
    that fails with anything but a BackupNimbusError is a DumpFailedError."""

    def __init__(self, source: Readable, *, archive_format: str) -> None:
        self._source = source
        self._format = archive_format
        self._size = 0

    def read(self, size: int, /) -> bytes:
        try:
            chunk = self._source.read(size)
        except BackupNimbusError:
            raise
        except Exception as exc:
            # A backend's own error, whose text may hold anything of its source: named by its
            # type, and as the dump's failure, not the store's that reads it.
            raise DumpFailedError(
                f"The dump backend ({self._format}) failed after {self._size} bytes: "
                f"{type(exc).__name__}",
                details={
                    "format": self._format,
                    "bytes_read": self._size,
                    "error": type(exc).__name__,
                },
            ) from exc
        self._size += len(chunk)
        if not chunk and not self._size:
            raise EmptyBackupError(
                f"The dump backend wrote no byte ({self._format}), so nothing was stored: "
                "check the settings of its source",
                details={"reason": "empty stream", "format": self._format},
            )
        return chunk


class _BackendDump:
    """A dump backend's `open_dump`, whose own error on the way in or out (not a
    BackupNimbusError: its text may hold anything of its source) is a DumpFailedError named by
    its type, as one mid-stream is."""

    def __init__(self, runner: DumpRunner, *, stop: StopSignal, archive_format: str) -> None:
        self._runner = runner
        self._stop = stop
        self._format = archive_format
        self._opened: contextlib.AbstractContextManager[Dump] | None = None

    def __enter__(self) -> Dump:
        try:
            self._opened = self._runner.open_dump(stop=self._stop)
            return self._opened.__enter__()
        except BackupNimbusError:
            raise
        except Exception as exc:
            raise self._failed("start", exc) from exc

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        assert self._opened is not None, "entered"
        try:
            return self._opened.__exit__(exc_type, exc, traceback)
        except BackupNimbusError:
            raise
        except Exception as raised:
            if raised is exc:
                raise  # the run's own failure, passed through
            if exc is not None:
                # The run had already failed: that failure is the one to report.
                log.error(
                    "the dump backend failed while ending a failed dump",
                    extra={"format": self._format, "error": type(raised).__name__},
                )
                return False
            raise self._failed("end", raised) from raised

    def _failed(self, phase: str, exc: Exception) -> DumpFailedError:
        return DumpFailedError(
            f"The dump backend ({self._format}) failed to {phase} its dump, so "
            f"{NOTHING_STORED}: {type(exc).__name__}",
            details={"format": self._format, "phase": phase, "error": type(exc).__name__},
        )


@contextlib.contextmanager
def _walked(dump: Readable, *, accept: Callable[[ArchiveSummary], None]) -> Iterator[WalkedStream]:
    walked = WalkedStream(dump, accept=accept)
    try:
        yield walked
    finally:
        walked.close()
