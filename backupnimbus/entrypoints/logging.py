"""JSON-lines logging to stderr, with every record passed through the redactor."""

from __future__ import annotations

import logging
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from backupnimbus.redaction import Redactor

EMF_FIELD = "embedded_metric"
"""An extra holding an EMF record's members, merged into the line's root."""

# Attributes every LogRecord has; anything else on a record is a structured extra.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}


class RedactingFilter(logging.Filter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    @property
    def redactor(self) -> Redactor:
        return self._redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redactor.redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = self._redactor.redact(
                logging.Formatter().formatException(record.exc_info)
            )
            record.exc_info = None
        for name, value in list(record.__dict__.items()):
            if name not in _STANDARD:
                record.__dict__[name] = self._redact_value(value)
        return True

    def _redact_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._redactor.redact(value)
        if isinstance(value, list | tuple):
            return [self._redact_value(item) for item in value]
        if isinstance(value, dict):
            return {key: self._redact_value(item) for key, item in value.items()}
        return value


class _Formatter(JsonFormatter):
    def __init__(self, redactor: Redactor, show_tracebacks: bool) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "timestamp", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )
        self._redactor = redactor
        self._show_tracebacks = show_tracebacks

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        # An Embedded Metric Format record needs its `_aws` member at the root, and the base
        # formatter drops extras whose names start with "_"; so it travels nested and lands here.
        embedded = log_data.pop(EMF_FIELD, None)
        if isinstance(embedded, dict):
            log_data.update(embedded)
        return log_data

    def format(self, record: logging.LogRecord) -> str:
        if not self._show_tracebacks:
            record.exc_text = None
        # A second pass over the finished line catches a secret split across fields.
        return self._redactor.redact(super().format(record))


def configure_logging(*, level: str, redactor: Redactor) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter(redactor))
    handler.setFormatter(_Formatter(redactor, show_tracebacks=level == "DEBUG"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # boto's own chatter would drown the backup's story, and may echo request details.
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def current_redactor() -> Redactor:
    """The redactor configure_logging installed, for what is printed beside the logs (the CLI's
    documents); before logging is configured, one that masks URI passwords only."""
    for handler in logging.getLogger().handlers:
        for installed in handler.filters:
            if isinstance(installed, RedactingFilter):
                return installed.redactor
    return Redactor()
