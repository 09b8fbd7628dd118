"""RestoreBackup with in-memory fakes: which archive each kind of request restores, and the
checks a local file passes before anything is written."""

from __future__ import annotations

import gzip
import hashlib
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pyrage import x25519

from backupnimbus.adapters.age_cipher import AgeCipher
from backupnimbus.adapters.compression import FastCompressor
from backupnimbus.adapters.local_files import FileSystemFiles
from backupnimbus.adapters.memory import InMemoryFiles, InMemoryObjectStore, RecordingRestorer
from backupnimbus.domain.archive_formats import ArchiveFormats
from backupnimbus.domain.list_backups import ListBackups
from backupnimbus.domain.restore_backup import (
    RestoreBackup,
    RestoreFromFile,
    RestoreFromKey,
    RestoreLatest,
    RestoreRequest,
)
from backupnimbus.errors import (
    BackupNotFoundError,
    ConfigInvalidError,
    UsageInvalidError,
    VerificationFailedError,
)
from backupnimbus.ports.archive_restorer import NamespaceRename, RestoreOptions
from backupnimbus.ports.cipher import ArchiveCipher
from backupnimbus.ports.compressor import GZIP
from backupnimbus.ports.dump_runner import MONGODUMP_ARCHIVE
from tests.support.stored_backups import store_backup
from tests.support.testdata import TESTDATA

USERS = (TESTDATA / "mongodump-100.8.0__shop.users.archive").read_bytes()
MULTI_DB = (TESTDATA / "mongodump-100.8.0__multi-db.archive").read_bytes()
T0 = datetime(2025, 5, 1, 3, 0, tzinfo=UTC)
PATH = "/backups/copy.archive"
SQLITE = "sqlite3-database"
SQLITE_ACTIVE = ArchiveFormats(
    active=SQLITE, backends={MONGODUMP_ARCHIVE: "mongodump", SQLITE: "sqlite"}
)
MONGODUMP_ACTIVE = ArchiveFormats(
    active=MONGODUMP_ARCHIVE, backends={MONGODUMP_ARCHIVE: "mongodump", SQLITE: "sqlite"}
)


def _use_case(
    store: InMemoryObjectStore | None = None,
    files: InMemoryFiles | None = None,
    cipher: ArchiveCipher | None = None,
    formats: ArchiveFormats | None = None,
) -> tuple[RestoreBackup, RecordingRestorer]:
    store = store or InMemoryObjectStore()
    restorer = RecordingRestorer()
    use_case = RestoreBackup(
        store=store,
        backups=ListBackups(store=store, prefix="backups/"),
        restorer=restorer,
        compressor=FastCompressor(),
        files=files or InMemoryFiles(),
        **({"cipher": cipher} if cipher is not None else {}),
        **({"formats": formats} if formats is not None else {}),
    )
    return use_case, restorer


def _encrypted(data: bytes) -> tuple[bytes, AgeCipher]:
    identity = x25519.Identity.generate()
    cipher = AgeCipher(recipients=[str(identity.to_public())], identities=[str(identity)])
    with cipher.encrypting(io.BytesIO(data)) as ciphertext:
        return ciphertext.read(len(data) * 2 + 1024 * 1024), cipher


# -- which archive each request restores ------------------------------------------------------


def test_a_key_restores_the_backup_at_that_key_not_the_newest() -> None:
    store = InMemoryObjectStore()
    older = store_backup(store, "shop", T0, USERS)
    store_backup(store, "shop", T0 + timedelta(days=1), MULTI_DB)
    use_case, restorer = _use_case(store)

    result = use_case.run(request=RestoreFromKey(key=older))

    assert bytes(restorer.received) == USERS
    assert (result.key, result.file, result.verified) == (older, None, True)
    assert result.sha256 == hashlib.sha256(USERS).hexdigest()


def test_a_key_with_nothing_stored_there_is_not_found() -> None:
    use_case, restorer = _use_case()

    with pytest.raises(BackupNotFoundError, match=r"No backup at backups/gone\.archive"):
        use_case.run(request=RestoreFromKey(key="backups/gone.archive"))

    assert restorer.calls == []


