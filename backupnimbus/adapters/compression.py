"""StreamCompressor on ISA-L (gzip, through `isal`) and zstandard, with threads.

Why these libraries: mongodump's own `--gzip` is Go's compress/gzip on one goroutine, about
30 MB/s, which caps every backup; ISA-L's deflate with two threads runs at hundreds of MB/s and
still writes a standard gzip stream (multi-member is standard too: `gunzip` and
`mongorestore --gzip` read it), and zstandard's multi-threaded compressor gives a better ratio at
a similar speed. Both release the GIL while they work.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import IO, Any, cast

import zstandard
from isal import igzip_threaded

from backupnimbus.adapters.stream_pump import StreamPump
from backupnimbus.domain.gunzip import Gunzip, GzipCorruptError
from backupnimbus.errors import BackupNimbusError, VerificationFailedError
from backupnimbus.ports.compressor import GZIP, NONE, ZSTD, Compression
from backupnimbus.ports.object_store import Readable

CHUNK = 1024 * 1024
_ZSTD_JOB_BYTES = 1024 * 1024
# Blocks of 256 KiB instead of isal's 1 MiB: each thread holds a block in and out, and the
# smaller ones cost less memory at the same ratio and speed (measured on realistic data).
_GZIP_BLOCK_BYTES = 256 * 1024


class FastCompressor:
    """Compresses with `threads` threads (see cpus.usable_cpus); decompresses with one."""

    def __init__(self, *, threads: int = 1) -> None:
        self._threads = max(1, threads)

    @contextlib.contextmanager
    def compressing(self, stream: Readable, *, compression: Compression) -> Iterator[Readable]:
        if compression.algorithm == NONE:
            yield stream
        elif compression.algorithm == GZIP:
            with self._gzip(stream, _level(compression)) as compressed:
                yield compressed
        elif compression.algorithm == ZSTD:
            params = zstandard.ZstdCompressionParameters.from_level(
                _level(compression),
                # zstd's threads are workers beside the caller: 0 means none, not one.
                threads=self._threads if self._threads > 1 else 0,
                # Jobs of 1 MiB instead of zstd's default (4 windows, up to 8 MiB at level 3):
                # each worker holds its job's input and output; the default cost some 40 MB
                # more, and 2 MiB jobs still took an upload to S3 past 120 MB once (bench
                # h-s3-zstd), for 1% of ratio (measured on realistic data).
                job_size=_ZSTD_JOB_BYTES,
                # A checksum in every frame: zstd then detects a damaged frame by itself.
                write_checksum=1,
            )
            compressor = zstandard.ZstdCompressor(compression_params=params)
            source = _Source(stream)
            reader = compressor.stream_reader(
                cast(IO[bytes], source), read_size=CHUNK, closefd=False
            )
            with contextlib.closing(reader):
                yield _Passing(reader, source)
        else:
            raise ValueError(f"unknown compression {compression.algorithm!r}")

    @contextlib.contextmanager
    def decompressing(self, stream: Readable, *, algorithm: str, label: str) -> Iterator[Readable]:
        if algorithm == NONE:
            yield stream
        elif algorithm == GZIP:
            yield _Gunzip(stream, label)
        elif algorithm == ZSTD:
            source = _Source(stream, frames=ZstdFrames())
            reader = zstandard.ZstdDecompressor().stream_reader(
                cast(IO[bytes], source), read_size=CHUNK, read_across_frames=True, closefd=False
            )
            with contextlib.closing(reader):
                yield _Unzstd(reader, source, label)
        else:
            raise ValueError(f"unknown compression {algorithm!r}")

    @contextlib.contextmanager
    def _gzip(self, stream: Readable, level: int) -> Iterator[Readable]:
        threads = self._threads

        def work(source: Any, sink: Any) -> None:
            # The threaded writer compresses blocks of _GZIP_BLOCK_BYTES on `threads` threads and
            # writes one gzip member whose blocks are joined with sync flushes: a standard gzip
            # stream.
            opened = igzip_threaded.open(  # type: ignore[no-untyped-call]
                sink, "wb", compresslevel=level, threads=threads, block_size=_GZIP_BLOCK_BYTES
            )
            with opened as gz:
                while chunk := source.read(CHUNK):
                    gz.write(chunk)

        pump = StreamPump(stream, work, failure=_compress_failure, name="gzip-compress")
        with pump.running():
            yield pump


def _level(compression: Compression) -> int:
    if compression.level is None:
        raise ValueError(f"{compression.algorithm} needs a level")
    return compression.level


def _compress_failure(error: BaseException) -> BackupNimbusError:
    return BackupNimbusError(
        f"Compressing the archive failed: {error}", details={"reason": "compression failed"}
    )


class _Source:
    """A Readable as the file-like object the zstandard readers expect."""

    def __init__(self, stream: Readable, *, frames: ZstdFrames | None = None) -> None:
        self._stream = stream
        self.frames = frames
        self.error: BaseException | None = None

    def read(self, size: int = CHUNK) -> bytes:
        try:
            chunk = self._stream.read(size if size >= 0 else CHUNK)
        except BaseException as exc:
            # zstandard may wrap what a read raises; the caller re-raises the original.
            self.error = exc
            raise
        if self.frames is not None:
            self.frames.feed(chunk)
        return chunk


class ZstdFrames:
    """Follows the frame and block structure of a zstd stream as it passes, without
    decompressing it: zstandard's reader ends quietly at a truncated frame, this tells.

    See RFC 8878: a frame is its magic, a header, blocks (each with a 3-byte header whose low bit
    marks the last), then an optional 4-byte checksum; skippable frames carry their length.
    """

    _MAGIC = 0xFD2FB528
    _SKIPPABLE = 0x184D2A50

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._skip = 0
        self._state = "frame"
        self._checksum = False
        self.frames = 0

    @property
    def at_boundary(self) -> bool:
        """True when the bytes so far end exactly after a whole frame (or nothing at all)."""
        return self._state == "frame" and not self._buffer and not self._skip

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        if self._skip:
            step = min(self._skip, len(view))
            self._skip -= step
            view = view[step:]
        self._buffer += view
        while self._step():
            pass

    def _step(self) -> bool:
        """Consumes one structure from the buffer; False when it needs more bytes."""
        if self._skip:
            step = min(self._skip, len(self._buffer))
            del self._buffer[:step]
            self._skip -= step
            return bool(self._buffer) and not self._skip
        buffer = self._buffer
        if self._state == "frame":
            if len(buffer) < 8 and not (len(buffer) >= 5 and _u32(buffer) == self._MAGIC):
                return False
            magic = _u32(buffer)
            if magic & 0xFFFFFFF0 == self._SKIPPABLE:
                self._consume(8, skip=int.from_bytes(buffer[4:8], "little"))
                return True
            if magic != self._MAGIC:
                raise ValueError("not a zstd frame")
            descriptor = buffer[4]
            single = descriptor >> 5 & 1
            size_field = {0: 1 if single else 0, 1: 2, 2: 4, 3: 8}[descriptor >> 6]
            header = 5 + (0 if single else 1) + (0, 1, 2, 4)[descriptor & 3] + size_field
            if len(buffer) < header:
                return False
            self._checksum = bool(descriptor >> 2 & 1)
            self._consume(header)
            self._state = "block"
            return True
        if self._state == "block":
            if len(buffer) < 3:
                return False
            block = int.from_bytes(buffer[:3], "little")
            kind, size = block >> 1 & 3, block >> 3
            if kind == 3:
                raise ValueError("reserved zstd block type")
            if block & 1:
                self._state = "checksum" if self._checksum else "frame"
                if not self._checksum:
                    self.frames += 1
            self._consume(3, skip=1 if kind == 1 else size)
            return True
        if len(buffer) < 4:
            return False
        self._consume(4)
        self._state = "frame"
        self.frames += 1
        return True

    def _consume(self, count: int, *, skip: int = 0) -> None:
        del self._buffer[:count]
        self._skip = skip


def _u32(data: bytearray) -> int:
    return int.from_bytes(data[:4], "little")


class _Passing:
    """zstandard's compressing reader, re-raising its source's failure unchanged."""

    def __init__(self, reader: Any, source: _Source) -> None:
        self._reader = reader
        self._source = source

    def read(self, size: int, /) -> bytes:
        try:
            return bytes(self._reader.read(size))
        except Exception:
            if self._source.error is not None:
                raise self._source.error from None
            raise


class _Unzstd(_Passing):
    """zstandard's decompressing reader, with damage reported as a verification failure."""

    def __init__(self, reader: Any, source: _Source, label: str) -> None:
        super().__init__(reader, source)
        self._label = label

    def read(self, size: int, /) -> bytes:
        try:
            chunk = super().read(size)
        except (zstandard.ZstdError, ValueError) as exc:
            raise _damaged(self._label, str(exc)) from None
        frames = self._source.frames
        if not chunk and frames is not None and not (frames.at_boundary and frames.frames):
            raise _damaged(self._label, "the zstd stream is truncated")
        return chunk


class _Gunzip:
    """The domain's ISA-L gunzip, with damage reported as a verification failure."""

    def __init__(self, source: Readable, label: str) -> None:
        self._inflate = Gunzip(source)
        self._label = label

    def read(self, size: int, /) -> bytes:
        try:
            return self._inflate.read(size)
        except GzipCorruptError as exc:
            raise _damaged(self._label, str(exc)) from None


def _damaged(label: str, reason: str) -> VerificationFailedError:
    return VerificationFailedError(
        f"Cannot decompress {label}: {reason}; the backup cannot be trusted",
        details={"key": label, "reason": reason},
    )
