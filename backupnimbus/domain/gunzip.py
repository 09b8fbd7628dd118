"""Inflating a gzip stream of one or more members, pulled with read(n), by ISA-L.

ISA-L's inflate (through `isal`) is a drop-in for zlib's at several times its speed; verify and
restore read every byte of a backup through it.
"""

from __future__ import annotations

from typing import cast

from isal import isal_zlib

from backupnimbus.ports.object_store import Readable

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1024 * 1024
_INFLATE_ERROR = cast(type[Exception], isal_zlib.error)


class GzipCorruptError(ValueError):
    """The gzip stream is damaged or truncated; the message says how."""


class Gunzip:
    """read(n) over a gzip stream, one member after another, never inflating more than n
    bytes. `head` holds bytes already read from `source`."""

    def __init__(self, source: Readable, head: bytes = b"") -> None:
        self._source = source
        self._input = head
        self._inflate = isal_zlib.decompressobj(16 + isal_zlib.MAX_WBITS)

    def read(self, size: int, /) -> bytes:
        while True:
            if self._inflate.eof and not self._next_member():
                return b""
            data = self._inflate.unconsumed_tail or self._input or self._source.read(CHUNK)
            self._input = b""
            if not data:
                raise GzipCorruptError("the gzip stream is truncated")
            try:
                out = self._inflate.decompress(data, size)
            except _INFLATE_ERROR as exc:
                raise GzipCorruptError(f"corrupt gzip data ({exc})") from None
            if out:
                return out

    def _next_member(self) -> bool:
        rest = self._inflate.unused_data
        while len(rest) < len(GZIP_MAGIC):
            more = self._source.read(CHUNK)
            if not more:
                if rest:
                    raise GzipCorruptError("trailing data after the gzip stream")
                return False
            rest += more
        if not rest.startswith(GZIP_MAGIC):
            raise GzipCorruptError("trailing data after the gzip stream")
        self._inflate = isal_zlib.decompressobj(16 + isal_zlib.MAX_WBITS)
        self._input = rest
        return True
