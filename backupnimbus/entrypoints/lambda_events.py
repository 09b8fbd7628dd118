"""What a Lambda invocation asks for (README "Lambda"), parsed strictly at the edge."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

import attrs

from backupnimbus.errors import UsageInvalidError
from backupnimbus.ports.compressor import ALGORITHMS

MAX_EVENT_BYTES = 64 * 1024
ACTIONS = ("backup", "verify", "prune", "drill")
_MANUAL_KEYS = {"action", "name", "compress", "compression", "timestamp", "key",
                "random_within_days"}  # fmt: skip


@attrs.frozen
class Invocation:
    action: Literal["backup", "verify", "prune", "drill"] = "backup"
    name: str | None = None
    """Overrides BACKUP_NAME."""
    compress: bool | None = None
    compression: str | None = None
    """"gzip", "zstd" or "none"; checked against `compress` and the configuration."""
    """Overrides BACKUP_COMPRESS."""
    timestamp: datetime | None = None
    """Overrides the clock for the key."""
    key: str | None = None
    """For verify and drill: the archive key (default: the latest complete backup)."""
    random_within_days: float | None = None
    """For drill: a random complete backup that finished within this many days."""


def parse_event(event: Any) -> Invocation:
    """Raises UsageInvalidError naming every problem; never echoes the event itself."""
    if event is None:
        return Invocation()
    if not isinstance(event, dict):
        raise UsageInvalidError([f"the event must be a JSON object, not {type(event).__name__}"])
    try:
        size = len(json.dumps(event, default=str))
    except (TypeError, ValueError):
        raise UsageInvalidError(["the event is not JSON-serialisable"]) from None
    if size > MAX_EVENT_BYTES:
        raise UsageInvalidError([f"the event is {size} bytes; at most {MAX_EVENT_BYTES} allowed"])
    if event.get("detail-type") == "Scheduled Event" or event.get("source") == "aws.events":
        return Invocation()
    problems: list[str] = []
    unknown = sorted(str(k) for k in set(event) - _MANUAL_KEYS)
    if unknown:
        problems.append(f"unknown field(s) {unknown}; allowed: {sorted(_MANUAL_KEYS)}")
    action = event.get("action", "backup")
    if action not in ACTIONS:
        problems.append(f"action must be one of {list(ACTIONS)}")
    name = event.get("name")
    if name is not None:
        from backupnimbus.entrypoints.config import validate_backup_name

        try:
            validate_backup_name(name if isinstance(name, str) else "")
        except ValueError as exc:
            problems.append(f"name: expected {exc}")
    compress = event.get("compress")
    if compress is not None and not isinstance(compress, bool):
        problems.append("compress must be true or false")
    timestamp = _timestamp(event.get("timestamp"), problems)
    key = event.get("key")
    if key is not None and (not isinstance(key, str) or not key):
        problems.append("key must be a non-empty string")
    compression = event.get("compression")
    if compression is not None and compression not in ALGORITHMS:
        problems.append(f"compression must be one of {', '.join(ALGORITHMS)}")
    within = event.get("random_within_days")
    if within is not None and (
        isinstance(within, bool) or not isinstance(within, int | float) or not 0 < within < 36500
    ):
        problems.append("random_within_days must be a number of days above 0")
    if within is not None and key is not None:
        problems.append("give key or random_within_days, not both")
    if problems:
        raise UsageInvalidError(problems)
    return Invocation(
        action=action,
        name=name,
        compress=compress,
        compression=compression,
        timestamp=timestamp,
        key=key,
        random_within_days=None if within is None else float(within),
    )


def _timestamp(value: Any, problems: list[str]) -> datetime | None:
    if value is None:
        return None
    import argparse

    from backupnimbus.entrypoints.arguments import (
        FIRST_YEAR,
        LAST_YEAR,
        OutOfRangeError,
        iso_timestamp,
    )

    if isinstance(value, str):
        try:
            return iso_timestamp(value)
        except OutOfRangeError:
            problems.append(
                f"timestamp must be between {FIRST_YEAR} and {LAST_YEAR} (in UTC), "
                "e.g. 2025-04-07T10:15:30Z"
            )
            return None
        except argparse.ArgumentTypeError:
            pass
    problems.append("timestamp must be an ISO 8601 string, e.g. 2025-04-07T10:15:30Z")
    return None
