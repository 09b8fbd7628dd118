from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import BinaryIO, Protocol, runtime_checkable

import attrs


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


@runtime_checkable
class Stoppable(Protocol):
    """A stream that can be told to stop from elsewhere (a deadline, a signal).

    A store that waits for something other than the stream (a slow or stalled upload) checks
    it while it waits, so that a stop is not held up until the wait ends.
    """

    def raise_if_stopped(self) -> None:
        """Raises why the write must stop, if it must (e.g. DeadlineExceededError)."""
        ...


@attrs.frozen
class StoredObject:
    key: str
    """The object's full key."""
    size: int
    """Stored bytes."""
    modified_at: datetime
    """When the store last wrote it (UTC)."""


class ObjectStore(Protocol):
    """Where archives and manifests live. Writes never replace an existing key."""

    def put_stream(self, *, key: str, stream: Readable) -> None:
        """Stores everything `stream` yields under `key`, without holding it all in memory.

        Args:
            key: the new object's key; raises `ObjectExistsError` when it is taken.
            stream: read until b""; an exception from it aborts the write and leaves nothing.
        """
        ...

    def put_bytes(self, *, key: str, data: bytes) -> None:
        """Stores a small object; raises `ObjectExistsError` when the key is taken."""
        ...

    def exists(self, *, key: str) -> bool: ...

    def open_read(self, *, key: str) -> AbstractContextManager[BinaryIO]:
        """Returns: a stream of the object's bytes; raises `BackupNotFoundError` if absent."""
        ...

    def list_objects(self, *, prefix: str) -> Iterator[StoredObject]:
        """Yields: every object under `prefix`, in no particular order."""
        ...

    def delete(self, *, key: str) -> None: ...
