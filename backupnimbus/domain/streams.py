from __future__ import annotations

import hashlib

from backupnimbus.ports.object_store import Readable

_DRAIN_CHUNK = 1024 * 1024


def drain(stream: Readable) -> None:
    """Reads `stream` to its end, discarding it: what a check that only needs a stream consumed
    (its hash taken, its trailer checked by the layers above) does with it."""
    while stream.read(_DRAIN_CHUNK):
        pass


class DigestingReader:
    """Passes a stream through while counting its bytes and hashing them with SHA-256."""

    def __init__(self, source: Readable) -> None:
        self._source = source
        self._sha256 = hashlib.sha256()
        self.size = 0

    def read(self, size: int, /) -> bytes:
        chunk = self._source.read(size)
        self._sha256.update(chunk)
        self.size += len(chunk)
        return chunk

    def hexdigest(self) -> str:
        return self._sha256.hexdigest()
