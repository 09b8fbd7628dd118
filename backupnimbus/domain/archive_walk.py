"""Walking a dump's archive while it streams to the store: the proof that it is whole.

The store reads the dump; every chunk it reads is handed, by reference, to the archive reader
running on a thread of its own, so the same bytes are checked once, with no second pass over the
store and no copy on disk. At the dump's end the stream waits for the walk's verdict before it
reports end-of-file: a store completes an upload only at end-of-file, so an archive that is not
whole raises there and the upload is aborted instead of completed.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable

from backupnimbus.domain.archive import ArchiveSummary, read_archive
from backupnimbus.errors import BackupNimbusError, DumpInvalidError, VerificationFailedError
from backupnimbus.ports.object_store import Readable

_DEPTH = 4
"""Chunks in flight between the store and the walk: bounds memory to a few reads' worth."""
_POLL_S = 0.2
"""How often a blocked hand-over looks whether the walk gave up."""
_END = b""


class _Handover:
    """The walk's side of the queue: read(n) over the chunks the store has read."""

    def __init__(self, chunks: queue.Queue[bytes]) -> None:
        self._chunks = chunks
        self._current = memoryview(b"")
        self._ended = False

    def read(self, size: int, /) -> bytes:
        if not self._current:
            if self._ended:
                return b""
            chunk = self._chunks.get()
            if chunk is _END or not chunk:
                self._ended = True
                return b""
            self._current = memoryview(chunk)
        piece, self._current = self._current[:size], self._current[size:]
        return bytes(piece)


class WalkedStream:
    """Passes `source` through while the archive reader walks the same bytes.

    `read` raises VerificationFailedError as soon as the walk finds the archive broken, and at
    the end, instead of returning b"", until the walk has accepted the whole archive. After a
    b"" from `read`, `summary` holds what the archive contains.
    """

    def __init__(
        self, source: Readable, *, accept: Callable[[ArchiveSummary], None] = lambda _: None
    ) -> None:
        """Args: `accept` judges a whole archive before its end is reported; it raises a
        BackupNimbusError to refuse it (an empty archive, say)."""
        self._source = source
        self._accept = accept
        self._chunks: queue.Queue[bytes] = queue.Queue(maxsize=_DEPTH)
        self._failure: BaseException | None = None
        self._done = threading.Event()
        self._summary: ArchiveSummary | None = None
        self._thread = threading.Thread(target=self._walk, name="archive-walk", daemon=True)
        self._thread.start()

    @property
    def summary(self) -> ArchiveSummary:
        if self._summary is None:
            raise RuntimeError("the archive walk has not finished")
        return self._summary

    def read(self, size: int, /) -> bytes:
        self._raise_if_failed()
        chunk = self._source.read(size)
        self._hand_over(chunk)
        if chunk:
            return chunk
        self._done.wait()
        self._raise_if_failed()
        return b""

    def close(self) -> None:
        """Stops the walk if it still runs (the upload failed first), without waiting long."""
        if not self._done.is_set():
            self._failure = self._failure or _Abandoned()
            # The walk may be waiting for a chunk that will never come: make room for the end.
            with contextlib.suppress(queue.Empty):
                while True:
                    self._chunks.get_nowait()
            with contextlib.suppress(queue.Full):
                self._chunks.put_nowait(_END)
        self._thread.join(timeout=5)

    def _hand_over(self, chunk: bytes) -> None:
        while not self._done.is_set():
            try:
                self._chunks.put(chunk, timeout=_POLL_S)
                return
            except queue.Full:
                continue
        # The walk ended before the data did: it failed, or there is data past the archive's
        # end, which the walk has already reported.
        self._raise_if_failed()
        if chunk:
            raise _trailing()

    def _walk(self) -> None:
        handover = _Handover(self._chunks)
        try:
            summary = read_archive(handover)
            # read_archive stops at the archive's end; anything after it is not ours to store.
            if handover.read(1):
                raise _trailing()
            self._accept(summary)
            self._summary = summary
        except BaseException as exc:
            self._failure = exc
        finally:
            self._done.set()

    def _raise_if_failed(self) -> None:
        failure = self._failure
        if failure is None:
            return
        if isinstance(failure, VerificationFailedError):
            raise DumpInvalidError(
                f"The dump is not a whole archive, so it was not stored: {failure.message}",
                details=failure.details,
            ) from failure
        if isinstance(failure, BackupNimbusError):
            raise failure
        raise VerificationFailedError(
            f"The archive could not be checked: {type(failure).__name__}",
            details={"reason": type(failure).__name__},
        ) from failure


class _Abandoned(Exception):
    """The stream was closed before its end."""


def _trailing() -> VerificationFailedError:
    return VerificationFailedError(
        "Invalid archive: data follows the archive's end",
        details={"reason": "trailing data after the archive's end"},
    )
