"""Backups of another format than a mongodump archive (a dump backend's):
what verify, restore and backup vouch for when the archive is not walked."""

from __future__ import annotations

import contextlib
import gzip
import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from pyrage import x25519

from backupnimbus.adapters.age_cipher import AgeCipher
from backupnimbus.adapters.compression import FastCompressor
from backupnimbus.adapters.local_store import LocalDirectoryStore
from backupnimbus.adapters.memory import (
    FakeDumpRunner,
    InMemoryFiles,
    InMemoryObjectStore,
    RecordingRestorer,
)
from backupnimbus.domain.archive_formats import ArchiveFormats
from backupnimbus.domain.list_backups import ListBackups
from backupnimbus.domain.models import BackupRequest, Compression, SourceInfo
from backupnimbus.domain.restore_backup import RestoreBackup, RestoreFromKey, RestoreLatest
from backupnimbus.domain.verify_backup import VerifyBackup, VerifyFromKey
from backupnimbus.errors import (
    BackupNimbusError,
    DumpFailedError,
    VerificationFailedError,
)
from backupnimbus.ports.compressor import GZIP, NONE
from backupnimbus.ports.dump_runner import MONGODUMP_ARCHIVE
from tests.support.dump_backends import OTHER, SQLITE, T0, backend_backup
from tests.support.stored_backups import store_backup
from tests.support.testdata import TESTDATA

USERS = (TESTDATA / "mongodump-100.8.0__shop.users.archive").read_bytes()


def _store(
    store: InMemoryObjectStore, stored: bytes, *, fmt: str, compression: str = NONE,
    encrypted: bool = False, name: str = "shop", at: datetime = T0,
) -> str:  # fmt: skip
    return store_backup(
        store,
        name,
        at,
        stored,
        compression=compression,
        encrypted=encrypted,
        fmt=fmt,
        encrypted_key=encrypted,
        mongodump_version="sqlite 3.45",
        source=SourceInfo(hosts=()),
        namespaces={"t": 1},
        recipients=("age1x",) if encrypted else (),
    )


def _verifier(store: InMemoryObjectStore, cipher: AgeCipher | None = None) -> VerifyBackup:
    backups = ListBackups(store=store, prefix="backups/")
    if cipher is None:
        return VerifyBackup(store=store, backups=backups, compressor=FastCompressor())
    return VerifyBackup(store=store, backups=backups, compressor=FastCompressor(), cipher=cipher)


def _encrypt(data: bytes) -> tuple[bytes, str]:
    identity = x25519.Identity.generate()
    cipher = AgeCipher(recipients=[str(identity.to_public())], identities=[])
    with cipher.encrypting(io.BytesIO(data)) as ciphertext:
        return ciphertext.read(len(data) * 2 + 1024 * 1024), str(identity)


# -- verify: a format that is not walked is still decrypted and decompressed -----------------


def test_verify_of_an_encrypted_other_format_backup_needs_an_identity() -> None:
    """A mongodump backup that is encrypted fails verify without an identity (nobody could
    restore it); one of another format was called verified."""
    store = InMemoryObjectStore()
    ciphertext, _ = _encrypt(SQLITE)
    key = _store(store, ciphertext, fmt=OTHER, encrypted=True)

    with pytest.raises(VerificationFailedError, match="no identity"):
        _verifier(store).run(request=VerifyFromKey(key=key))


def test_verify_of_an_other_format_backup_fails_with_the_wrong_identity() -> None:
    store = InMemoryObjectStore()
    ciphertext, _ = _encrypt(SQLITE)
    key = _store(store, ciphertext, fmt=OTHER, encrypted=True)
    stranger = x25519.Identity.generate()
    wrong = AgeCipher(recipients=[], identities=[str(stranger)])

    with pytest.raises(VerificationFailedError):
        _verifier(store, cipher=wrong).run(request=VerifyFromKey(key=key))


def test_verify_of_an_other_format_backup_fails_when_it_does_not_decompress() -> None:
    """Stored truncated (a compressor that ended early): its sha256 is the stored bytes', so
    only decompressing it finds that no restore could read it."""
    store = InMemoryObjectStore()
    truncated = gzip.compress(b"SQLite format 3\x00" + bytes(64 * 1024))[:-12]
    key = _store(store, truncated, fmt=OTHER, compression=GZIP)

    with pytest.raises(VerificationFailedError):
        _verifier(store).run(request=VerifyFromKey(key=key))


def test_verify_of_an_intact_encrypted_gzipped_other_format_backup_passes() -> None:
    store = InMemoryObjectStore()
    ciphertext, identity = _encrypt(gzip.compress(SQLITE))
    key = _store(store, ciphertext, fmt=OTHER, compression=GZIP, encrypted=True)
    cipher = AgeCipher(recipients=[], identities=[identity])

    report = _verifier(store, cipher=cipher).run(request=VerifyFromKey(key=key))

    assert (report.checked.format, report.checked.encrypted, report.checked.compression) == (
        OTHER, True, GZIP)  # fmt: skip


# -- restore: the configured restorer must read the backup's format ---------------------------


