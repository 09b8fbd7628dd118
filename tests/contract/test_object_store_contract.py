"""One contract for every ObjectStore: what a backup relies on, whichever store holds it.

Each test runs against the in-memory fake, a local directory and S3 (moto), so the fake that
the use-case tests lean on is held to the same behaviour as the real stores.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
import tenacity

from backupnimbus.adapters.local_store import LocalDirectoryStore
from backupnimbus.adapters.memory import InMemoryObjectStore
from backupnimbus.adapters.retrying import RetryPolicy
from backupnimbus.adapters.s3 import S3ObjectStore
from backupnimbus.adapters.s3_parts import PartSizer
from backupnimbus.errors import BackupNotFoundError, DumpFailedError, ObjectExistsError
from backupnimbus.ports.object_store import ObjectStore

MiB = 1024 * 1024
KEY = "backups/mongodb/2025/04/07/mongodb-20250407T101530Z.archive.gz"


@attrs.frozen
class StoreUnderTest:
    store: ObjectStore
    residue: Callable[[], list[str]]
    """Whatever the store keeps outside its committed objects: open uploads, stray files."""
    parts_of: Callable[[str], int | None]
    """How many parts the stored object was uploaded in, where the store has parts."""


def _memory() -> StoreUnderTest:
    return StoreUnderTest(InMemoryObjectStore(), residue=list, parts_of=lambda key: None)


def _local(root: Path) -> StoreUnderTest:
    store = LocalDirectoryStore(root=root)

    def residue() -> list[str]:
        files = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
        return sorted(files - {o.key for o in store.list_objects(prefix="")})

    return StoreUnderTest(store, residue=residue, parts_of=lambda key: None)


def _s3(client: Any, bucket: str) -> StoreUnderTest:
    store = S3ObjectStore(
        client=client,
        bucket=bucket,
        retry=RetryPolicy(wait=tenacity.wait_none()),
        part_sizer=PartSizer(initial=5 * MiB),
    )

    def residue() -> list[str]:
        uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        return [f"open multipart upload of {u['Key']}" for u in uploads]

    def parts_of(key: str) -> int | None:
        # A multipart object's ETag ends in "-<number of parts>".
        etag = client.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
        return int(etag.rpartition("-")[2]) if "-" in etag else 1

    return StoreUnderTest(store, residue=residue, parts_of=parts_of)


@pytest.fixture(params=["memory", "local", "s3"])
def under_test(request: pytest.FixtureRequest, tmp_path: Path) -> StoreUnderTest:
    if request.param == "memory":
        return _memory()
    if request.param == "local":
        return _local(tmp_path / "store")
    # Resolved only here, so the other stores do not start moto.
    return _s3(request.getfixturevalue("s3"), request.getfixturevalue("bucket"))


@pytest.fixture
def store(under_test: StoreUnderTest) -> ObjectStore:
    return under_test.store


class Chunked:
    """A stream that hands out at most `max_read` bytes per read, as a pipe or socket does."""

    def __init__(self, data: bytes, *, max_read: int | None = None, fail_at: int | None = None):
        self._data = data
        self._max_read = max_read
        self._fail_at = fail_at
        self.position = 0
        self.error = DumpFailedError("mongodump died", details={"exit_code": -9})

    def read(self, size: int, /) -> bytes:
        if self._max_read is not None:
            size = min(size, self._max_read)
        end = self.position + size
        if self._fail_at is not None and end > self._fail_at:
            raise self.error
        chunk = self._data[self.position : end]
        self.position += len(chunk)
        return chunk


def _read_back(store: ObjectStore, key: str) -> bytes:
    with store.open_read(key=key) as handle:
        return handle.read()


def test_streamed_archive_reads_back_byte_identical_in_parts(under_test: StoreUnderTest) -> None:
    data = os.urandom(12 * MiB)

    under_test.store.put_stream(key=KEY, stream=Chunked(data))

    assert hashlib.sha256(_read_back(under_test.store, KEY)).digest() == (
        hashlib.sha256(data).digest()
    )
    assert under_test.parts_of(KEY) in (None, 3)
    assert under_test.residue() == []


def test_stream_that_returns_short_reads_is_stored_whole(under_test: StoreUnderTest) -> None:
    # A pipe or a transforming reader returns what it has, not what was asked for; S3 rejects
    # a multipart upload whose middle parts are below 5 MiB, so the store must fill its parts.
    data = os.urandom(11 * MiB + 123)

    under_test.store.put_stream(key=KEY, stream=Chunked(data, max_read=256 * 1024))

    assert _read_back(under_test.store, KEY) == data
    assert under_test.parts_of(KEY) in (None, 3)


def test_empty_stream_stores_an_empty_object(store: ObjectStore) -> None:
    store.put_stream(key=KEY, stream=Chunked(b""))

    assert _read_back(store, KEY) == b""
    assert store.exists(key=KEY)


def test_put_bytes_reads_back(store: ObjectStore) -> None:
    store.put_bytes(key=KEY + ".manifest.json", data=b'{"size": 3}\n')

    assert _read_back(store, KEY + ".manifest.json") == b'{"size": 3}\n'


def test_exists_only_for_written_keys(store: ObjectStore) -> None:
    store.put_bytes(key=KEY, data=b"x")

    assert store.exists(key=KEY)
    assert not store.exists(key=KEY + ".manifest.json")
    assert not store.exists(key=KEY[:-3])


def test_list_objects_filters_by_prefix_with_sizes(store: ObjectStore) -> None:
    store.put_bytes(key="backups/a/2025/01/01/a-1.archive", data=b"12345")
    store.put_stream(key="backups/a/2025/01/02/a-2.archive", stream=Chunked(b"123"))
    store.put_bytes(key="backups/ab/2025/01/01/ab-1.archive", data=b"1")
    store.put_bytes(key="other/a/x", data=b"1")

    listed = {o.key: o.size for o in store.list_objects(prefix="backups/a/")}

    assert listed == {"backups/a/2025/01/01/a-1.archive": 5, "backups/a/2025/01/02/a-2.archive": 3}
    assert {o.key for o in store.list_objects(prefix="nothing/")} == set()
    assert all(o.modified_at.tzinfo is not None for o in store.list_objects(prefix=""))


def test_delete_removes_only_that_key(store: ObjectStore) -> None:
    store.put_bytes(key=KEY, data=b"archive")
    store.put_bytes(key=KEY + ".manifest.json", data=b"manifest")

    store.delete(key=KEY)

    assert not store.exists(key=KEY)
    assert [o.key for o in store.list_objects(prefix="backups/")] == [KEY + ".manifest.json"]
    with pytest.raises(BackupNotFoundError):
        _read_back(store, KEY)


def _write_with_stream(store: ObjectStore, data: bytes) -> None:
    store.put_stream(key=KEY, stream=Chunked(data))


def _write_with_bytes(store: ObjectStore, data: bytes) -> None:
    store.put_bytes(key=KEY, data=data)


@pytest.mark.parametrize("first", [_write_with_stream, _write_with_bytes], ids=["first-stream",
                         "first-bytes"])  # fmt: skip
@pytest.mark.parametrize("second", [_write_with_stream, _write_with_bytes], ids=["then-stream",
                         "then-bytes"])  # fmt: skip
def test_second_write_to_a_key_is_refused_and_keeps_the_original(
    under_test: StoreUnderTest,
    first: Callable[[ObjectStore, bytes], None],
    second: Callable[[ObjectStore, bytes], None],
) -> None:
    original = os.urandom(64 * 1024)
    first(under_test.store, original)

    with pytest.raises(ObjectExistsError) as refused:
        second(under_test.store, b"an impostor")

    assert refused.value.details == {"key": KEY}
    assert _read_back(under_test.store, KEY) == original
    assert under_test.residue() == []


@pytest.mark.parametrize("fail_at", [0, 1000, 7 * MiB], ids=["at-start", "early", "after-a-part"])
def test_stream_failing_midway_leaves_nothing_at_the_key(
    under_test: StoreUnderTest, fail_at: int
) -> None:
    stream = Chunked(os.urandom(12 * MiB), max_read=MiB, fail_at=fail_at)

    with pytest.raises(DumpFailedError) as raised:
        under_test.store.put_stream(key=KEY, stream=stream)

    assert raised.value is stream.error, "the stream's own error must reach the caller"
    assert not under_test.store.exists(key=KEY)
    assert list(under_test.store.list_objects(prefix="")) == []
    assert under_test.residue() == []
    # The key stays free: a later attempt at the same key succeeds.
    under_test.store.put_stream(key=KEY, stream=Chunked(b"retry"))
    assert _read_back(under_test.store, KEY) == b"retry"


def test_open_read_of_a_missing_key_is_not_found(store: ObjectStore) -> None:
    with pytest.raises(BackupNotFoundError) as raised:
        _read_back(store, "backups/nope.archive.gz")

    assert raised.value.details["key"] == "backups/nope.archive.gz"


class _CountingStream:
    def __init__(self, total: int) -> None:
        self.delivered = 0
        self._total = total

    def read(self, size: int, /) -> bytes:
        size = min(size, self._total - self.delivered)
        self.delivered += size
        return b"\0" * size


def test_s3_reads_at_most_concurrency_plus_one_parts_ahead_of_slow_uploads(
    s3: Any, bucket: str
) -> None:
    part = 5 * MiB
    release = threading.Event()
    entered = threading.Semaphore(0)

    def stall(**_: Any) -> None:
        entered.release()
        release.wait(timeout=60)

    s3.meta.events.register("before-call.s3.UploadPart", stall)
    store = S3ObjectStore(
        client=s3, bucket=bucket, retry=RetryPolicy(wait=tenacity.wait_none()),
        part_sizer=PartSizer(initial=part), concurrency=2,
    )  # fmt: skip
    stream = _CountingStream(10 * part)
    worker = threading.Thread(target=store.put_stream, kwargs={"key": KEY, "stream": stream})
    worker.start()
    try:
        for _ in range(2):
            assert entered.acquire(timeout=30), "the uploads never started"
        time.sleep(0.5)  # room for a store that buffers without bound to read on
        buffered = stream.delivered
    finally:
        release.set()
        worker.join(timeout=120)

    assert buffered <= 3 * part
    assert s3.head_object(Bucket=bucket, Key=KEY)["ContentLength"] == 10 * part