def test_latest_restores_the_newest_complete_backup_of_its_set_or_of_all() -> None:
    store = InMemoryObjectStore()
    store_backup(store, "shop", T0, MULTI_DB)
    newest_shop = store_backup(
        store, "shop", T0 + timedelta(days=1), gzip.compress(USERS), compression=GZIP
    )
    # Newer, but unfinished (no manifest): never the latest.
    store_backup(store, "shop", T0 + timedelta(days=2), b"half an upload", manifest=False)
    newest_overall = store_backup(store, "billing", T0 + timedelta(days=1, hours=1), MULTI_DB)
    use_case, restorer = _use_case(store)

    of_shop = use_case.run(request=RestoreLatest(name="shop"))
    shop_bytes = bytes(restorer.received)
    restorer.received.clear()
    of_all = use_case.run(request=RestoreLatest())

    assert of_shop.key == newest_shop
    assert shop_bytes == USERS  # decompressed on its way to the restorer
    assert of_all.key == newest_overall
    assert bytes(restorer.received) == MULTI_DB


def test_latest_of_a_set_without_complete_backups_is_not_found() -> None:
    store = InMemoryObjectStore()
    store_backup(store, "shop", T0, USERS)
    use_case, restorer = _use_case(store)

    with pytest.raises(BackupNotFoundError):
        use_case.run(request=RestoreLatest(name="billing"))

    assert restorer.calls == []


# -- a local file ------------------------------------------------------------------------------


def test_an_intact_file_is_checked_then_read_again_for_the_restore() -> None:
    files = InMemoryFiles({PATH: gzip.compress(MULTI_DB)})
    use_case, restorer = _use_case(files=files)

    result = use_case.run(request=RestoreFromFile(path=PATH))

    assert files.opened == [PATH, PATH]
    assert bytes(restorer.received) == MULTI_DB
    assert (result.key, result.file, result.verified) == (None, PATH, False)
    assert result.sha256 == hashlib.sha256(files.files[PATH]).hexdigest()


def test_a_dry_run_of_a_file_reads_it_once_as_it_writes_nothing() -> None:
    files = InMemoryFiles({PATH: USERS})
    use_case, restorer = _use_case(files=files)

    result = use_case.run(request=RestoreFromFile(path=PATH, options=RestoreOptions(dry_run=True)))

    assert files.opened == [PATH]
    assert result.dry_run is True
    assert len(restorer.calls) == 1


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (USERS[: int(len(USERS) * 0.9)], "Invalid archive"),
        (USERS[:-100] + bytes(100), "Invalid archive"),
        (gzip.compress(MULTI_DB)[:-5000], ""),
        (b"", "Invalid archive"),
    ],
    ids=["truncated", "zeroed-end", "gzip-truncated", "empty"],
)
def test_a_damaged_file_is_refused_before_the_restorer_starts(data: bytes, complaint: str) -> None:
    files = InMemoryFiles({PATH: data})
    use_case, restorer = _use_case(files=files)

    with pytest.raises(VerificationFailedError) as caught:
        use_case.run(request=RestoreFromFile(path=PATH))

    assert caught.value.message.startswith(
        f"{PATH} is not an intact archive, so nothing was restored"
    )
    assert complaint in caught.value.message
    assert caught.value.details["file"] == PATH
    assert restorer.calls == []
    assert files.opened == [PATH]


def test_a_file_that_changes_after_its_check_stops_before_its_end_reaches_the_restorer() -> None:
    changed = bytearray(MULTI_DB)
    changed[len(changed) - 10] ^= 0xFF
    files = InMemoryFiles({PATH: MULTI_DB}, later={PATH: bytes(changed)})
    use_case, restorer = _use_case(files=files)

    with pytest.raises(VerificationFailedError) as caught:
        use_case.run(request=RestoreFromFile(path=PATH))

    assert "sha256 mismatch" in caught.value.message
    assert "The file changed after it was checked" in caught.value.message
    assert caught.value.details["expected_sha256"] == hashlib.sha256(MULTI_DB).hexdigest()
    assert len(restorer.received) < len(MULTI_DB)


