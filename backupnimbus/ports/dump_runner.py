from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Protocol

from backupnimbus.stop_signal import StopSignal

MONGODUMP_ARCHIVE = "mongodump-archive"
"""The format of mongodump's `--archive` output: the one format BackupNimbus walks, counts and
checks CRC by CRC. A dump backend of another format declares its own name for it."""


class Dump(Protocol):
    """A running dump, read as a byte stream.

    The stream is truthful: it reaches end-of-file only when the dump finished successfully.
    A failed dump raises `DumpFailedError` from `read` instead, so a reader can never mistake a
    truncated archive for a complete one.
    """

    def read(self, size: int, /) -> bytes:
        """Args: size: the most bytes to return. Returns: the next bytes, or b"" at the end."""
        ...

    def namespaces(self) -> Mapping[str, int]:
        """Returns: document counts per namespace, known once the stream reached its end."""
        ...

    def warnings(self) -> tuple[str, ...]:
        """Returns: what the tool reported skipping or failing while it still exited 0 (a
        collection it was not authorized to read, ...), already redacted; known once the stream
        reached its end. Not empty means the archive is partial, however valid it is."""
        ...

    def stop(self) -> None:
        """Ends the dump now, from any thread: a blocked `read` returns and raises
        `DumpFailedError`. Safe to call more than once, and after the dump ended."""
        ...


class DumpRunner(Protocol):
    def open_dump(self, *, stop: StopSignal) -> AbstractContextManager[Dump]:
        """Starts a dump of the configured source, as a plain archive: compression is the
        caller's (a StreamCompressor), so that the archive can be walked before it. A dump
        backend of another format than MONGODUMP_ARCHIVE streams its own bytes, and reports
        what they hold through `namespaces` (e.g. rows per table).

        Args:
            stop: when it is set, in any phase (connecting, between retries, streaming), the
                tool is stopped and reaped at once and `stop.reason` is raised from here or from
                the dump's `read`.

        Returns: a context manager; leaving it early stops the dump and releases everything.
        """
        ...

    def describe_tool(self) -> str:
        """Returns: the dump tool's version string, for the manifest."""
        ...
