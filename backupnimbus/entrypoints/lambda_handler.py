"""AWS Lambda entrypoint: `backupnimbus.entrypoints.lambda_handler.handler`.

Nothing is built at import: the container is made on the first invocation and reused while the
execution environment stays warm. Imports are kept lean for the cold start.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from backupnimbus.errors import BackupNimbusError

if TYPE_CHECKING:
    from backupnimbus.entrypoints.config import Config
    from backupnimbus.entrypoints.container import App
    from backupnimbus.redaction import Redactor


class LambdaContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


class InvocationFailedError(Exception):
    """Raised to Lambda so retries, the DLQ and alarms see a failure; the message is the JSON
    error document."""


Handler = Callable[[Any, LambdaContext | None], dict[str, Any]]


class Bootstrap(Protocol):
    """Builds the app for a configuration (default: container.bootstrap); tests give it ports."""

    def __call__(self, config: Config, *, redactor: Redactor) -> App: ...


def make_handler(
    environ: Mapping[str, str] | None = None, *, bootstrap: Bootstrap | None = None
) -> Handler:
    """Returns a handler bound to `environ` (default: the process environment at first call)."""
    state: dict[str, App] = {}

    def handle(event: Any, context: LambdaContext | None = None) -> dict[str, Any]:
        try:
            if "app" not in state:
                state["app"] = _build(environ, bootstrap)
            app = state["app"]
            from backupnimbus.entrypoints.jobs import Jobs
            from backupnimbus.entrypoints.lambda_events import parse_event

            app.open()
            try:
                document = Jobs(config=app.config, container=app.container).invoke(
                    parse_event(event), context
                )
            finally:
                # The environment may be frozen, or never invoked again: plugins close now.
                app.close()
            redacted: dict[str, Any] = _redactor(state).redact_document(document)
            return redacted
        except BackupNimbusError as error:
            failure = error
        except Exception as error:
            # As in the CLI: an unexpected exception's text may hold anything, so Lambda gets
            # only its type; the traceback goes to the (redacted) log at DEBUG.
            logging.getLogger(__name__).debug("unexpected failure", exc_info=True)
            name = type(error).__name__
            failure = BackupNimbusError(f"Unexpected failure: {name}", details={"type": name})
        document = _redactor(state).redact_document(failure.to_document())
        raise InvocationFailedError(json.dumps(document, sort_keys=True)) from None

    return handle


def _redactor(state: Mapping[str, App]) -> Redactor:
    # The last line of defence for what Lambda returns, logs and alarms on: the app's redactor
    # once the configuration is loaded, URI passwords always.
    from backupnimbus.redaction import Redactor

    app = state.get("app")
    return app.redactor if app is not None else Redactor()


def _build(environ: Mapping[str, str] | None, bootstrap: Bootstrap | None) -> App:
    from backupnimbus.entrypoints import container
    from backupnimbus.entrypoints.logging import configure_logging
    from backupnimbus.redaction import Redactor

    config = container.config_from_environment(environ)
    redactor = Redactor(config.secret_values())
    configure_logging(level=config.log_level, redactor=redactor, log_format=config.log_format)
    return (bootstrap or container.bootstrap)(config, redactor=redactor)


def handler(event: Any, context: LambdaContext | None = None) -> dict[str, Any]:
    global _default
    if _default is None:
        _default = make_handler()
    return _default(event, context)


_default: Handler | None = None
