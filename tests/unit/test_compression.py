"""The stream compressor: standard output, truthful ends, damage caught, errors unchanged."""

from __future__ import annotations

import gzip
import io
import os
import subprocess

import pytest
import zstandard

from backupnimbus.adapters.compression import FastCompressor
from backupnimbus.adapters.fake_archive import fake_archive
from backupnimbus.errors import DumpFailedError, VerificationFailedError
from backupnimbus.ports.compressor import GZIP, NONE, ZSTD, Compression

ARCHIVE = fake_archive({"shop.orders": 20_000, "shop.users": 3_000}, padding=120)
SETTINGS = [Compression(GZIP, 0), Compression(GZIP, 2), Compression(GZIP, 3),
            Compression(ZSTD, 3), Compression(NONE)]  # fmt: skip


def _drain(stream: object, size: int = 64 * 1024) -> bytes:
    out = bytearray()
    while chunk := stream.read(size):  # type: ignore[attr-defined]
        out += chunk
    return bytes(out)


def _compress(data: bytes, compression: Compression, threads: int = 2) -> bytes:
    with FastCompressor(threads=threads).compressing(
        io.BytesIO(data), compression=compression
    ) as compressed:
        return _drain(compressed)


def _decompress(data: bytes, algorithm: str) -> bytes:
    with FastCompressor().decompressing(
        io.BytesIO(data), algorithm=algorithm, label="test"
    ) as plain:
        return _drain(plain)


@pytest.mark.parametrize("compression", SETTINGS, ids=str)
@pytest.mark.parametrize("threads", [1, 2])
def test_round_trip_gives_back_every_byte(compression: Compression, threads: int) -> None:
    stored = _compress(ARCHIVE, compression, threads)

    assert _decompress(stored, compression.algorithm) == ARCHIVE
    if compression.algorithm != NONE:
        assert len(stored) < len(ARCHIVE) / 3, "the archive is repetitive: it must shrink"


@pytest.mark.parametrize("level", [0, 2, 3])
def test_gzip_is_a_standard_gzip_stream_that_gunzip_reads(level: int) -> None:
    stored = _compress(ARCHIVE, Compression(GZIP, level))

    assert gzip.decompress(stored) == ARCHIVE
    gunzip = subprocess.run(["gzip", "-dc"], input=stored, capture_output=True, check=True)
    assert gunzip.stdout == ARCHIVE


def test_zstd_is_a_standard_zstd_frame() -> None:
    stored = _compress(ARCHIVE, Compression(ZSTD, 3))

    reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(stored))
    assert reader.read(len(ARCHIVE) + 1) == ARCHIVE


def test_empty_input_compresses_to_a_valid_empty_stream() -> None:
    for compression in SETTINGS:
        assert _decompress(_compress(b"", compression), compression.algorithm) == b""


class FailingDump:
    """Hands out some bytes, then fails as a killed mongodump does."""

    def __init__(self) -> None:
        self.sent = 0

    def read(self, size: int, /) -> bytes:
        if self.sent >= 3 * 1024 * 1024:
            raise DumpFailedError("mongodump was killed by SIGKILL before it finished")
        self.sent += size
        return os.urandom(size)


@pytest.mark.parametrize("compression", SETTINGS, ids=str)
def test_a_failing_source_is_raised_unchanged_and_never_ends_the_stream(
    compression: Compression,
) -> None:
    with (
        pytest.raises(DumpFailedError, match="killed by SIGKILL"),
        FastCompressor(threads=2).compressing(FailingDump(), compression=compression) as out,
    ):
        _drain(out)


@pytest.mark.parametrize("algorithm", [GZIP, ZSTD])
def test_damage_and_truncation_are_verification_failures(algorithm: str) -> None:
    stored = bytearray(_compress(ARCHIVE, Compression(algorithm, 3 if algorithm == ZSTD else 2)))
    flipped = bytearray(stored)
    flipped[len(flipped) // 2] ^= 0xFF

    for damaged in (bytes(flipped), bytes(stored[: len(stored) // 2])):
        with pytest.raises(VerificationFailedError) as caught:
            assert _decompress(damaged, algorithm) != ARCHIVE
        assert caught.value.code == "VERIFY_ERROR"


@pytest.mark.parametrize("algorithm", [GZIP, ZSTD])
def test_a_cut_at_any_point_is_caught(algorithm: str) -> None:
    small = fake_archive({"shop.orders": 300}, padding=40)
    stored = _compress(small, Compression(algorithm, 3 if algorithm == ZSTD else 2))
    stored += _compress(small, Compression(algorithm, 3 if algorithm == ZSTD else 2))

    for cut in range(1, len(stored), max(1, len(stored) // 200)):
        with pytest.raises(VerificationFailedError):
            _decompress(stored[:cut], algorithm)
    assert _decompress(stored, algorithm) == small + small, "two frames or members read whole"
