from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Protocol

import attrs

from backupnimbus.errors import UsageInvalidError
from backupnimbus.ports.object_store import Readable


@attrs.frozen
class NamespaceRename:
    """Restore source namespaces matching `ns_from` under the names `ns_to` makes of them
    (mongorestore's --nsFrom/--nsTo patterns: `*` or `$var$`); the two only go together."""

    ns_from: str
    ns_to: str


@attrs.frozen
class RestoreOptions:
    """Raises UsageInvalidError (listing every problem) when `oplog_replay` is asked for with
    `ns_include` or `rename`: such options cannot be built."""

    ns_include: tuple[str, ...] = ()
    """Namespace patterns to restore ('db.*', 'db.coll'); empty means everything, or with
    `rename`, what its `ns_from` matches."""
    rename: NamespaceRename | None = None
    """Rename what its `ns_from` matches (and, unless `ns_include` says otherwise, restore
    only that)."""
    drop: bool = False
    """Drop each target collection before restoring it."""
    dry_run: bool = False
    """Report what would be restored and write nothing."""
    oplog_replay: bool = False
    """Replay the archive's oplog section after the collections (a `mongodump --oplog`
    backup), so the data ends consistent to its last entry. Not with renames or includes."""

    def __attrs_post_init__(self) -> None:
        problems = []
        if self.oplog_replay and self.rename is not None:
            # As mongorestore refuses it: the oplog's entries name the original namespaces.
            problems.append(
                "--oplog-replay cannot be combined with --ns-from/--ns-to: the oplog's entries "
                "write to the original namespaces, which a rename would leave out of step"
            )
        if self.oplog_replay and self.ns_include:
            problems.append(
                "--oplog-replay cannot be combined with --ns-include: the oplog replays writes "
                "to every namespace, so it restores the whole backup"
            )
        if problems:
            raise UsageInvalidError(problems)


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
