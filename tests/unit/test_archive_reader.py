"""The streaming archive reader, on real mongodump archives and on damaged copies of them."""

from __future__ import annotations

import gzip
import io
import struct
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bson
import pytest
from fastcrc import crc64
from hypothesis import given, settings
from hypothesis import strategies as st

from backupnimbus.domain.archive import MAGIC, ArchiveSummary, read_archive
from backupnimbus.domain.oplog import OplogTimestamp
from backupnimbus.errors import VerificationFailedError
from tests.support.testdata import TESTDATA

MULTI_DB = TESTDATA / "mongodump-100.8.0__multi-db.archive"
MULTI_DB_GZ = TESTDATA / "mongodump-100.8.0__multi-db.archive.gz"
SHOP_USERS = TESTDATA / "mongodump-100.8.0__shop.users.archive"
TOOLS = TESTDATA / "mongo-tools"
MULTI_DB_COUNTS = {"shop.orders": 5000, "shop.users": 200, "analytics.events_2025": 300}
TERMINATOR = b"\xff\xff\xff\xff"


def read_bytes(data: bytes) -> ArchiveSummary:
    return read_archive(io.BytesIO(data))


def outcome(data: bytes) -> ArchiveSummary | VerificationFailedError:
    try:
        return read_bytes(data)
    except VerificationFailedError as error:
        return error


def rejection(data: bytes) -> dict[str, Any]:
    with pytest.raises(VerificationFailedError) as caught:
        read_bytes(data)
    error = caught.value
    assert error.code == "VERIFY_ERROR"
    assert f"at byte {error.details['offset']}" in error.message
    return error.details


class Dribble:
    """A source that hands out at most a few bytes per read, as a slow socket might."""

    def __init__(self, data: bytes, sizes: tuple[int, ...] = (1, 3, 7, 4096, 2)) -> None:
        self._data = io.BytesIO(data)
        self._sizes = sizes
        self._calls = 0

    def read(self, size: int, /) -> bytes:
        self._calls += 1
        return self._data.read(min(size, self._sizes[self._calls % len(self._sizes)]))


def blocks(data: bytes) -> Iterator[tuple[str, int, int]]:
    """Yields (what, offset, length) for each part of an uncompressed archive; `what` is
    "header", "prelude", "terminator", "ns-header:<ns>", "eof-block:<ns>" or, for a document,
    its namespace."""
    pos = 4
    namespace = None
    stage = "header"
    while pos < len(data):
        (length,) = struct.unpack_from("<i", data, pos)
        if length == -1:
            yield "terminator", pos, 4
            pos += 4
            namespace, stage = None, "body"
            continue
        if stage == "header":
            yield "header", pos, length
            stage = "prelude"
        elif stage == "prelude":
            yield "prelude", pos, length
        elif namespace is None:
            fields = bson.decode(data[pos : pos + length])
            name = f"{fields['db']}.{fields['collection']}"
            yield ("eof-block:" if fields["EOF"] else "ns-header:") + name, pos, length
            namespace = name
        else:
            yield namespace, pos, length
        pos += length


def first(data: bytes, what: str) -> tuple[int, int]:
    return next(
        (pos, length)
        for kind, pos, length in blocks(data)
        if kind == what or kind.startswith(what + ":")
    )


def flipped(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x5A]) + data[at + 1 :]


# -- real archives -------------------------------------------------------------------------


@pytest.mark.parametrize("path", [MULTI_DB, MULTI_DB_GZ])
def test_multi_db_archive_counts_namespaces_and_indexes(path: Path) -> None:
    with path.open("rb") as handle:
        summary = read_archive(handle)

    assert summary.counts == MULTI_DB_COUNTS
    assert all(stats.crc_ok for stats in summary.namespaces)
    assert {entry.namespace for entry in summary.prelude} == set(MULTI_DB_COUNTS)
    orders = next(entry for entry in summary.prelude if entry.namespace == "shop.orders")
    assert orders.indexes == ("_id_", "idx_orders_n", "idx_orders_when_n")
    assert orders.collection_type == "collection"
    assert summary.header.format_version == "0.1"
    assert summary.header.server_version == "7.0.0"
    assert summary.header.concurrent_collections == 4
    assert summary.bytes_read == MULTI_DB.stat().st_size
    assert summary.gzipped is (path == MULTI_DB_GZ)


def test_gzipped_and_plain_archives_read_alike() -> None:
    plain = read_bytes(MULTI_DB.read_bytes())
    zipped = read_bytes(MULTI_DB_GZ.read_bytes())

    assert (plain.header, plain.prelude, plain.namespaces, plain.bytes_read) == (
        zipped.header, zipped.prelude, zipped.namespaces, zipped.bytes_read,
    )  # fmt: skip