def test_an_age_encrypted_file_is_recognised_by_its_header_and_decrypted() -> None:
    ciphertext, cipher = _encrypted(gzip.compress(USERS))
    files = InMemoryFiles({PATH: ciphertext})
    use_case, restorer = _use_case(files=files, cipher=cipher)

    result = use_case.run(request=RestoreFromFile(path=PATH))

    assert bytes(restorer.received) == USERS
    assert result.sha256 == hashlib.sha256(ciphertext).hexdigest()


def test_an_age_encrypted_file_without_an_identity_is_refused_before_the_restorer() -> None:
    ciphertext, _ = _encrypted(USERS)
    use_case, restorer = _use_case(files=InMemoryFiles({PATH: ciphertext}))

    with pytest.raises(VerificationFailedError) as caught:
        use_case.run(request=RestoreFromFile(path=PATH))

    assert caught.value.details["reason"] == "no identity configured"
    assert restorer.calls == []


def test_a_file_that_cannot_be_opened_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    restorer = RecordingRestorer()
    store = InMemoryObjectStore()
    use_case = RestoreBackup(
        store=store, backups=ListBackups(store=store, prefix="backups/"), restorer=restorer,
        compressor=FastCompressor(), files=FileSystemFiles(),
    )  # fmt: skip

    for path, reason in [(tmp_path / "missing.archive", "No such file or directory"),
                         (tmp_path, "Is a directory")]:  # fmt: skip
        with pytest.raises(UsageInvalidError) as caught:
            use_case.run(request=RestoreFromFile(path=str(path)))
        assert caught.value.exit_code == 2
        assert caught.value.problems == [f"{path}: cannot read it ({reason})"]
    assert restorer.calls == []


# -- a stored backup whose manifest disagrees with its bytes -----------------------------------


def test_a_manifest_saying_encrypted_beside_plain_bytes_is_refused_before_the_restorer() -> None:
    store = InMemoryObjectStore()
    key = store_backup(store, "shop", T0, MULTI_DB, encrypted=True)
    use_case, restorer = _use_case(store)

    with pytest.raises(VerificationFailedError) as caught:
        use_case.run(request=RestoreFromKey(key=key))

    assert "its manifest says it is age-encrypted, but the stored bytes are not" in (
        caught.value.message
    )
    assert caught.value.details["manifest_encrypted"] is True
    assert restorer.calls == []


def test_age_bytes_beside_a_manifest_saying_plain_are_refused_before_the_restorer() -> None:
    ciphertext, cipher = _encrypted(MULTI_DB)
    store = InMemoryObjectStore()
    key = store_backup(store, "shop", T0, ciphertext, encrypted=False)
    use_case, restorer = _use_case(store, cipher=cipher)

    with pytest.raises(VerificationFailedError) as caught:
        use_case.run(request=RestoreFromKey(key=key))

    assert "the stored bytes are age-encrypted, but its manifest says they are not" in (
        caught.value.message
    )
    assert restorer.calls == []


# -- options that contradict each other --------------------------------------------------------


