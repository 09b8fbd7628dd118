"""A streaming mongodump-archive reader (docs/architecture.md): checks structure and every CRC.

It walks the int32 lengths instead of decoding documents, so it keeps pace with hashing, and it
holds at most one read chunk plus one document in memory whatever the archive's size.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any, NoReturn

import attrs

# fastcrc is the one compiled dependency of the domain: a pure-Python CRC-64 loop runs at a few
# MB/s, which would make verifying a real backup take hours.
from fastcrc import crc64

from backupnimbus.domain.bson_elements import (
    MAX_BSON_SIZE,
    BsonShapeError,
    element_value,
    find_element,
    parse_flat_document,
    skip_documents,
)
from backupnimbus.domain.gunzip import GZIP_MAGIC, Gunzip, GzipCorruptError
from backupnimbus.domain.oplog import OPLOG_NAMESPACE, OplogTimestamp, OplogWindow
from backupnimbus.errors import VerificationFailedError
from backupnimbus.ports.object_store import Readable

MAGIC = b"\x6d\xe2\x99\x81"
AGE_MAGIC = b"age-encryption.org/"
CHUNK = 1024 * 1024

_TERMINATOR = -1
_UINT64 = 0xFFFF_FFFF_FFFF_FFFF
_I32 = struct.Struct("<i")


def age_encrypted(head: bytes) -> bool:
    """Whether bytes starting with `head` (at least `len(AGE_MAGIC)` of them, unless the data
    is shorter) are an age file, by its header."""
    return head.startswith(AGE_MAGIC)


DocumentVisitor = Callable[[str, memoryview, int], None]
"""Called with a namespace, a run of its whole BSON documents back to back, and how many."""


@attrs.frozen
class ArchiveHeader:
    format_version: str
    """The archive format, "0.1" for every mongodump so far."""
    server_version: str
    """The version of the server that was dumped."""
    tool_version: str
    """The version of the mongodump that wrote the archive."""
    concurrent_collections: int
    """How many collections mongodump interleaved at once."""


@attrs.frozen
class PreludeEntry:
    """A collection the archive announces before its data."""

    namespace: str
    """"db.collection"; the oplog is ".oplog"."""
    collection_type: str | None
    """"collection", "view", "timeseries", ... or None in archives older than mongodump 100."""
    indexes: tuple[str, ...]
    """The index names in the collection's metadata."""
    index_definitions: tuple[str, ...] = attrs.field(default=(), eq=False, repr=False)
    """Each index's definition as the metadata holds it (canonical extended JSON), in order."""


@attrs.frozen
class NamespaceStats:
    """What the archive holds for one namespace, all of it checked."""

    namespace: str
    documents: int
    """How many BSON documents the archive holds for it."""
    bytes: int
    """Their total size, without the archive's framing."""
    crc_ok: bool
    """The CRC-64 in its end-of-collection block matched its documents; always True in a
    returned summary, because `read_archive` raises on a mismatch."""


@attrs.frozen
class ArchiveSummary:
    header: ArchiveHeader
    prelude: tuple[PreludeEntry, ...]
    """In the archive's order."""
    namespaces: tuple[NamespaceStats, ...]
    """Every namespace with data in the archive, in the order their data began."""
    bytes_read: int
    """Size of the archive itself, after gunzip when it was gzipped."""
    gzipped: bool
    oplog: OplogWindow | None = None
    """The oplog section of a `mongodump --oplog` archive; None when it has none."""

    @property
    def counts(self) -> dict[str, int]:
        """Returns: document count per namespace."""
        return {stats.namespace: stats.documents for stats in self.namespaces}


def read_archive(source: Readable, *, visit: DocumentVisitor | None = None) -> ArchiveSummary:
    """Reads `source` to its end once, gunzipping it when it starts with the gzip magic.

    `visit`, when given, sees every document (in runs, valid only during the call), for a
    caller that needs more than counts.

    Raises:
        VerificationFailedError: the bytes are not one complete, intact archive; `details` holds
            the offset in the (uncompressed) archive and the reason.
    """
    return _ArchiveWalk(source, visit=visit).run()