def _restore_use_case(
    store: InMemoryObjectStore, archive_format: str
) -> tuple[RestoreBackup, RecordingRestorer]:
    restorer = RecordingRestorer()
    return RestoreBackup(
        store=store,
        backups=ListBackups(store=store, prefix="backups/"),
        restorer=restorer,
        compressor=FastCompressor(),
        files=InMemoryFiles(),
        formats=ArchiveFormats(
            active=archive_format, backends={MONGODUMP_ARCHIVE: "mongodump", OTHER: "sqlite"}
        ),
    ), restorer


def test_restore_refuses_a_backup_of_another_format_than_its_restorer_reads() -> None:
    """A SQLite backup handed to mongorestore (or a mongodump archive to a plugin's restorer,
    which may write it over the target) is refused before the restorer starts."""
    store = InMemoryObjectStore()
    key = _store(store, SQLITE, fmt=OTHER)
    use_case, restorer = _restore_use_case(store, MONGODUMP_ARCHIVE)

    with pytest.raises(BackupNimbusError, match=OTHER) as refused:
        use_case.run(request=RestoreFromKey(key=key))

    assert refused.value.exit_code == 2
    assert restorer.calls == []


def test_restore_of_a_plugin_format_refuses_a_mongodump_archive() -> None:
    store = InMemoryObjectStore()
    _store(store, USERS, fmt=MONGODUMP_ARCHIVE)
    use_case, restorer = _restore_use_case(store, OTHER)

    with pytest.raises(BackupNimbusError, match=MONGODUMP_ARCHIVE):
        use_case.run(request=RestoreLatest(name="shop"))

    assert restorer.calls == []


def test_restore_of_a_matching_format_still_restores() -> None:
    store = InMemoryObjectStore()
    data = SQLITE
    key = _store(store, data, fmt=OTHER)
    use_case, restorer = _restore_use_case(store, OTHER)

    result = use_case.run(request=RestoreFromKey(key=key))

    assert bytes(restorer.received) == data
    assert result.verified


# -- backup: what a dump backend reports must make a manifest that can be read back -----------


@pytest.mark.parametrize(
    "reported",
    [{"t": "3"}, {"t": -1}, {"t": 2.5}, {"t": True}],
    ids=["text", "negative", "fraction", "bool"],
)
def test_a_backend_reporting_bad_counts_never_leaves_an_unreadable_manifest(
    reported: dict[object, object],
) -> None:
    """A backup stored with a manifest that cannot be read is a backup nobody can verify or
    restore, which list shows as unreadable: the run fails instead, and stores nothing."""
    store = InMemoryObjectStore()
    dumps = FakeDumpRunner(data=SQLITE, counts=reported)  # type: ignore[arg-type]
    use_case = backend_backup(dumps=dumps, store=store)

    with pytest.raises(DumpFailedError, match="document count") as failed:
        use_case.run(request=BackupRequest(name="shop", compression=Compression(NONE)))

    assert failed.value.exit_code == 1
    assert store.objects == {}


class _BrokenCounts:
    """A backend whose dump streams whole, then fails to say what it held (a plugin's bug)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int, /) -> bytes:
        return self._data.read(size)

    def namespaces(self) -> dict[str, int]:
        raise RuntimeError("backend bug")

    def warnings(self) -> tuple[str, ...]:
        return ()

    def stop(self) -> None:
        pass


class _BrokenCountsRunner:
    def describe_tool(self) -> str:
        return "broken 1.0"

    @contextlib.contextmanager
    def open_dump(self, *, stop: object) -> Iterator[_BrokenCounts]:
        yield _BrokenCounts(SQLITE)


def test_a_backend_failing_after_its_stream_leaves_no_archive_behind() -> None:
    """An archive without its manifest is a backup nobody can vouch for: a run that fails after
    the upload must delete it, as it does when the manifest cannot be written."""
    store = InMemoryObjectStore()
    use_case = backend_backup(dumps=_BrokenCountsRunner(), store=store)

    with pytest.raises(DumpFailedError, match="RuntimeError"):
        use_case.run(request=BackupRequest(name="shop", compression=Compression(NONE)))

    assert store.objects == {}


class _FailingRead:
    """A backend's dump whose read fails with its own error (not DumpFailedError) mid-stream."""

    def __init__(self) -> None:
        self._reads = 0

    def read(self, size: int, /) -> bytes:
        self._reads += 1
        if self._reads > 3:
            raise OSError("source disk gone, password=hunter2-planted")
        return b"x" * size

    def namespaces(self) -> dict[str, int]:
        return {}

    def warnings(self) -> tuple[str, ...]:
        return ()

    def stop(self) -> None:
        pass


class _FailingReadRunner:
    def describe_tool(self) -> str:
        return "failing 1.0"

    @contextlib.contextmanager
    def open_dump(self, *, stop: object) -> Iterator[_FailingRead]:
        yield _FailingRead()


def test_a_backend_read_failing_mid_stream_is_a_dump_failure_not_the_stores(
    tmp_path: Path,
) -> None:
    """The dump's own error is not worded as the store's ("Cannot write ..."): the user would look
    at the wrong side. Its text (a plugin's, which may hold anything) is not repeated."""
    root = tmp_path / "store"
    use_case = backend_backup(dumps=_FailingReadRunner(), store=LocalDirectoryStore(root=root))

    with pytest.raises(DumpFailedError) as failed:
        use_case.run(request=BackupRequest(name="shop"))

    assert "OSError" in failed.value.message
    assert "hunter2" not in failed.value.message + repr(failed.value.details)
    assert [p for p in root.rglob("*") if p.is_file()] == []
