"""A one-shot signal that a run must stop now, shared by the domain and the adapters.

It lives at the package root, beside the errors, because both sides of a port use it: a use case
sets it (a deadline, SIGTERM) and an adapter reacts to it wherever it waits (a dump that has not
written its first byte yet, a retry's back-off, an upload), so that no phase outlives it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from backupnimbus.errors import BackupNimbusError

log = logging.getLogger(__name__)


class StopSignal:
    """Set once, with the error that explains why; callbacks run on the setting thread."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._reason: BackupNimbusError | None = None
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._next_id = 0

    def set(self, reason: BackupNimbusError) -> None:
        """Stops the run for `reason`; only the first call counts."""
        with self._lock:
            if self._event.is_set():
                return
            self._reason = reason
            self._event.set()
            callbacks = list(self._callbacks.values())
        for callback in callbacks:
            try:
                callback()
            except Exception:
                # One failed stop (a process already gone) must not keep the others from running.
                log.exception("a stop callback failed")

    def is_set(self) -> bool:
        return self._event.is_set()

    @property
    def reason(self) -> BackupNimbusError | None:
        return self._reason

    def raise_if_set(self) -> None:
        """Raises the reason the run was stopped for, if it was."""
        if self._reason is not None:
            raise self._reason

    def wait(self, seconds: float) -> bool:
        """Sleeps up to `seconds`, waking at once when the signal is set. Returns is_set()."""
        return self._event.wait(max(seconds, 0.0))

    def on_stop(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Runs `callback` when the signal is set (at once when it already is).

        Returns: a function that unregisters it, for when the thing it stops has ended.
        """
        with self._lock:
            if not self._event.is_set():
                handle = self._next_id
                self._next_id += 1
                self._callbacks[handle] = callback
                return lambda: self._callbacks.pop(handle, None) and None
        callback()
        return lambda: None