def test_bytes_per_namespace_add_up_to_the_documents() -> None:
    data = MULTI_DB.read_bytes()
    sizes: dict[str, int] = {}
    for kind, _, length in blocks(data):
        if kind in MULTI_DB_COUNTS:
            sizes[kind] = sizes.get(kind, 0) + length

    summary = read_bytes(data)

    assert {stats.namespace: stats.bytes for stats in summary.namespaces} == sizes


def test_single_collection_archive() -> None:
    summary = read_bytes(SHOP_USERS.read_bytes())

    assert summary.counts == {"shop.users": 200}
    assert [entry.indexes for entry in summary.prelude] == [("_id_",)]


def test_archive_with_oplog() -> None:
    summary = read_bytes((TOOLS / "mongorestore__dump-w-oplog.archive").read_bytes())

    assert summary.counts == {"test.foo": 25, "admin.system.version": 1, ".oplog": 18}
    assert [entry.namespace for entry in summary.prelude] == [
        "test.foo", ".oplog", "admin.system.version",
    ]  # fmt: skip
    assert summary.header.tool_version.startswith("r4.1.3")


def test_the_oplog_window_spans_every_entry() -> None:
    data = (TOOLS / "mongorestore__dump-w-oplog.archive").read_bytes()
    seen: list[Any] = []

    def visit(namespace: str, run: memoryview, count: int) -> None:
        if namespace == ".oplog":
            seen.extend(entry["ts"] for entry in bson.decode_all(bytes(run)))

    summary = read_archive(io.BytesIO(data), visit=visit)

    assert summary.oplog is not None
    assert summary.oplog.entries == len(seen) == 18
    assert summary.oplog.first_ts == OplogTimestamp(t=min(seen).time, i=min(seen).inc)
    assert summary.oplog.last_ts == OplogTimestamp(t=max(seen).time, i=max(seen).inc)
    assert summary.oplog.consistent_at == max(seen).as_datetime()
    assert read_bytes(SHOP_USERS.read_bytes()).oplog is None


def test_an_oplog_entry_without_a_timestamp_is_refused() -> None:
    data = bytearray((TOOLS / "mongorestore__dump-w-oplog.archive").read_bytes())
    # One entry's "ts" renamed "tx": the same size, so the walk reaches it and must
    # name the missing timestamp before its section's CRC mismatch.
    at = data.index(b"\x11ts\x00")
    data[at + 1 : at + 3] = b"tx"

    with pytest.raises(VerificationFailedError, match="no timestamp 'ts'"):
        read_bytes(bytes(data))


def test_old_archive_from_mongodump_3_4() -> None:
    summary = read_bytes((TOOLS / "mongorestore__test.bar.archive").read_bytes())

    assert summary.counts == {"test.bar": 1, "admin.system.version": 1}
    version = next(e for e in summary.prelude if e.namespace == "admin.system.version")
    assert version.indexes == ("_id_", "incompatible_with_version_32")
    assert version.collection_type is None


def test_timeseries_archive_counts_the_buckets() -> None:
    summary = read_bytes((TOOLS / "mongorestore__timeseries_tests_dump.archive").read_bytes())

    assert summary.counts == {
        "timeseries_test.system.buckets.foo_ts": 10,
        "admin.system.views": 0,
        "admin.system.version": 1,
    }
    ts = next(e for e in summary.prelude if e.namespace == "timeseries_test.foo_ts")
    assert ts.collection_type == "timeseries"
    assert ts.indexes == ("meta.device_1", "ts_1_meta.device_1")


def test_bad_format_archive_is_rejected_for_its_prelude_json() -> None:
    details = rejection((TOOLS / "mongorestore__bad-format.archive").read_bytes())

    assert "invalid prelude JSON" in str(details["reason"])
    assert "test.ixtest" in str(details["reason"])


@pytest.mark.parametrize(
    "path", [MULTI_DB, MULTI_DB_GZ, TOOLS / "mongorestore__dump-w-oplog.archive"]
)
def test_reads_in_tiny_pieces_give_the_same_result(path: Path) -> None:
    data = path.read_bytes()

    assert read_archive(Dribble(data)) == read_bytes(data)


@pytest.mark.parametrize("path", sorted(TOOLS.glob("bsondump__*.bson")), ids=lambda p: p.name)
def test_bare_bson_files_are_not_archives(path: Path) -> None:
    details = rejection(path.read_bytes())

    assert "bad magic" in str(details["reason"])
    assert details["offset"] == 0


