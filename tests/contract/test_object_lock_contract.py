"""One contract for the ObjectLocks port: what prune and a locked backup rely on, whichever store
holds the locks.

Each test runs against the in-memory fake (the use-case tests lean on it) and the S3 adapter on
the moto server with a bucket created with Object Lock, so the fake is held to what S3 does.
What moto does not enforce is left out rather than asserted for one side only: moto lets a
lock be shortened (a compliance lock even), so "a lock is never shortened" is the fake's word
alone; and moto answers a lock on a missing key with a 500 where S3 says NoSuchKey.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import attrs
import pytest
import tenacity

from backupnimbus.adapters.memory import InMemoryObjectStore
from backupnimbus.adapters.retrying import RetryPolicy
from backupnimbus.adapters.s3 import S3ObjectStore
from backupnimbus.errors import (
    BackupNimbusError,
    BackupNotFoundError,
    ConfigInvalidError,
    ObjectExistsError,
)
from backupnimbus.ports.object_lock import COMPLIANCE, GOVERNANCE, Lock, ObjectLocks
from backupnimbus.ports.object_store import ObjectStore

KEY = "backups/mongodb/2025/04/07/mongodb-20250407T101530Z.archive.gz.manifest.json"


class LockingStore(ObjectStore, ObjectLocks, Protocol):
    """Both ports on one object, as each adapter that can lock provides them."""


@attrs.frozen
class Stores:
    locking: LockingStore
    """A store that can lock."""
    plain: LockingStore
    """The same kind of store, unable to lock (a bucket created without Object Lock)."""


def _memory() -> Stores:
    return Stores(locking=InMemoryObjectStore(object_lock=True), plain=InMemoryObjectStore())


def _s3(client: Any) -> Stores:
    def store(bucket: str) -> S3ObjectStore:
        return S3ObjectStore(
            client=client, bucket=bucket, retry=RetryPolicy(wait=tenacity.wait_none())
        )

    locked, plain = (f"{kind}-{uuid.uuid4().hex[:12]}" for kind in ("locked", "plain"))
    client.create_bucket(Bucket=locked, ObjectLockEnabledForBucket=True)
    client.create_bucket(Bucket=plain)
    return Stores(locking=store(locked), plain=store(plain))


FACTORIES: dict[str, Callable[[pytest.FixtureRequest], Stores]] = {
    "memory": lambda request: _memory(),
    # Resolved only here, so the fake alone does not start moto.
    "s3": lambda request: _s3(request.getfixturevalue("s3")),
}


@pytest.fixture(params=sorted(FACTORIES))
def stores(request: pytest.FixtureRequest) -> Stores:
    return FACTORIES[request.param](request)


@pytest.fixture
def store(stores: Stores) -> LockingStore:
    return stores.locking


def days(n: float, mode: str = GOVERNANCE) -> Lock:
    # S3 keeps retention dates to the second.
    return Lock(mode, datetime.now(UTC).replace(microsecond=0) + timedelta(days=n))


def read(store: ObjectStore, key: str) -> bytes:
    with store.open_read(key=key) as handle:
        return handle.read()


def test_a_store_that_can_lock_says_so(store: LockingStore) -> None:
    store.require_object_lock()


def test_a_store_that_cannot_lock_is_a_config_error_saying_so(stores: Stores) -> None:
    with pytest.raises(ConfigInvalidError) as caught:
        stores.plain.require_object_lock()

    assert caught.value.exit_code == 2
    assert any("S3_OBJECT_LOCK_MODE" in problem for problem in caught.value.problems)


@pytest.mark.parametrize("mode", [GOVERNANCE, COMPLIANCE])
def test_locked_bytes_read_back_with_their_lock(store: LockingStore, mode: str) -> None:
    lock = days(1, mode)

    store.put_locked_bytes(key=KEY, data=b'{"v": 1}', lock=lock)

    assert read(store, KEY) == b'{"v": 1}'
    assert store.lock_of(key=KEY) == lock


def test_locked_bytes_never_replace_an_object(store: LockingStore) -> None:
    store.put_bytes(key=KEY, data=b"first")

    with pytest.raises(ObjectExistsError):
        store.put_locked_bytes(key=KEY, data=b"second", lock=days(1))

    assert read(store, KEY) == b"first"
    assert store.lock_of(key=KEY) is None


def test_an_object_written_without_a_lock_has_none(store: LockingStore) -> None:
    store.put_bytes(key=KEY, data=b"{}")

    assert store.lock_of(key=KEY) is None


def test_a_lock_set_after_the_write_is_read_back_and_can_be_extended(
    store: LockingStore,
) -> None:
    store.put_bytes(key=KEY, data=b"{}")
    first, later = days(1), days(3)

    store.lock(key=KEY, lock=first)
    locked = store.lock_of(key=KEY)
    store.lock(key=KEY, lock=later)

    assert locked == first
    assert store.lock_of(key=KEY) == later
    assert read(store, KEY) == b"{}", "locking leaves the bytes as they were"


def test_setting_the_same_lock_twice_is_harmless(store: LockingStore) -> None:
    """A retry after a lost response sets the same date again."""
    lock = days(2)
    store.put_bytes(key=KEY, data=b"{}")

    store.lock(key=KEY, lock=lock)
    store.lock(key=KEY, lock=lock)

    assert store.lock_of(key=KEY) == lock


def test_each_key_has_its_own_lock(store: LockingStore) -> None:
    other = KEY.replace("mongodb-", "other-")
    lock = days(1)
    store.put_locked_bytes(key=KEY, data=b"a", lock=lock)
    store.put_bytes(key=other, data=b"b")

    assert store.lock_of(key=other) is None
    assert store.lock_of(key=KEY) == lock


def test_a_missing_key_has_no_lock_to_read(store: LockingStore) -> None:
    with pytest.raises(BackupNotFoundError):
        store.lock_of(key=KEY)


def test_locking_a_missing_key_fails_and_creates_nothing(store: LockingStore) -> None:
    # S3 answers NoSuchKey (BackupNotFoundError, as the fake raises); moto 5.2 answers 500, a
    # StorageFailedError after the retries. Either way a typed error, and no object.
    with pytest.raises(BackupNimbusError):
        store.lock(key=KEY, lock=days(1))

    assert not store.exists(key=KEY)
