from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

import attrs

from backupnimbus.ports.object_store import Readable

GZIP = "gzip"
ZSTD = "zstd"
NONE = "none"
ALGORITHMS = (GZIP, ZSTD, NONE)
SUFFIXES = {GZIP: ".gz", ZSTD: ".zst", NONE: ""}
"""What each algorithm adds to an archive's key after `.archive`."""
LEVELS = {GZIP: range(0, 4), ZSTD: range(1, 20), NONE: range(0)}
"""The levels each algorithm accepts: ISA-L's 0-3 for gzip, zstd's 1-19."""
DEFAULT_LEVELS: dict[str, int | None] = {GZIP: 2, ZSTD: 3, NONE: None}
"""Chosen by `make bench` (docs/benchmarks.md): speed first, at a size close to mongodump's."""


@attrs.frozen
class Compression:
    """How an archive is compressed before it is encrypted and stored."""

    algorithm: str = GZIP
    """GZIP (a standard gzip stream: `gunzip` and `mongorestore --gzip` read it), ZSTD or
    NONE."""
    level: int | None = None
    """The algorithm's level; None for NONE."""

    @property
    def suffix(self) -> str:
        return SUFFIXES[self.algorithm]


class StreamCompressor(Protocol):
    """Compression of archives as streams, so that no archive has to fit in memory."""

    def compressing(
        self, stream: Readable, *, compression: Compression
    ) -> AbstractContextManager[Readable]:
        """Compresses `stream` while it is read.

        Returns: a context manager yielding the compressed stream, which ends only after
        `stream` ended and the compressed form is complete. An exception that `stream` raises
        is raised unchanged by the compressed stream's `read`.
        """
        ...

    def decompressing(
        self, stream: Readable, *, algorithm: str, label: str
    ) -> AbstractContextManager[Readable]:
        """Decompresses `stream`, compressed with `algorithm`, while it is read.

        Returns: a context manager yielding the plain stream. Its `read` raises
        `VerificationFailedError` (naming `label`) for data that is damaged or truncated, and an
        exception from `stream` unchanged.
        """
        ...
