"""Where a backup lands in the store (DESIGN §3)."""

from __future__ import annotations

from datetime import UTC, datetime

MANIFEST_SUFFIX = ".manifest.json"


def archive_key(
    *, prefix: str, name: str, at: datetime, compressed: bool, encrypted: bool = False
) -> str:
    at = at.astimezone(UTC)
    stamp = at.strftime("%Y%m%dT%H%M%SZ")
    suffix = ".archive" + (".gz" if compressed else "") + (".age" if encrypted else "")
    return f"{prefix}{name}/{at:%Y/%m/%d}/{name}-{stamp}{suffix}"


def manifest_key(archive: str) -> str:
    return archive + MANIFEST_SUFFIX


def stamp_prefix(archive: str) -> str:
    """The part of an archive key shared by every backup of its set and second, whatever its
    suffix (.gz, .age, or a format added later)."""
    head, sep, _ = archive.rpartition(".archive")
    return head + sep
