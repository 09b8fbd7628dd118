"""Logging to stderr, every record passed through the redactor: JSON lines for machines
(Lambda, CloudWatch, CI), text lines for a person at a terminal (LOG_FORMAT)."""

from __future__ import annotations

import json
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


class _TextFormatter(logging.Formatter):
    """`10:15:30 INFO    message  field=value ...`: what a person reads at a terminal."""

    def __init__(self, redactor: Redactor, show_tracebacks: bool) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(message)s", datefmt="%H:%M:%S")
        self._redactor = redactor
        self._show_tracebacks = show_tracebacks

    def format(self, record: logging.LogRecord) -> str:
        if not self._show_tracebacks:
            record.exc_text = None
        line = super().format(record)
        fields = {k: v for k, v in record.__dict__.items() if k not in _STANDARD | {"asctime"}}
        embedded = fields.pop(EMF_FIELD, None)
        if isinstance(embedded, dict):
            # The metric's values; its `_aws` envelope means something to CloudWatch only.
            fields.update({k: v for k, v in embedded.items() if not k.startswith("_")})
        if fields:
            line += "  " + " ".join(f"{name}={_text(value)}" for name, value in fields.items())
        return self._redactor.redact(line)


def _text(value: Any) -> str:
    return value if isinstance(value, str) and value and " " not in value else json.dumps(value)


class _BarAwareHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes above a live progress bar instead of through it (tqdm.write clears the bar,
    writes the line, and draws the bar again), so that log lines never tear a bar."""

    def emit(self, record: logging.LogRecord) -> None:
        tqdm_module = sys.modules.get("tqdm")  # loaded only once a bar was shown
        bars = getattr(getattr(tqdm_module, "tqdm", None), "_instances", None)
        if not bars:
            super().emit(record)
            return
        try:
            tqdm_module.tqdm.write(self.format(record), file=self.stream)  # type: ignore[union-attr]
        except Exception:
            self.handleError(record)


def use_text(log_format: str | None) -> bool:
    """LOG_FORMAT, or by default text when stderr is a terminal and JSON otherwise."""
    if log_format is not None:
        return log_format == "text"
    return sys.stderr.isatty()


def configure_logging(*, level: str, redactor: Redactor, log_format: str | None = None) -> None:
    handler = _BarAwareHandler(sys.stderr)
    handler.addFilter(RedactingFilter(redactor))
    show_tracebacks = level == "DEBUG"
    if use_text(log_format):
        handler.setFormatter(_TextFormatter(redactor, show_tracebacks=show_tracebacks))
    else:
        handler.setFormatter(_Formatter(redactor, show_tracebacks=show_tracebacks))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # boto's own chatter would drown the backup's story, and may echo request details.
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