def read_prelude(source: Readable) -> tuple[PreludeEntry, ...]:
    """Reads only the archive's header and prelude: the collections it announces, before any
    of their data. Raises VerificationFailedError as `read_archive` does."""
    return tuple(_ArchiveWalk(source).prelude()[1])


class _Tally:
    __slots__ = ("closed", "crc", "documents", "size")

    def __init__(self) -> None:
        self.documents = 0
        self.size = 0
        self.crc = 0
        self.closed = False


class _ArchiveWalk:
    """One pass over one archive. `_buf[_pos:_end]` holds read but unconsumed bytes, and
    `_base` is the archive offset of `_buf[0]`."""

    def __init__(self, source: Readable, *, visit: DocumentVisitor | None = None) -> None:
        self._visit = visit
        self._raw = source
        self._source: Readable = source
        self._gzipped = False
        self._buf = bytearray(CHUNK)
        self._pos = 0
        self._end = 0
        self._base = 0
        self._eof = False
        self._oplog_first: OplogTimestamp | None = None
        self._oplog_last: OplogTimestamp | None = None

    # -- the archive's grammar -------------------------------------------------------------

    def run(self) -> ArchiveSummary:
        header, prelude = self.prelude()
        tallies = self._body(_expected_namespaces(prelude))
        oplog = tallies.get(OPLOG_NAMESPACE)
        return ArchiveSummary(
            header=header,
            prelude=tuple(prelude),
            namespaces=tuple(
                NamespaceStats(namespace=ns, documents=t.documents, bytes=t.size, crc_ok=True)
                for ns, t in tallies.items()
            ),
            bytes_read=self._base + self._pos,
            gzipped=self._gzipped,
            oplog=None
            if oplog is None
            else OplogWindow(
                entries=oplog.documents, first_ts=self._oplog_first, last_ts=self._oplog_last
            ),
        )

    def prelude(self) -> tuple[ArchiveHeader, list[PreludeEntry]]:
        self._open()
        if not self._want(4) or self._buf[0:4] != MAGIC:
            if self._want(len(AGE_MAGIC)) and self._buf.startswith(AGE_MAGIC):
                self._fail("the data is age-encrypted: it must be decrypted before it is read")
            self._fail("not a mongodump archive (bad magic number)", at=0)
        self._pos = 4
        header = self._header(self._control("the archive header"))
        prelude: list[PreludeEntry] = []
        while True:
            at = self._offset
            entry = self._control("a prelude entry", terminator=True)
            if entry is None:
                break
            prelude.append(self._prelude_entry(entry, at))
        return header, prelude

    def _body(self, expected: set[str]) -> dict[str, _Tally]:
        tallies: dict[str, _Tally] = {}
        unfinished = set(expected)
        while True:
            if not self._want(1):
                break
            if not unfinished:
                self._fail("trailing data after the last collection's end block")
            at = self._offset
            fields = self._control("a namespace header")
            assert fields is not None
            namespace = _namespace(fields, "namespace header", at)
            if namespace not in expected:
                self._fail(f"namespace {namespace!r} is not announced in the prelude", at=at)
            tally = tallies.setdefault(namespace, _Tally())
            if tally.closed:
                self._fail(f"namespace {namespace!r} continues after its end block", at=at)
            if fields.get("EOF") is True:
                self._end_of_collection(namespace, tally, fields, at)
                unfinished.discard(namespace)
            else:
                self._documents(tally, namespace)
        if unfinished:
            names = sorted(unfinished)
            missing = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if names[5:] else "")
            self._fail(f"truncated: the archive ended before the end of {missing}")
        return tallies

    def _end_of_collection(
        self, namespace: str, tally: _Tally, fields: dict[str, Any], at: int
    ) -> None:
        stored = fields.get("CRC")
        if not isinstance(stored, int) or isinstance(stored, bool):
            self._fail(f"the end block of {namespace!r} has no CRC", at=at)
        if stored & _UINT64 != tally.crc:
            self._fail(
                f"CRC mismatch in namespace {namespace!r}: the archive says "
                f"{stored & _UINT64:016x}, its documents give {tally.crc:016x}",
                at=at,
            )
        tally.closed = True
        if not self._want(4):
            self._fail("truncated after an end-of-collection block")
        if _I32.unpack_from(self._buf, self._pos)[0] != _TERMINATOR:
            self._fail(f"missing terminator after the end block of {namespace!r}")
        self._pos += 4

    def _documents(self, tally: _Tally, namespace: str) -> None:
        """Consumes one segment's documents and its terminator, adding them to `tally`."""
        while True:
            start = self._pos
            pos, count = skip_documents(self._buf, start, self._end)
            if pos > start:
                with memoryview(self._buf) as view:
                    tally.crc = crc64.xz(view[start:pos], initial=tally.crc)
                    if self._visit is not None:
                        self._visit(namespace, view[start:pos], count)
                    if namespace == OPLOG_NAMESPACE:
                        self._oplog_entries(view[start:pos])
                tally.size += pos - start
                tally.documents += count
            self._pos = pos
            if not self._want(4):
                self._fail("truncated in the middle of a collection's documents")
            length = _I32.unpack_from(self._buf, self._pos)[0]
            if length == _TERMINATOR:
                self._pos += 4
                return
            self._check_length(length)
            if not self._want(length):
                self._fail("truncated in the middle of a document")
            if self._buf[self._pos + length - 1] != 0:
                self._fail("a BSON document does not end with its 0x00 terminator")

    def _oplog_entries(self, run: memoryview) -> None:
        """Widens the oplog's window by each entry's `ts` (the oplog is small next to the data:
        its entries are the only documents the walk looks into)."""
        pos = 0
        while pos < len(run):
            length = _I32.unpack_from(run, pos)[0]
            try:
                element = find_element(run[pos : pos + length], "ts")
            except BsonShapeError as exc:
                self._fail(f"an oplog entry is not valid BSON ({exc})")
            if element is None or element[0] != 0x11:
                self._fail("an oplog entry has no timestamp 'ts'")
            ts = OplogTimestamp.from_bson(element_value(element))
            if self._oplog_first is None or ts < self._oplog_first:
                self._oplog_first = ts
            if self._oplog_last is None or ts > self._oplog_last:
                self._oplog_last = ts
            pos += length

    def _control(self, what: str, *, terminator: bool = False) -> dict[str, Any] | None:
        """Reads one small BSON document; None for the 0xFFFFFFFF terminator when allowed."""
        if not self._want(4):
            self._fail(f"truncated before {what}")
        length = _I32.unpack_from(self._buf, self._pos)[0]
        if length == _TERMINATOR:
            if not terminator:
                self._fail(f"terminator where {what} should be")
            self._pos += 4
            return None
        self._check_length(length)
        if not self._want(length):
            self._fail(f"truncated in {what}")
        if self._buf[self._pos + length - 1] != 0:
            self._fail(f"{what} does not end with its 0x00 terminator")
        document = bytes(self._buf[self._pos : self._pos + length])
        try:
            fields = parse_flat_document(document)
        except (ValueError, IndexError, struct.error) as exc:
            self._fail(f"{what} is not valid BSON ({exc or 'truncated field'})")
        self._pos += length
        return fields

    def _header(self, fields: dict[str, Any] | None) -> ArchiveHeader:
        assert fields is not None
        concurrent = fields.get("concurrent_collections", 0)
        return ArchiveHeader(
            format_version=str(fields.get("version", "")),
            server_version=str(fields.get("server_version", "")),
            tool_version=str(fields.get("tool_version", "")),
            concurrent_collections=concurrent if isinstance(concurrent, int) else 0,
        )

    def _prelude_entry(self, fields: dict[str, Any], at: int) -> PreludeEntry:
        namespace = _namespace(fields, "prelude entry", at)
        raw = fields.get("metadata", "")
        if not isinstance(raw, str):
            self._fail(f"invalid prelude entry for {namespace!r}: metadata is not a string", at=at)
        try:
            # The oplog's entry carries an empty string rather than a JSON document.
            metadata = json.loads(raw) if raw else {}
        except (ValueError, RecursionError) as exc:
            self._fail(f"invalid prelude JSON for {namespace!r}: {exc}", at=at)
        indexes = metadata.get("indexes", []) if isinstance(metadata, dict) else None
        if not isinstance(indexes, list) or not all(
            isinstance(index, dict) and isinstance(index.get("name"), str) for index in indexes
        ):
            self._fail(
                f"invalid prelude JSON for {namespace!r}: not a collection's metadata", at=at
            )
        kind = fields.get("type", metadata.get("type"))
        return PreludeEntry(
            namespace=namespace,
            collection_type=kind if isinstance(kind, str) else None,
            indexes=tuple(index["name"] for index in indexes),
            index_definitions=tuple(json.dumps(index) for index in indexes),
        )

    def _check_length(self, length: int) -> None:
        if length < 5 or length > MAX_BSON_SIZE:
            self._fail(f"impossible BSON length {length}")

    def _fail(self, reason: str, *, at: int | None = None) -> NoReturn:
        offset = self._offset if at is None else at
        raise VerificationFailedError(
            f"Invalid archive at byte {offset}: {reason}",
            details={"offset": offset, "reason": reason},
        )

    # -- bytes -----------------------------------------------------------------------------

    @property
    def _offset(self) -> int:
        return self._base + self._pos

    def _open(self) -> None:
        head = b""
        while len(head) < len(GZIP_MAGIC) and (more := self._raw.read(CHUNK)):
            head += more
        if head.startswith(GZIP_MAGIC):
            self._gzipped = True
            self._source = Gunzip(self._raw, head)
            return
        self._grow(len(head))
        self._buf[0 : len(head)] = head
        self._end = len(head)

    def _want(self, count: int) -> bool:
        """Makes `count` bytes available from `_pos`; False when the archive ends first."""
        if self._end - self._pos >= count:
            return True
        if self._pos:
            kept = self._end - self._pos
            with memoryview(self._buf) as view:
                view[0:kept] = view[self._pos : self._end]  # a memmove, without a temporary
            self._base += self._pos
            self._pos, self._end = 0, kept
        self._grow(count)
        while self._end < count and not self._eof:
            self._fill()
        return self._end >= count

    def _fill(self) -> None:
        room = min(len(self._buf) - self._end, CHUNK)
        try:
            data = self._source.read(room)
        except GzipCorruptError as exc:
            self._fail(str(exc), at=self._base + self._end)
        if not data:
            self._eof = True
            return
        if len(data) > room:
            self._fail("the source returned more bytes than asked for", at=self._base + self._end)
        self._buf[self._end : self._end + len(data)] = data
        self._end += len(data)

    def _grow(self, count: int) -> None:
        """Makes room for `count` bytes plus a read; only a document over 1 MiB needs it."""
        wanted = count + CHUNK
        if len(self._buf) < wanted:
            bigger = bytearray(wanted)
            with memoryview(self._buf) as view:
                bigger[0 : self._end] = view[0 : self._end]
            self._buf = bigger


def _namespace(fields: dict[str, Any], what: str, at: int) -> str:
    db, collection = fields.get("db"), fields.get("collection")
    if not isinstance(db, str) or not isinstance(collection, str) or not collection:
        reason = f"the {what} has no db and collection names"
        raise VerificationFailedError(
            f"Invalid archive at byte {at}: {reason}", details={"offset": at, "reason": reason}
        )
    return f"{db}.{collection}"


def _expected_namespaces(prelude: list[PreludeEntry]) -> set[str]:
    """The namespaces whose end blocks must appear; a time-series collection is a view whose
    documents are dumped from its buckets collection."""
    expected = set()
    for entry in prelude:
        if entry.collection_type == "timeseries":
            db, _, name = entry.namespace.partition(".")
            expected.add(f"{db}.system.buckets.{name}")
        else:
            expected.add(entry.namespace)
    return expected
