"""VerifyBackup with in-memory fakes: which archive each kind of request checks (a key, the
newest of a set, a local file), and what a local file that is no mongodump archive is told."""

from __future__ import annotations

import gzip
import hashlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backupnimbus.adapters.compression import FastCompressor
from backupnimbus.adapters.memory import InMemoryFiles, InMemoryObjectStore
from backupnimbus.domain.archive_formats import ArchiveFormats
from backupnimbus.domain.list_backups import ListBackups
from backupnimbus.domain.verify_backup import (
    VerificationReport,
    VerifiedFile,
    VerifyBackup,
    VerifyFromFile,
    VerifyFromKey,
    VerifyLatest,
)
from backupnimbus.errors import (
    BackupNotFoundError,
    UsageInvalidError,
    VerificationFailedError,
)
from backupnimbus.ports.compressor import GZIP
from backupnimbus.ports.dump_runner import MONGODUMP_ARCHIVE
from tests.support.stored_backups import store_backup
from tests.support.testdata import TESTDATA

USERS = (TESTDATA / "mongodump-100.8.0__shop.users.archive").read_bytes()
MULTI_DB = (TESTDATA / "mongodump-100.8.0__multi-db.archive").read_bytes()
T0 = datetime(2025, 5, 1, 3, 0, tzinfo=UTC)
PATH = "/backups/copy.archive"
SQLITE = "sqlite3-database"
SQLITE_FORMATS = ArchiveFormats(
    active=SQLITE, backends={MONGODUMP_ARCHIVE: "mongodump", SQLITE: "sqlite"}
)


def _use_case(
    store: InMemoryObjectStore | None = None,
    files: InMemoryFiles | None = None,
    formats: ArchiveFormats | None = None,
) -> VerifyBackup:
    store = store or InMemoryObjectStore()
    return VerifyBackup(
        store=store,
        backups=ListBackups(store=store, prefix="backups/"),
        compressor=FastCompressor(),
        files=files or InMemoryFiles(),
        **({"formats": formats} if formats is not None else {}),
    )


def _sqlite_database(tmp_path: Path) -> bytes:
    path = tmp_path / "shop.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
    db.close()
    return path.read_bytes()


# -- which archive each request checks ---------------------------------------------------------


def test_a_key_checks_the_backup_at_that_key_not_the_newest() -> None:
    store = InMemoryObjectStore()
    older = store_backup(store, "shop", T0, USERS)
    store_backup(store, "shop", T0 + timedelta(days=1), MULTI_DB)

    report = _use_case(store).run(request=VerifyFromKey(key=older))

    assert isinstance(report, VerificationReport)
    assert report.key == older
    assert report.checked.sha256 == hashlib.sha256(USERS).hexdigest()


def test_a_key_of_another_set_than_the_one_named_is_refused() -> None:
    store = InMemoryObjectStore()
    key = store_backup(store, "shop", T0, USERS)

    with pytest.raises(VerificationFailedError, match="one of set 'shop', not of set 'billing'"):
        _use_case(store).run(request=VerifyFromKey(key=key, name="billing"))


def test_latest_checks_the_newest_complete_backup_of_its_set_or_of_all() -> None:
    store = InMemoryObjectStore()
    store_backup(store, "shop", T0, MULTI_DB)
    newest_shop = store_backup(
        store, "shop", T0 + timedelta(days=1), gzip.compress(USERS), compression=GZIP
    )
    # Newer, but unfinished (no manifest): never the latest.
    store_backup(store, "shop", T0 + timedelta(days=2), b"half an upload", manifest=False)
    newest_of_all = store_backup(store, "billing", T0 + timedelta(days=3), MULTI_DB)
    use_case = _use_case(store)

    of_shop = use_case.run(request=VerifyLatest(name="shop"))
    of_all = use_case.run(request=VerifyLatest(name=None))

    assert (of_shop.key, of_all.key) == (newest_shop, newest_of_all)
    assert of_shop.checked.compression == GZIP


def test_latest_of_a_set_without_complete_backups_is_not_found() -> None:
    store = InMemoryObjectStore()
    store_backup(store, "shop", T0, USERS)

    with pytest.raises(BackupNotFoundError):
        _use_case(store).run(request=VerifyLatest(name="billing"))


# -- a local file ------------------------------------------------------------------------------


def test_a_file_is_read_through_the_local_files_and_walked() -> None:
    files = InMemoryFiles({PATH: gzip.compress(MULTI_DB)})

    report = _use_case(files=files).run(request=VerifyFromFile(path=PATH))

    assert isinstance(report, VerifiedFile)
    assert report.file == PATH
    assert files.opened == [PATH]
    assert report.checked.sha256 == hashlib.sha256(files.files[PATH]).hexdigest()
    assert report.checked.archive is not None
    assert report.checked.archive.counts["shop.orders"] == 5000


def test_a_file_that_cannot_be_opened_is_a_usage_error() -> None:
    with pytest.raises(UsageInvalidError, match=r"missing\.archive: cannot read it"):
        _use_case().run(request=VerifyFromFile(path="/missing.archive"))


def test_a_file_that_is_no_mongodump_archive_says_so_and_where_other_formats_are_checked(
    tmp_path: Path,
) -> None:
    files = InMemoryFiles({PATH: _sqlite_database(tmp_path)})

    with pytest.raises(VerificationFailedError) as caught:
        _use_case(files=files).run(request=VerifyFromFile(path=PATH))

    message = caught.value.message
    assert message.startswith(f"{PATH} is not a mongodump archive")
    assert "other formats are checked in the store, against their manifest" in message
    assert caught.value.exit_code == 1
    assert caught.value.details["file"] == PATH
    assert caught.value.details["first_bytes"] == b"SQLite format 3\x00"[:8].hex()


def test_a_file_of_the_active_backends_other_format_is_refused_as_unverifiable(
    tmp_path: Path,
) -> None:
    files = InMemoryFiles({PATH: _sqlite_database(tmp_path)})

    with pytest.raises(UsageInvalidError) as caught:
        _use_case(files=files, formats=SQLITE_FORMATS).run(request=VerifyFromFile(path=PATH))

    [problem] = caught.value.problems
    assert problem.startswith(f"--file {PATH}: not a mongodump archive")
    assert "DUMP_BACKEND=sqlite" in problem
    assert SQLITE in problem
    assert "no manifest" in problem
    assert "verify KEY or --latest" in problem
    assert caught.value.exit_code == 2


def test_a_mongodump_archive_is_still_walked_while_another_backend_is_active() -> None:
    files = InMemoryFiles({PATH: USERS})

    report = _use_case(files=files, formats=SQLITE_FORMATS).run(request=VerifyFromFile(path=PATH))

    assert report.checked.archive is not None
    assert report.checked.format == MONGODUMP_ARCHIVE
