"""A seeded random sample of each collection's documents, taken from the archive while it
streams into the restore tool, so that a drill downloads the archive for its restore only once.
"""

from __future__ import annotations

import hashlib
import math
import queue
import random
import struct
import threading
from collections.abc import Collection, Mapping

import attrs

from backupnimbus.domain.archive import read_archive
from backupnimbus.domain.bson_elements import BsonShapeError, find_element
from backupnimbus.ports.archive_restorer import ArchiveRestorer, RestoreOptions, RestoreReport
from backupnimbus.ports.object_store import Readable

_I32 = struct.Struct("<i")
_QUEUE_CHUNKS = 4
"""Chunks in flight between the restore and the sampling walk: a few MiB at most."""


@attrs.frozen
class SampledDocument:
    id_element: bytes
    """The document's `_id` element, exactly as the archive holds it."""
    sha256: str
    """Hex digest of the whole document's bytes in the archive."""


class _Reservoir:
    """Vitter's Algorithm L: a uniform sample of `size` from a stream of unknown length, drawing
    random numbers only for the documents it takes, not for every document."""

    def __init__(self, size: int, rng: random.Random) -> None:
        self.size = size
        self.rng = rng
        self.taken: list[SampledDocument] = []
        self.seen = 0
        self.next = 0
        self.weight = 1.0

    def offer(self, run: memoryview, count: int) -> None:
        index, offset, end = self.seen, 0, self.seen + count
        while self.next < end:
            while index < self.next:
                offset += _I32.unpack_from(run, offset)[0]
                index += 1
            length = _I32.unpack_from(run, offset)[0]
            self._take(run[offset : offset + length])
            self._advance()
        self.seen = end

    def _take(self, document: memoryview) -> None:
        try:
            element = find_element(document, "_id")
        except BsonShapeError:
            element = None
        if element is None:
            return  # nothing to read it back by
        sampled = SampledDocument(id_element=element, sha256=hashlib.sha256(document).hexdigest())
        if len(self.taken) < self.size:
            self.taken.append(sampled)
        else:
            self.taken[self.rng.randrange(self.size)] = sampled

    def _advance(self) -> None:
        if self.next + 1 < self.size:
            self.next += 1
            return
        self.weight *= math.exp(math.log(self._uniform()) / self.size)
        gap = math.log(self._uniform()) / math.log1p(-min(self.weight, 1 - 1e-12))
        self.next += int(gap) + 1

    def _uniform(self) -> float:
        return 1.0 - self.rng.random()  # (0, 1]: its logarithm is finite


class DocumentSample:
    """Up to `size` documents of each namespace, the same ones for the same seed and archive."""

    def __init__(self, *, size: int, seed: int, skip: Collection[str] = ()) -> None:
        self.size = size
        self.seed = seed
        self._skip = set(skip)
        self._reservoirs: dict[str, _Reservoir] = {}

    def visit(self, namespace: str, run: memoryview, count: int) -> None:
        if self.size <= 0 or namespace.startswith(".") or namespace in self._skip:
            return
        reservoir = self._reservoirs.get(namespace)
        if reservoir is None:
            rng = random.Random(f"{self.seed}/{namespace}")
            reservoir = self._reservoirs[namespace] = _Reservoir(self.size, rng)
        reservoir.offer(run, count)

    def picks(self) -> Mapping[str, tuple[SampledDocument, ...]]:
        return {ns: tuple(r.taken) for ns, r in sorted(self._reservoirs.items())}


@attrs.frozen
class SamplingRestorer:
    """An ArchiveRestorer that samples the archive it is given on the way to `inner`."""

    inner: ArchiveRestorer
    sample: DocumentSample
    walked: list[BaseException | None] = attrs.field(factory=list)
    """After a restore: [None] when the sampling walk read the whole archive, else [why not]."""

    def restore(
        self, *, stream: Readable, compressed: bool, options: RestoreOptions
    ) -> RestoreReport:
        tee = _Tee(stream, self.sample)
        try:
            return self.inner.restore(stream=tee, compressed=compressed, options=options)
        finally:
            self.walked.append(tee.finish())

    def existing(self, namespaces: Collection[str]) -> tuple[str, ...]:
        return self.inner.existing(namespaces)


class _Tee:
    """Passes the archive through, and hands each chunk to a walk in a thread of its own."""

    def __init__(self, source: Readable, sample: DocumentSample) -> None:
        self._source = source
        self._chunks: queue.Queue[bytes] = queue.Queue(maxsize=_QUEUE_CHUNKS)
        self._ended = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._walk, args=(sample,), name="drill-sample", daemon=True
        )
        self._thread.start()

    def read(self, size: int, /) -> bytes:
        chunk = self._source.read(size)
        if not self._ended:
            self._chunks.put(chunk)
            self._ended = not chunk
        return chunk

    def finish(self) -> BaseException | None:
        if not self._ended:
            self._ended = True
            self._chunks.put(b"")
        self._thread.join()
        return self._error

    def _walk(self, sample: DocumentSample) -> None:
        reader = _QueueReader(self._chunks)
        try:
            read_archive(reader, visit=sample.visit)
            if reader.read(1):
                raise ValueError("data after the archive's end")
        except BaseException as exc:  # reported by finish(); the restore goes on regardless
            self._error = exc
        finally:
            reader.drain()


class _QueueReader:
    def __init__(self, chunks: queue.Queue[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""
        self._ended = False

    def read(self, size: int, /) -> bytes:
        while not self._pending and not self._ended:
            self._pending = self._chunks.get()
            self._ended = not self._pending
        chunk, self._pending = self._pending[:size], self._pending[size:]
        return chunk

    def drain(self) -> None:
        """Takes what is still to come, so the restore never waits on a walk that stopped."""
        while not self._ended:
            self._ended = not self._chunks.get()
