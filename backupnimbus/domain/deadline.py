"""Stopping a backup at its deadline, even while it is blocked on a dump or an upload."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import datetime

from backupnimbus.errors import BackupNimbusError, DeadlineExceededError
from backupnimbus.ports.clock import Clock
from backupnimbus.ports.object_store import Readable

log = logging.getLogger(__name__)


def out_of_time(*, key: str, deadline: datetime, bytes_read: int) -> DeadlineExceededError:
    at = deadline.isoformat().replace("+00:00", "Z")
    return DeadlineExceededError(
        f"Out of time: the backup was stopped at its deadline ({at}) before its archive was "
        "complete; nothing was stored",
        details={"key": key, "deadline": at, "bytes_read": bytes_read},
    )


class DeadlineReader:
    """Passes the dump through until the deadline, then stops it and raises.

    A watchdog thread fires at the deadline: it marks the run out of time and calls `stop`,
    which ends the dump, so that a read blocked on a stalled dump returns. A store that waits
    on a stalled upload sees the same mark through `raise_if_stopped`. Either way the next step
    raises DeadlineExceededError, and the store aborts the write.
    """

    def __init__(
        self,
        source: Readable,
        *,
        deadline: datetime,
        clock: Clock,
        stop: Callable[[], None],
        key: str,
    ) -> None:
        self._source = source
        self._deadline = deadline
        self._clock = clock
        self._stop = stop
        self._key = key
        self._expired = threading.Event()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self.size = 0

    def start(self) -> None:
        seconds = (self._deadline - self._clock.now()).total_seconds()
        self._timer = threading.Timer(max(seconds, 0.0), self._expire)
        self._timer.name = "backup-deadline"
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join(timeout=5)

    def read(self, size: int, /) -> bytes:
        self.raise_if_stopped()
        try:
            chunk = self._source.read(size)
        except BackupNimbusError as error:
            # Stopping the dump makes it fail; the deadline is the reason, not the dump.
            if self._expired.is_set():
                raise self._error() from error
            raise
        # A dump stopped mid-read may have handed out a short chunk before it failed.
        self.raise_if_stopped()
        self.size += len(chunk)
        return chunk

    def raise_if_stopped(self) -> None:
        if not self._expired.is_set() and self._clock.now() >= self._deadline:
            self._expire()
        if self._expired.is_set():
            raise self._error()

    def _expire(self) -> None:
        with self._lock:
            if self._expired.is_set():
                return
            self._expired.set()
        log.warning("deadline reached: stopping the backup", extra={"key": self._key})
        try:
            self._stop()
        except Exception:
            log.exception("could not stop the dump at the deadline", extra={"key": self._key})

    def _error(self) -> DeadlineExceededError:
        return out_of_time(key=self._key, deadline=self._deadline, bytes_read=self.size)


@contextlib.contextmanager
def watch_deadline(
    source: Readable,
    *,
    deadline: datetime | None,
    clock: Clock,
    stop: Callable[[], None],
    key: str,
) -> Iterator[Readable]:
    """Yields `source`, guarded by a DeadlineReader when there is a deadline."""
    if deadline is None:
        yield source
        return
    reader = DeadlineReader(source, deadline=deadline, clock=clock, stop=stop, key=key)
    reader.start()
    try:
        yield reader
    finally:
        reader.cancel()
