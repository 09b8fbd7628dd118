"""Shared retry policy for adapters: named transient errors only, backoff with jitter, a cap."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import attrs
import tenacity

from backupnimbus.errors import BackupNimbusError
from backupnimbus.stop_signal import StopSignal


@attrs.frozen
class RetryPolicy:
    attempts: int = 5
    """Total tries, the first included."""
    wait: tenacity.wait.wait_base = attrs.field(
        factory=lambda: tenacity.wait_exponential_jitter(multiplier=0.5, max=20)
    )
    """Tests pass tenacity.wait_none() so they never sleep."""

    def retrying(
        self,
        *,
        is_transient: Callable[[BaseException], bool],
        log: logging.Logger,
        what: str,
        stop: StopSignal | None = None,
        budget_s: float | None = None,
    ) -> tenacity.Retrying:
        """`stop` wakes a back-off at once and raises its reason instead of another try;
        `budget_s` bounds the time of all tries together: none starts (nor sleeps) past it."""

        def log_retry(state: tenacity.RetryCallState) -> None:
            outcome = state.outcome
            error = outcome.exception() if outcome is not None else None
            log.warning(
                "%s failed, retrying",
                what,
                extra={
                    "attempt": state.attempt_number,
                    "max_attempts": self.attempts,
                    "error": _describe(error),
                },
            )

        def sleep(seconds: float) -> None:
            if stop is None:
                tenacity.nap.sleep(seconds)
            elif stop.wait(seconds):
                stop.raise_if_set()

        give_up: tenacity.stop.stop_base = tenacity.stop_after_attempt(self.attempts)
        if budget_s is not None:
            give_up = give_up | tenacity.stop_before_delay(budget_s)
        return tenacity.Retrying(
            stop=give_up,
            wait=self.wait,
            retry=tenacity.retry_if_exception(is_transient),
            before_sleep=log_retry,
            sleep=sleep,
            reraise=True,
        )

    def call(
        self,
        fn: Callable[[], Any],
        *,
        is_transient: Callable[[BaseException], bool],
        log: logging.Logger,
        what: str,
        stop: StopSignal | None = None,
        budget_s: float | None = None,
    ) -> Any:
        retrying = self.retrying(
            is_transient=is_transient, log=log, what=what, stop=stop, budget_s=budget_s
        )
        return retrying(fn)


def _describe(error: BaseException | None) -> str | None:
    """A phrase for the log: our errors carry a redacted message; others are named by kind
    only, since a library's message may quote a URL, a key or a header."""
    if error is None:
        return None
    if isinstance(error, BackupNimbusError):
        return error.message
    return type(error).__name__
