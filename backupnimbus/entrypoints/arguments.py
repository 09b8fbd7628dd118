"""argparse value types shared by the commands; each error says what was expected."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime


def iso_timestamp(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 time: {value!r} (e.g. 2025-04-07T10:15:30Z)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def backup_name(value: str) -> str:
    from backupnimbus.entrypoints.config import validate_backup_name

    try:
        return validate_backup_name(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"invalid name {value!r}: expected {exc}") from None
