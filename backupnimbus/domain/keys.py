"""Where a backup lands in the store (README "What lands in the bucket")."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from backupnimbus.ports.compressor import GZIP, NONE, SUFFIXES, ZSTD

MANIFEST_SUFFIX = ".manifest.json"


ARCHIVE_KEY = re.compile(
    r"(?:^|/)(?P<name>[^/]+)/\d{4}/\d{2}/\d{2}/(?P=name)-(?P<stamp>\d{8}T\d{6}Z)"
    r"\.archive(?P<compression>\.gz|\.zst)?(?P<age>\.age)?(?P<unfinished>\.partial-[0-9a-f]+)?$"
)
"""`{name}/YYYY/MM/DD/{name}-{stamp}.archive[.gz|.zst][.age]`, after the prefix; the local
store's unfinished writes add `.partial-<hex>`, and never have a manifest."""
COMPRESSION_OF_SUFFIX = {".gz": GZIP, ".zst": ZSTD, None: NONE}


def archive_key(
    *, prefix: str, name: str, at: datetime, compression: str = GZIP, encrypted: bool = False
) -> str:
    """Args: `compression`: the algorithm (GZIP, ZSTD or NONE), which sets the suffix."""
    at = at.astimezone(UTC)
    stamp = at.strftime("%Y%m%dT%H%M%SZ")
    suffix = ".archive" + SUFFIXES[compression] + (".age" if encrypted else "")
    return f"{prefix}{name}/{at:%Y/%m/%d}/{name}-{stamp}{suffix}"


def manifest_key(archive: str) -> str:
    return archive + MANIFEST_SUFFIX


def stamp_prefix(archive: str) -> str:
    """The part of an archive key shared by every backup of its set and second, whatever its
    suffix (.gz, .age, or a format added later)."""
    head, sep, _ = archive.rpartition(".archive")
    return head + sep
