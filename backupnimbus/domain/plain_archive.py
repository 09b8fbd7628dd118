"""The archive itself, out of whatever compression it is stored in.

Verify, restore and drills read gzip (mongodump's `--gzip`, or ours), zstd or plain archives;
the algorithm comes from the manifest when there is one, else from the first bytes (a local
file). Decompression is the StreamCompressor's, the fast library's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from backupnimbus.domain.archive import MAGIC
from backupnimbus.domain.gunzip import GZIP_MAGIC
from backupnimbus.errors import VerificationFailedError
from backupnimbus.ports.compressor import GZIP, NONE, ZSTD, StreamCompressor
from backupnimbus.ports.object_store import Readable

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_MAGICS = ((GZIP_MAGIC, GZIP), (ZSTD_MAGIC, ZSTD), (MAGIC, NONE))


class PeekingReader:
    """Lets the first bytes of a stream be looked at before they are read."""

    def __init__(self, source: Readable) -> None:
        self._source = source
        self._head = b""

    def peek(self, size: int) -> bytes:
        while len(self._head) < size and (more := self._source.read(size - len(self._head))):
            self._head += more
        return self._head[:size]

    def read(self, size: int, /) -> bytes:
        if self._head:
            chunk, self._head = self._head[:size], self._head[size:]
            return chunk
        return self._source.read(size)


def sniff_compression(head: bytes) -> str | None:
    """Returns: GZIP, ZSTD or NONE from an archive's first four bytes; None for neither."""
    for magic, algorithm in _MAGICS:
        if head.startswith(magic):
            return algorithm
    return None


@contextlib.contextmanager
def plain_archive(
    stream: Readable, *, compressor: StreamCompressor, label: str, algorithm: str | None = None
) -> Iterator[Readable]:
    """Yields `stream` decompressed, by `algorithm` (a manifest's) or by its magic number.

    Raises: VerificationFailedError when the bytes are neither a compressed nor a plain archive.
    """
    peeking = PeekingReader(stream)
    if algorithm is None:
        head = peeking.peek(4)
        algorithm = sniff_compression(head)
        if algorithm is None:
            raise VerificationFailedError(
                f"{label} is not a mongodump archive: it starts with neither gzip's magic "
                "(1f 8b), zstd's (28 b5 2f fd) nor the archive's (6d e2 99 81)",
                details={"file": label, "first_bytes": head.hex()},
            )
    with compressor.decompressing(peeking, algorithm=algorithm, label=label) as plain:
        yield plain
