"""argparse value types shared by the commands; each error says what was expected."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backupnimbus.entrypoints.config import Config

FIRST_YEAR, LAST_YEAR = 1970, 9999


class OutOfRangeError(argparse.ArgumentTypeError):
    """A well-formed time outside FIRST_YEAR..LAST_YEAR."""


def iso_timestamp(value: str) -> datetime:
    """The time in UTC; without an offset the time is taken as UTC. Outside the years 1970 to
    9999 (in UTC) it is refused: such a key sorts wrongly and may not even be writable."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 time: {value!r} (e.g. 2025-04-07T10:15:30Z)"
        ) from None
    try:
        in_utc = parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 or 9999-12-31T23:00-05:00 in UTC
        in_utc = None
    if in_utc is None or not FIRST_YEAR <= in_utc.year <= LAST_YEAR:
        raise OutOfRangeError(f"outside the years {FIRST_YEAR} to {LAST_YEAR} (in UTC): {value!r}")
    return in_utc


def backup_name(value: str) -> str:
    from backupnimbus.entrypoints.config import validate_backup_name

    try:
        return validate_backup_name(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"invalid name {value!r}: expected {exc}") from None


def add_set_selection(parser: Any, *, what: str) -> None:
    """--name NAME (default BACKUP_NAME) or --all-sets: a command that may delete or restore
    works on one backup set unless every set is asked for in so many words."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--name", type=backup_name, help=f"{what} this backup set (default: BACKUP_NAME)"
    )
    which.add_argument("--all-sets", action="store_true", help=f"{what} every backup set")


def selected_set(args: argparse.Namespace, config: Config) -> str | None:
    """The backup set the command works on; None: every set (--all-sets)."""
    if args.all_sets:
        return None
    return str(args.name or config.backup_name)
