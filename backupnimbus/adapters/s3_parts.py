"""How S3 multipart uploads are cut into parts, and the ETag S3 gives the result."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import attrs

MiB = 1024 * 1024
S3_MAX_PARTS = 10_000
S3_MIN_PART_SIZE = 5 * MiB
S3_MAX_PART_SIZE = 5 * 1024 * MiB


@attrs.frozen
class PartSizer:
    """Part sizes that start small and double every `parts_per_step` parts.

    With the defaults, the first 6 GB go up in 6 MiB parts and 10,000 parts reach about 6 TB,
    past S3's 5 TB object limit, while memory holds only `concurrency + 1` parts at a time.
    """

    initial: int = attrs.field(
        # 6 MiB, not 8: with compression in the same process, 8 MiB parts took the S3 path past
        # its 120 MB budget (docs/benchmarks.md, h-s3); 6 MiB still covers S3's 5 TiB limit.
        default=6 * MiB,
        validator=[attrs.validators.ge(S3_MIN_PART_SIZE), attrs.validators.le(S3_MAX_PART_SIZE)],
    )
    """Size of the first parts; S3 refuses parts below 5 MiB (except the last)."""
    parts_per_step: int = attrs.field(default=1_000, validator=attrs.validators.ge(1))
    """How many parts are uploaded at one size before it doubles."""

    def size_of(self, part_number: int) -> int:
        return min(self.initial << ((part_number - 1) // self.parts_per_step), S3_MAX_PART_SIZE)


def multipart_etag(part_etags: Iterator[str] | list[str]) -> str:
    """S3's ETag of a multipart object: the MD5 of the parts' binary MD5s, then "-<parts>"."""
    digests = [bytes.fromhex(etag.strip('"')) for etag in part_etags]
    return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"  # noqa: S324
