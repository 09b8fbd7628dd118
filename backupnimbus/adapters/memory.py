"""In-memory fakes of every port. They record what happened, for tests to assert on."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

import attrs

from backupnimbus.adapters.fake_archive import fake_archive
from backupnimbus.errors import (
    BackupNotFoundError,
    ConfigInvalidError,
    DumpFailedError,
    NotificationFailedError,
    ObjectExistsError,
    StorageFailedError,
    UsageInvalidError,
)
from backupnimbus.ports.archive_restorer import RestoreOptions, RestoreReport
from backupnimbus.ports.mailer import Email
from backupnimbus.ports.object_lock import Lock
from backupnimbus.ports.object_store import Readable, StoredObject
from backupnimbus.stop_signal import StopSignal


@attrs.define
class FakeClock:
    current: datetime = datetime(2025, 4, 7, 10, 15, 30, tzinfo=UTC)
    step: timedelta = timedelta(seconds=1)
    """Each call to now() advances by this much, so durations are not zero."""

    def now(self) -> datetime:
        value = self.current
        self.current += self.step
        return value


@attrs.define
class FakeDump:
    data: bytes
    fail_after: int | None
    counts: dict[str, int]
    reported_warnings: tuple[str, ...] = ()
    position: int = 0
    stopped: bool = False
    """Set by stop(); a stopped fake dump raises DumpFailedError on its next read."""

    def read(self, size: int, /) -> bytes:
        if self.stopped:
            raise DumpFailedError("fake dump was stopped", details={"at": self.position})
        end = self.position + size
        if self.fail_after is not None and end > self.fail_after:
            raise DumpFailedError("fake dump failed mid-stream", details={"at": self.fail_after})
        chunk = self.data[self.position : end]
        self.position += len(chunk)
        return chunk

    def namespaces(self) -> Mapping[str, int]:
        return dict(self.counts)

    def warnings(self) -> tuple[str, ...]:
        return self.reported_warnings

    def stop(self) -> None:
        self.stopped = True


@attrs.define
class FakeDumpRunner:
    data: bytes | None = None
    """The archive the dump streams; None: a valid archive of `counts` (fake_archive)."""
    fail_after: int | None = None
    """Raise DumpFailedError once this many bytes were read."""
    fail_to_start: int = 0
    """Fail this many starts before any byte, as a dump that cannot connect would."""
    counts: dict[str, int] = attrs.Factory(lambda: {"db.coll": 1})
    warnings: tuple[str, ...] = ()
    """What the dump reports leaving out, as mongodump's skip lines would."""
    starts: int = 0
    closed: int = 0

    def describe_tool(self) -> str:
        return "fake-dump 1.0"

    @contextlib.contextmanager
    def open_dump(self, *, stop: StopSignal) -> Iterator[FakeDump]:
        self.starts += 1
        if self.fail_to_start:
            self.fail_to_start -= 1
            raise DumpFailedError("fake dump could not connect")
        try:
            data = fake_archive(self.counts) if self.data is None else self.data
            dump = FakeDump(data, self.fail_after, self.counts, self.warnings)
            forget = stop.on_stop(dump.stop)
            try:
                yield dump
            finally:
                forget()
        finally:
            self.closed += 1


