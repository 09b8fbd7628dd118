from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Protocol

import attrs

from backupnimbus.ports.object_store import Readable


@attrs.frozen
class RestoreOptions:
    ns_include: tuple[str, ...] = ()
    """Namespace patterns to restore ('db.*', 'db.coll'); empty means everything, or with
    `ns_from`, what `ns_from` matches."""
    ns_from: str | None = None
    """Rename source namespaces matching this pattern (and, unless `ns_include` says
    otherwise, restore only those)..."""
    ns_to: str | None = None
    """...into this one; given together with `ns_from`."""
    drop: bool = False
    """Drop each target collection before restoring it."""
    dry_run: bool = False
    """Report what would be restored and write nothing."""
    oplog_replay: bool = False
    """Replay the archive's oplog section after the collections (a `mongodump --oplog`
    backup), so the data ends consistent to its last entry. Not with renames or includes."""


@attrs.frozen
class RestoreReport:
    target_hosts: tuple[str, ...]
    """host[:port] of each target seed (or the SRV name), without credentials."""
    restored: Mapping[str, int]
    """Documents restored per target namespace."""
    failures: int
    """Documents the target refused (e.g. duplicate keys when not dropping)."""
    planned: Mapping[str, str]
    """Target namespace -> source namespace of what a dry run would restore."""


class ArchiveRestorer(Protocol):
    def restore(
        self, *, stream: Readable, compressed: bool, options: RestoreOptions
    ) -> RestoreReport:
        """Restores a mongodump archive, read from `stream`, into the configured target.

        Args:
            stream: the archive's bytes. The restorer may stop reading before b"" when the tool
                needs no more (a dry run reads only the prelude). An exception raised by
                `stream.read` stops the restore at once and propagates unchanged.
            compressed: the stream is gzipped.
            options: which namespaces, renamed how, dropped first or not, dry run or not.

        Returns: what the tool reported. Raises `RestoreFailedError` (with a redacted tail of
        the tool's output in its details) when the tool fails.
        """
        ...

    def existing(self, namespaces: Collection[str]) -> tuple[str, ...]:
        """Returns: those of `namespaces` (target names) that the target already holds, sorted.
        Writes nothing. Raises `RestoreFailedError` when the target cannot be listed."""
        ...
