"""What a backup that fails after its upload removes: only the archive this run wrote, and the
failure the user is told is the run's own, whatever happens while removing it."""

from __future__ import annotations

from collections.abc import Iterator

import attrs
import pytest

from backupnimbus.adapters.memory import FakeDumpRunner, InMemoryObjectStore
from backupnimbus.domain.keys import archive_key
from backupnimbus.domain.models import BackupRequest, Compression
from backupnimbus.domain.run_backup import RunBackup
from backupnimbus.errors import (
    BackupNimbusError,
    DumpFailedError,
    ObjectExistsError,
    StorageFailedError,
)
from backupnimbus.ports.compressor import NONE
from backupnimbus.ports.object_store import StoredObject
from tests.support.dump_backends import OTHER, SQLITE, T0, backend_backup


@attrs.define
class _UndeletableStore(InMemoryObjectStore):
    """A store whose delete fails with its own error, not a BackupNimbusError: a plugin's store,
    or a directory on a file system that turned read-only mid-run."""

    def delete(self, *, key: str) -> None:
        raise PermissionError(13, "Read-only file system", key)


def _use_case(store: InMemoryObjectStore, dumps: FakeDumpRunner, *, fmt: str) -> RunBackup:
    return backend_backup(dumps=dumps, store=store, archive_format=fmt)


def test_a_cleanup_that_fails_does_not_hide_why_the_manifest_was_not_written() -> None:
    """The user must read the storage failure that lost the backup, not the cleanup's."""
    store = _UndeletableStore(fail_put_bytes=1)

    with pytest.raises(StorageFailedError, match="refused the write"):
        _use_case(store, FakeDumpRunner(), fmt="mongodump-archive").run(
            request=BackupRequest(name="shop", compression=Compression(NONE))
        )


def test_a_cleanup_that_fails_does_not_hide_a_dump_backends_bad_counts() -> None:
    store = _UndeletableStore()
    dumps = FakeDumpRunner(data=SQLITE, counts={"t": -1})

    with pytest.raises(DumpFailedError, match="document count"):
        _use_case(store, dumps, fmt=OTHER).run(
            request=BackupRequest(name="shop", compression=Compression(NONE))
        )


@pytest.mark.parametrize(
    ("store", "dumps", "cause"),
    [
        (_UndeletableStore(), FakeDumpRunner(data=SQLITE, counts={"t": -1}), "document count"),
        (_UndeletableStore(), FakeDumpRunner(data=SQLITE, warnings=(3,)), "no text"),  # type: ignore[arg-type]
        (_UndeletableStore(fail_put_bytes=1), FakeDumpRunner(data=SQLITE), "refused the write"),
    ],
    ids=["bad-counts", "bad-warnings", "manifest-write"],
)
def test_a_cleanup_that_fails_says_the_archive_may_remain_and_that_prune_removes_it(
    store: _UndeletableStore, dumps: FakeDumpRunner, cause: str
) -> None:
    """The archive is still in the store: the error must not say that nothing was stored."""
    with pytest.raises(BackupNimbusError) as failed:
        _use_case(store, dumps, fmt=OTHER).run(
            request=BackupRequest(name="shop", compression=Compression(NONE))
        )

    (key,) = store.objects
    message = failed.value.message
    assert cause in message
    assert "nothing was stored" not in message
    assert f"may remain at {key}" in message
    assert "prune" in message
    assert failed.value.details["archive_left"] == key


@attrs.define
class _RacedStore(InMemoryObjectStore):
    """Another run writes the same key after this run's taken-stamp check: the listing still
    says free, the conditional write then finds the key taken."""

    def list_objects(self, *, prefix: str) -> Iterator[StoredObject]:
        return iter(())


def test_a_run_that_loses_the_race_for_its_key_leaves_the_other_runs_archive() -> None:
    key = archive_key(prefix="backups/", name="shop", at=T0, compression=NONE, encrypted=False)
    theirs = b"the other run's archive"
    store = _RacedStore(objects={key: theirs})

    with pytest.raises(ObjectExistsError):
        _use_case(store, FakeDumpRunner(data=SQLITE, counts={"t": 1}), fmt=OTHER).run(
            request=BackupRequest(name="shop", compression=Compression(NONE))
        )

    assert store.objects == {key: theirs}