@attrs.define
class InMemoryObjectStore:
    objects: dict[str, bytes] = attrs.Factory(dict)
    aborted: list[str] = attrs.Factory(list)
    """Keys whose streamed write was abandoned."""
    fail_writes: int = 0
    """Fail this many writes with StorageFailedError."""
    chunk_size: int = 1024
    fail_put_bytes: int = 0
    """Fail this many put_bytes calls (manifests) with StorageFailedError."""
    committed: list[str] = attrs.Factory(list)
    """Keys in the order their writes completed."""
    object_lock: bool = False
    """Whether it can lock objects, as a bucket created with Object Lock can."""
    locks: dict[str, Lock] = attrs.Factory(dict)
    """The lock of each locked key."""
    fail_locks: int = 0
    """Fail this many lock() calls with StorageFailedError."""
    clock: FakeClock | None = None
    """What "now" is for locks; the wall clock when None."""

    def put_stream(self, *, key: str, stream: Readable) -> None:
        self._check_writable(key)
        buffer = io.BytesIO()
        try:
            while chunk := stream.read(self.chunk_size):
                buffer.write(chunk)
        except BaseException:
            self.aborted.append(key)
            raise
        self._commit(key, buffer.getvalue())

    def put_bytes(self, *, key: str, data: bytes) -> None:
        self._check_writable(key)
        if self.fail_put_bytes:
            self.fail_put_bytes -= 1
            raise StorageFailedError("fake store refused the write", details={"key": key})
        self._commit(key, data)

    def exists(self, *, key: str) -> bool:
        return key in self.objects

    @contextlib.contextmanager
    def open_read(self, *, key: str) -> Iterator[BinaryIO]:
        if key not in self.objects:
            raise BackupNotFoundError(f"No backup at {key}", details={"key": key})
        yield io.BytesIO(self.objects[key])

    def list_objects(self, *, prefix: str) -> Iterator[StoredObject]:
        for key, data in sorted(self.objects.items()):
            if key.startswith(prefix):
                yield StoredObject(key=key, size=len(data), modified_at=datetime.now(UTC))

    def delete(self, *, key: str) -> None:
        lock = self.locks.get(key)
        if lock is not None and lock.retain_until > self._now():
            raise StorageFailedError(
                f"{key} is locked until {lock.retain_until.isoformat()}",
                details={"key": key, "reason": "AccessDenied"},
            )
        self.locks.pop(key, None)
        self.objects.pop(key, None)

    def require_object_lock(self) -> None:
        if not self.object_lock:
            raise ConfigInvalidError(["S3_OBJECT_LOCK_MODE is set, but this store cannot lock"])

    def put_locked_bytes(self, *, key: str, data: bytes, lock: Lock) -> None:
        self.require_object_lock()
        self.put_bytes(key=key, data=data)
        self.locks[key] = lock

    def lock(self, *, key: str, lock: Lock) -> None:
        self.require_object_lock()
        if key not in self.objects:
            raise BackupNotFoundError(f"No backup at {key}", details={"key": key})
        if self.fail_locks:
            self.fail_locks -= 1
            raise StorageFailedError("fake store refused the lock", details={"key": key})
        current = self.locks.get(key)
        if current is not None and current.retain_until > lock.retain_until:
            raise StorageFailedError(
                f"{key}: a lock cannot be shortened", details={"key": key, "reason": "AccessDenied"}
            )
        self.locks[key] = lock

    def lock_of(self, *, key: str) -> Lock | None:
        if key not in self.objects:
            raise BackupNotFoundError(f"No backup at {key}", details={"key": key})
        return self.locks.get(key)

    def _now(self) -> datetime:
        return self.clock.current if self.clock is not None else datetime.now(UTC)

    def _check_writable(self, key: str) -> None:
        if key in self.objects:
            raise ObjectExistsError(f"A backup already exists at {key}", details={"key": key})
        if self.fail_writes:
            self.fail_writes -= 1
            self.aborted.append(key)
            raise StorageFailedError("fake store refused the write", details={"key": key})

    def _commit(self, key: str, data: bytes) -> None:
        if key in self.objects:
            raise ObjectExistsError(f"A backup already exists at {key}", details={"key": key})
        self.objects[key] = data
        self.committed.append(key)


@attrs.define
class InMemoryFiles:
    """LocalFiles: path -> bytes."""

    files: dict[str, bytes] = attrs.Factory(dict)
    later: dict[str, bytes] = attrs.Factory(dict)
    """What a path holds from its second opening on, as if it changed after the first read."""
    opened: list[str] = attrs.Factory(list)
    """Every path opened, in order."""

    @contextlib.contextmanager
    def open_read(self, path: str) -> Iterator[BinaryIO]:
        if path not in self.files:
            raise UsageInvalidError([f"{path}: cannot read it (No such file or directory)"])
        data = self.later.get(path, self.files[path]) if path in self.opened else self.files[path]
        self.opened.append(path)
        yield io.BytesIO(data)


@attrs.define
class RecordingRestorer:
    """ArchiveRestorer that reads the whole archive it is given and writes it nowhere."""

    received: bytearray = attrs.Factory(bytearray)
    """The bytes it was fed, as the restore tool would have read them."""
    calls: list[RestoreOptions] = attrs.Factory(list)
    """The options of each restore started."""

    def restore(
        self, *, stream: Readable, compressed: bool, options: RestoreOptions
    ) -> RestoreReport:
        self.calls.append(options)
        while chunk := stream.read(64 * 1024):
            self.received += chunk
        return RestoreReport(target_hosts=("fake:27017",), restored={}, failures=0, planned={})

    def existing(self, namespaces: object) -> tuple[str, ...]:
        return ()


@attrs.define
class RecordingMailer:
    sent: list[Email] = attrs.Factory(list)
    fail: bool = False
    recipients: tuple[str, ...] = ()
    """The configured recipients: an e-mail that names none is recorded as sent to these."""

    def send(self, *, email: Email) -> None:
        if self.fail:
            raise NotificationFailedError("fake mailer is down")
        self.sent.append(attrs.evolve(email, recipients=email.recipients or self.recipients))


@attrs.define
class DictSecrets:
    values: dict[str, str] = attrs.Factory(dict)

    def reveal(self, *, name: str) -> str | None:
        return self.values.get(name)
