from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from backupnimbus.ports.object_store import Readable


class LocalFiles(Protocol):
    """Archives on the local file system, outside any store (`verify --file`, `restore --file`)."""

    def open_read(self, path: str) -> AbstractContextManager[Readable]:
        """Opens the file at `path` for reading from its start; each call opens it anew.

        Returns: a context manager yielding its bytes, closed when the context is left. A read
        that fails later raises the operating system's error unchanged (the reader counts the
        bytes and words the failure).

        Raises: `UsageInvalidError` naming `path` and the reason (no such file, a directory,
        permission denied) when it cannot be opened.
        """
        ...
