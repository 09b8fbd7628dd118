"""AWS Lambda entrypoint: `backupnimbus.entrypoints.lambda_handler.handler` (DESIGN §4).

Nothing is built at import: the container is made on the first invocation and reused while the
execution environment stays warm. Imports are kept lean for the cold start.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from backupnimbus.errors import BackupNimbusError


class LambdaContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


class InvocationFailedError(Exception):
    """Raised to Lambda so retries, the DLQ and alarms see a failure; the message is the JSON
    error document."""


Handler = Callable[[Any, LambdaContext | None], dict[str, Any]]


def make_handler(environ: Mapping[str, str] | None = None, **overrides: Any) -> Handler:
    """Returns a handler bound to `environ` (default: the process environment at first call)."""
    state: dict[str, Any] = {}

    def handle(event: Any, context: LambdaContext | None = None) -> dict[str, Any]:
        try:
            if "app" not in state:
                state["app"] = _build(environ, overrides)
            from backupnimbus.entrypoints.lambda_events import parse_event

            document: dict[str, Any] = state["app"].invoke(parse_event(event), context)
            return document
        except BackupNimbusError as error:
            raise InvocationFailedError(json.dumps(error.to_document(), sort_keys=True)) from None

    return handle


def _build(environ: Mapping[str, str] | None, overrides: Mapping[str, Any]) -> Any:
    from backupnimbus.entrypoints.container import config_from_environment
    from backupnimbus.entrypoints.jobs import Jobs
    from backupnimbus.entrypoints.logging import configure_logging
    from backupnimbus.redaction import Redactor

    config = config_from_environment(environ)
    configure_logging(level=config.log_level, redactor=Redactor(config.secret_values()))
    return Jobs.build(config, **overrides)


def handler(event: Any, context: LambdaContext | None = None) -> dict[str, Any]:
    global _default
    if _default is None:
        _default = make_handler()
    return _default(event, context)


_default: Handler | None = None