@pytest.mark.parametrize(
    ("selection", "complaint"),
    [
        ({"ns_include": ("a.*",)}, "--oplog-replay cannot be combined with --ns-include"),
        (
            {"rename": NamespaceRename(ns_from="a.*", ns_to="b.*")},
            "--oplog-replay cannot be combined with --ns-from/--ns-to",
        ),
    ],
    ids=["replay-include", "replay-rename"],
)
def test_an_oplog_replay_of_only_some_namespaces_cannot_be_asked_for(
    selection: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(UsageInvalidError, match=complaint) as caught:
        RestoreOptions(oplog_replay=True, **selection)

    assert caught.value.exit_code == 2


def test_an_oplog_replay_with_includes_and_a_rename_names_both_problems_at_once() -> None:
    with pytest.raises(UsageInvalidError) as caught:
        RestoreOptions(
            oplog_replay=True,
            ns_include=("a.*",),
            rename=NamespaceRename(ns_from="a.*", ns_to="b.*"),
        )

    assert len(caught.value.problems) == 2


@pytest.mark.parametrize("kind", ["key", "latest", "file"])
def test_includes_and_a_rename_reach_the_restorer_as_given(kind: str) -> None:
    store = InMemoryObjectStore()
    key = store_backup(store, "shop", T0, USERS)
    files = InMemoryFiles({PATH: USERS})
    use_case, restorer = _use_case(store, files)
    options = RestoreOptions(
        ns_include=("shop.*",), rename=NamespaceRename(ns_from="shop.*", ns_to="copy.*")
    )
    request: RestoreRequest = {
        "key": RestoreFromKey(key=key, options=options),
        "latest": RestoreLatest(name="shop", options=options),
        "file": RestoreFromFile(path=PATH, options=options),
    }[kind]

    use_case.run(request=request)

    assert restorer.calls == [options]


# -- a backup or a file of another format than the configured dump backend's -------------------


@pytest.mark.parametrize("kind", ["key", "latest"])
def test_a_backup_of_another_format_is_refused_before_the_restorer_starts(kind: str) -> None:
    store = InMemoryObjectStore()
    key = store_backup(store, "shop", T0, b"SQLite format 3\x00 pages", fmt=SQLITE)
    use_case, restorer = _use_case(store, formats=MONGODUMP_ACTIVE)
    request: RestoreRequest = (
        RestoreFromKey(key=key) if kind == "key" else RestoreLatest(name="shop")
    )

    with pytest.raises(ConfigInvalidError) as caught:
        use_case.run(request=request)

    [problem] = caught.value.problems
    assert f"{key} is a {SQLITE} backup" in problem
    assert f"restores {MONGODUMP_ARCHIVE} archives" in problem
    assert "set DUMP_BACKEND=sqlite to restore it" in problem
    assert caught.value.exit_code == 2
    assert caught.value.details["problems"] == [problem]
    assert restorer.calls == []


def test_a_mongodump_backup_while_a_plugin_backend_is_active_names_mongodump_as_the_fix() -> None:
    store = InMemoryObjectStore()
    key = store_backup(store, "shop", T0, USERS)
    use_case, restorer = _use_case(store, formats=SQLITE_ACTIVE)

    with pytest.raises(ConfigInvalidError) as caught:
        use_case.run(request=RestoreFromKey(key=key))

    [problem] = caught.value.problems
    assert f"{key} is a {MONGODUMP_ARCHIVE} backup" in problem
    assert f"the configured dump backend (sqlite) restores {SQLITE} archives" in problem
    assert "set DUMP_BACKEND=mongodump (or leave it unset)" in problem
    assert restorer.calls == []


def test_a_backup_whose_format_no_installed_backend_restores_says_to_install_its_plugin() -> None:
    store = InMemoryObjectStore()
    key = store_backup(store, "shop", T0, b"PGDMP custom", fmt="postgres-custom")
    use_case, restorer = _use_case(store, formats=MONGODUMP_ACTIVE)

    with pytest.raises(ConfigInvalidError) as caught:
        use_case.run(request=RestoreFromKey(key=key))

    [problem] = caught.value.problems
    assert "no installed dump backend restores postgres-custom" in problem
    assert "install the plugin that wrote it and set DUMP_BACKEND to its name" in problem
    assert restorer.calls == []


def test_a_file_is_refused_unread_while_a_backend_of_another_format_is_active() -> None:
    files = InMemoryFiles({PATH: USERS})
    use_case, restorer = _use_case(files=files, formats=SQLITE_ACTIVE)

    with pytest.raises(UsageInvalidError) as caught:
        use_case.run(request=RestoreFromFile(path=PATH))

    [problem] = caught.value.problems
    assert problem.startswith(f"--file {PATH}:")
    assert "DUMP_BACKEND=sqlite" in problem
    assert SQLITE in problem
    assert "restore KEY or --latest" in problem
    assert files.opened == []
    assert restorer.calls == []


def test_a_file_that_is_no_mongodump_archive_says_so_before_the_restorer_starts() -> None:
    files = InMemoryFiles({PATH: b"PK\x03\x04 a zip file, not a backup" * 10})
    use_case, restorer = _use_case(files=files)

    with pytest.raises(VerificationFailedError) as caught:
        use_case.run(request=RestoreFromFile(path=PATH))

    message = caught.value.message
    assert message.startswith(f"{PATH} is not a mongodump archive, so nothing was restored")
    assert "other formats are checked in the store, against their manifest" in message
    assert caught.value.details["file"] == PATH
    assert restorer.calls == []
