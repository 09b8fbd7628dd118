"""Turning a push-style stream transform (one that reads its input and writes its output
itself: age, a threaded gzip writer) into a stream a reader pulls with read(n), in bounded
memory."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from backupnimbus.errors import BackupNimbusError
from backupnimbus.ports.object_store import Readable, Stoppable

log = logging.getLogger(__name__)

PIPE_BYTES = 1024 * 1024
"""What the pipe between the transform's thread and the reader holds: the memory bound."""
_JOIN_GRACE_S = 2.0


class _Abandoned(Exception):
    """Raised to the transform's thread when the reader has gone."""


class StreamPump:
    """Runs a push-style transform, which reads its input and writes its output itself, in a
    thread, and hands the output to a reader that pulls with read(n).

    They meet in an OS pipe: its fixed capacity is the memory bound, a full pipe blocks the
    transform until the reader catches up, and closing the reader's end makes the transform's next
    write fail, so that either side's failure ends the other.
    """

    def __init__(
        self,
        source: Readable,
        work: Callable[[Any, Any], None],
        *,
        failure: Callable[[BaseException], BackupNimbusError],
        name: str,
    ) -> None:
        self._source = source
        self._work = work
        self._failure = failure
        self._name = name
        self._abandoned = threading.Event()
        self._source_error: BaseException | None = None
        self._error: BaseException | None = None
        self._head = b""
        self._ended = False
        self._read_fd = -1
        self._write_fd = -1
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        self._read_fd, self._write_fd = os.pipe()
        _widen(self._write_fd)
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        try:
            self._thread.start()
        except BaseException:
            os.close(self._write_fd)
            os.close(self._read_fd)
            raise
        try:
            yield
        finally:
            self._stop()

    def prime(self) -> None:
        """Waits for the first output (or the end), raising the transform's failure if any."""
        self._head = self.read(PIPE_BYTES)

    def read(self, size: int = -1, /) -> bytes:
        if size < 0:
            return b"".join(iter(lambda: self.read(PIPE_BYTES), b""))
        if self._head:
            chunk, self._head = self._head[:size], self._head[size:]
            return chunk
        if size == 0:
            return b""
        if not self._ended:
            chunk = os.read(self._read_fd, min(size, PIPE_BYTES))
            if chunk:
                return chunk
            self._ended = True
            assert self._thread is not None
            self._thread.join()
        # The pipe's end means the transform returned; only its success is the stream's end.
        if self._source_error is not None:
            raise self._source_error
        if self._error is not None:
            raise self._failure(self._error) from self._error
        return b""

    def raise_if_stopped(self) -> None:
        if isinstance(self._source, Stoppable):
            self._source.raise_if_stopped()

    # -- the transform's thread ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._work(_Input(self), _Output(self._write_fd))
        except BaseException as exc:  # handed to the reader, which raises it
            self._error = exc
        finally:
            os.close(self._write_fd)

    def _pull(self, size: int) -> bytes:
        if self._abandoned.is_set():
            raise _Abandoned
        try:
            return self._source.read(size)
        except BaseException as exc:
            # The transform reports it only as text; the reader raises the original.
            self._source_error = exc
            raise

    def _stop(self) -> None:
        self._abandoned.set()
        # The transform's write blocked on a full pipe fails at once (EPIPE) once nobody reads.
        os.close(self._read_fd)
        assert self._thread is not None
        self._thread.join(timeout=_JOIN_GRACE_S)
        if self._thread.is_alive():
            # Blocked reading its source (a stalled dump): the source's owner stops it next,
            # and the thread then ends without reading or writing anything more.
            log.warning("the %s thread is still waiting on its input; leaving it", self._name)


class _Input:
    def __init__(self, pump: StreamPump) -> None:
        self._pump = pump

    def read(self, size: int = -1, /) -> bytes:
        return self._pump._pull(size)


class _Output:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        return len(data)

    def flush(self) -> None:
        pass


def _widen(fd: int) -> None:
    """A 1 MiB pipe instead of Linux's 64 KiB: fewer thread switches per byte."""
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass
