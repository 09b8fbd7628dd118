"""Shared retry policy for adapters: named transient errors only, backoff with jitter, a cap."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import attrs
import tenacity


@attrs.frozen
class RetryPolicy:
    attempts: int = 5
    """Total tries, the first included."""
    wait: tenacity.wait.wait_base = attrs.field(
        factory=lambda: tenacity.wait_exponential_jitter(multiplier=0.5, max=20)
    )
    """Tests pass tenacity.wait_none() so they never sleep."""

    def retrying(
        self, *, is_transient: Callable[[BaseException], bool], log: logging.Logger, what: str
    ) -> tenacity.Retrying:
        def log_retry(state: tenacity.RetryCallState) -> None:
            outcome = state.outcome
            error = outcome.exception() if outcome is not None else None
            log.warning(
                "%s failed, retrying",
                what,
                extra={
                    "attempt": state.attempt_number,
                    "max_attempts": self.attempts,
                    "error": type(error).__name__,
                },
            )

        return tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=self.wait,
            retry=tenacity.retry_if_exception(is_transient),
            before_sleep=log_retry,
            reraise=True,
        )

    def call(
        self,
        fn: Callable[[], Any],
        *,
        is_transient: Callable[[BaseException], bool],
        log: logging.Logger,
        what: str,
    ) -> Any:
        return self.retrying(is_transient=is_transient, log=log, what=what)(fn)