# -- damage --------------------------------------------------------------------------------


def test_flipped_magic_is_rejected() -> None:
    details = rejection(flipped(SHOP_USERS.read_bytes(), 2))

    assert "bad magic" in str(details["reason"])


def test_flipped_byte_in_a_document_is_a_crc_mismatch_naming_its_namespace() -> None:
    data = MULTI_DB.read_bytes()
    pos, length = first(data, "shop.orders")
    eof_at, _ = first(data, "eof-block:shop.orders")

    details = rejection(flipped(data, pos + length // 2))

    assert "CRC mismatch" in str(details["reason"])
    assert "shop.orders" in str(details["reason"])
    assert details["offset"] == eof_at


@pytest.mark.parametrize("where", ["header", "prelude", "ns-header", "shop.users", "eof-block"])
@pytest.mark.parametrize("cut", ["start+2", "middle", "end-1"])
def test_truncation_anywhere_is_rejected(where: str, cut: str) -> None:
    data = MULTI_DB.read_bytes()
    pos, length = first(data, where)
    at = {"start+2": pos + 2, "middle": pos + length // 2, "end-1": pos + length - 1}[cut]

    details = rejection(data[:at])

    assert str(details["reason"]).startswith("truncated")
    assert details["offset"] <= at


@pytest.mark.parametrize("keep", [0, 1, 2, 3])
def test_archive_cut_between_blocks_names_the_unfinished_namespaces(keep: int) -> None:
    data = MULTI_DB.read_bytes()
    ends = [p + 4 for kind, p, _ in blocks(data) if kind == "terminator"]
    # ends[0] closes the prelude; every later terminator ends a segment or a collection.
    cut = [ends[0], ends[1], ends[len(ends) // 2], ends[-2]][keep]

    details = rejection(data[:cut])

    assert str(details["reason"]).startswith("truncated: the archive ended before the end of")
    assert details["offset"] == cut


@pytest.mark.parametrize(
    ("data", "reason", "offset"),
    [(b"", "bad magic number", 0), (MAGIC[:3], "bad magic number", 0),
     (MAGIC, "truncated before the archive header", 4)],
    ids=["empty", "part-of-the-magic", "the-magic-alone"],
)  # fmt: skip
def test_very_short_streams_are_rejected_saying_why(data: bytes, reason: str, offset: int) -> None:
    details = rejection(data)

    assert reason in str(details["reason"])
    assert details["offset"] == offset


def test_appended_garbage_is_rejected() -> None:
    data = SHOP_USERS.read_bytes()

    details = rejection(data + b"\x00garbage after the end")

    assert "trailing data" in str(details["reason"])
    assert details["offset"] == len(data)


def test_appended_copy_of_a_collection_is_rejected() -> None:
    data = SHOP_USERS.read_bytes()
    pos, length = first(data, "eof-block")

    details = rejection(data + data[pos : pos + length] + TERMINATOR)

    assert "trailing data" in str(details["reason"])


@pytest.mark.parametrize("length", [0, 4, -2, 16 * 1024 * 1024 + 16 * 1024 + 1, 2**31 - 1])
def test_impossible_document_length_is_rejected(length: int) -> None:
    data = MULTI_DB.read_bytes()
    pos, _ = first(data, "analytics.events_2025")

    details = rejection(data[:pos] + struct.pack("<i", length) + data[pos + 4 :])

    assert details["reason"] == f"impossible BSON length {length}"
    assert details["offset"] == pos


def test_document_without_its_trailing_nul_is_rejected() -> None:
    data = MULTI_DB.read_bytes()
    pos, length = first(data, "shop.users")

    details = rejection(data[: pos + length - 1] + b"\x01" + data[pos + length :])

    assert "does not end with its 0x00" in str(details["reason"])
    assert details["offset"] == pos


def test_missing_terminator_after_an_end_block_is_rejected() -> None:
    data = SHOP_USERS.read_bytes()
    pos, length = first(data, "eof-block")

    details = rejection(data[: pos + length] + b"\x00\x00\x00\x00")

    assert "missing terminator" in str(details["reason"])


def test_namespace_not_in_the_prelude_is_rejected() -> None:
    data = SHOP_USERS.read_bytes()
    pos, _ = first(data, "eof-block")
    header = bson.encode({"db": "shop", "collection": "ghost", "EOF": True,
                          "CRC": bson.int64.Int64(0)})  # fmt: skip

    details = rejection(data[:pos] + header + TERMINATOR + data[pos:])

    assert "'shop.ghost' is not announced in the prelude" in str(details["reason"])


def test_corrupt_gzip_is_rejected() -> None:
    data = MULTI_DB_GZ.read_bytes()

    bad_crc32 = rejection(flipped(data, len(data) - 6))
    truncated = rejection(data[: len(data) // 2])
    trailing = rejection(data + b"junk")

    assert "corrupt gzip data" in str(bad_crc32["reason"])
    assert 0 < bad_crc32["offset"] <= MULTI_DB.stat().st_size
    assert truncated["reason"] == "the gzip stream is truncated"
    assert trailing["reason"] == "trailing data after the gzip stream"


def test_gzip_in_several_members_is_read_whole() -> None:
    data = MULTI_DB.read_bytes()
    half = len(data) // 2

    summary = read_bytes(gzip.compress(data[:half]) + gzip.compress(data[half:]))

    assert summary.counts == MULTI_DB_COUNTS


MUTATION = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 2**31), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 2**31), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 2**31), st.integers(0, 255)),
)


@settings(max_examples=200, deadline=None)
@given(
    source=st.sampled_from([SHOP_USERS, TOOLS / "mongorestore__dump-w-oplog.archive",
                            TOOLS / "mongorestore__test.bar.archive", MULTI_DB_GZ]),
    mutations=st.lists(MUTATION, min_size=1, max_size=4),
)  # fmt: skip
def test_random_damage_gives_a_result_or_a_verification_error(
    source: Path, mutations: list[tuple[str, int, int]]
) -> None:
    data = bytearray(source.read_bytes())
    for kind, where, value in mutations:
        at = where % (len(data) + 1)
        if kind == "flip" and at < len(data):
            data[at] ^= value
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = bytes([value])

    result = outcome(bytes(data))

    if isinstance(result, VerificationFailedError):
        assert {"offset", "reason"} <= set(result.details)
    else:
        assert result.bytes_read > 4


# -- size ----------------------------------------------------------------------------------

MiB = 1024 * 1024


def synthetic_archive(segments: list[tuple[str, bytes, int]]) -> Iterator[bytes]:
    """Yields a valid archive lazily: each segment is (namespace, document, repeats)."""
    names = list(dict.fromkeys(ns for ns, _, _ in segments))
    yield MAGIC + bson.encode({"concurrent_collections": 1, "version": "0.1",
                               "server_version": "test", "tool_version": "test"})  # fmt: skip
    for ns in names:
        db, _, coll = ns.partition(".")
        yield bson.encode({"db": db, "collection": coll, "metadata": "", "size": 0})
    yield TERMINATOR
    crcs = dict.fromkeys(names, 0)
    for ns, document, repeats in segments:
        db, _, coll = ns.partition(".")
        yield bson.encode({"db": db, "collection": coll, "EOF": False, "CRC": bson.int64.Int64(0)})
        batch = max(1, MiB // max(len(document), 1))
        run = document * min(repeats, batch)
        for start in range(0, repeats, batch):
            piece = run[: len(document) * min(batch, repeats - start)]
            crcs[ns] = crc64.xz(piece, initial=crcs[ns])
            yield piece
        yield TERMINATOR
    for ns in names:
        db, _, coll = ns.partition(".")
        crc = crcs[ns] - (1 << 64) if crcs[ns] >= 1 << 63 else crcs[ns]
        yield bson.encode({"db": db, "collection": coll, "EOF": True, "CRC": bson.int64.Int64(crc)})
        yield TERMINATOR


class ChunkStream:
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")

    def read(self, size: int, /) -> bytes:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._pending = memoryview(chunk)
        out, self._pending = self._pending[:size], self._pending[size:]
        return bytes(out)


def test_large_archive_streams_in_bounded_memory() -> None:
    small = bson.encode({"n": 1, "text": "x" * 200})
    huge = bson.encode({"blob": b"\x01" * (15 * MiB)})
    segments = [("a.small", small, 300_000), ("b.huge", huge, 3), ("a.small", small, 300_000),
                ("c.empty", b"", 0)]  # fmt: skip
    expected_bytes = sum(len(doc) * n for _, doc, n in segments)

    tracemalloc.start()
    try:
        summary = read_archive(ChunkStream(synthetic_archive(segments)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert summary.counts == {"a.small": 600_000, "b.huge": 3, "c.empty": 0}
    assert summary.bytes_read > expected_bytes > 170 * MiB
    # One huge document, a read chunk and the source's own chunk: far below the 170 MiB read.
    assert peak < 40 * MiB, peak
