"""Stopping a backup at its deadline in every phase: before the dump's first byte, while it
streams, and while the store waits on a stalled upload."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import datetime

from backupnimbus.conversion import iso_time
from backupnimbus.errors import BackupNimbusError, DeadlineExceededError
from backupnimbus.ports.clock import Clock
from backupnimbus.ports.object_store import Readable
from backupnimbus.stop_signal import StopSignal

log = logging.getLogger(__name__)


def out_of_time(*, key: str, deadline: datetime, bytes_read: int) -> DeadlineExceededError:
    at = iso_time(deadline)
    return DeadlineExceededError(
        f"Out of time: the backup was stopped at its deadline ({at}) before its archive was "
        "complete; nothing was stored",
        details={"key": key, "deadline": at, "bytes_read": bytes_read},
    )


@contextlib.contextmanager
def watch_deadline(
    stop: StopSignal,
    *,
    deadline: datetime | None,
    clock: Clock,
    key: str,
    progress: Callable[[], int],
) -> Iterator[Callable[[], None]]:
    """Sets `stop` with a TIMEOUT error when `deadline` passes, from now until the block ends.

    A watchdog thread does it, so a phase blocked on something that never answers (a dump that
    cannot connect, a stalled pipe) is stopped too: whatever waits on `stop` wakes and raises.
    `progress` gives the bytes read so far, for the error's details.

    Yields: a check that sets `stop` when the clock says the deadline has passed, for the
    streaming loop to call on every read (a clock may run ahead of the watchdog's timer).
    """
    if deadline is None:
        yield lambda: None
        return

    def expire() -> None:
        if stop.is_set():
            return
        log.warning("deadline reached: stopping the backup", extra={"key": key})
        stop.set(out_of_time(key=key, deadline=deadline, bytes_read=progress()))

    def check() -> None:
        if clock.now() >= deadline:
            expire()

    seconds = (deadline - clock.now()).total_seconds()
    if seconds <= 0:
        expire()
        stop.raise_if_set()
    timer = threading.Timer(seconds, expire)
    timer.name = "backup-deadline"
    timer.daemon = True
    timer.start()
    try:
        yield check
    finally:
        timer.cancel()
        timer.join(timeout=5)


class StoppableReader:
    """Passes a stream through until its run is stopped, then raises why.

    A store that waits for something other than the stream (a stalled upload) calls
    `raise_if_stopped` while it waits. A read that fails because the stop ended the dump
    raises the stop's reason (the deadline, SIGTERM), not the dump's failure it caused.
    """

    def __init__(
        self, source: Readable, stop: StopSignal, *, check: Callable[[], None] = lambda: None
    ) -> None:
        """Args: `check` may set `stop` (a deadline seen on the clock); called on every read."""
        self._source = source
        self._stop = stop
        self._check = check
        self.size = 0

    def read(self, size: int, /) -> bytes:
        self._check()
        self._stop.raise_if_set()
        try:
            chunk = self._source.read(size)
        except BackupNimbusError as error:
            if self._stop.reason is not None:
                raise self._stop.reason from error
            raise
        # A dump stopped mid-read may have handed out a short chunk before it failed.
        self._check()
        self._stop.raise_if_set()
        self.size += len(chunk)
        return chunk

    def raise_if_stopped(self) -> None:
        self._check()
        self._stop.raise_if_set()
