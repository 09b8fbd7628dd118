"""What a Lambda invocation asks for (README "Lambda"), structured strictly at the edge by the
shared converter (backupnimbus.conversion), with every problem reported at once."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

import attrs
import cattrs
import cattrs.v
from cattrs.gen import make_dict_structure_fn, override

from backupnimbus.conversion import make_converter
from backupnimbus.errors import UsageInvalidError
from backupnimbus.ports.compressor import ALGORITHMS

MAX_EVENT_BYTES = 64 * 1024
ACTIONS = ("backup", "verify", "prune", "drill")
_MANUAL_KEYS = {"action", "name", "compress", "compression", "timestamp", "key",
                "random_within_days"}  # fmt: skip
# What each action reads besides `action` and `name`: a field another action would use is a
# mistake in the rule that sent it (a prune told to compress, a backup given a key), and an
# unattended run that silently did something else is worse than one that refused.
FIELDS_BY_ACTION = {
    "backup": {"compress", "compression", "timestamp"},
    "verify": {"key"},
    "prune": set(),
    "drill": {"key", "random_within_days"},
}


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
    invocation: Invocation | None = None
    try:
        invocation = _CONVERTER.structure(event, Invocation)
    except Exception as exc:  # cattrs groups every field's failure into one exception
        problems.extend(cattrs.transform_error(exc, path="event", format_exception=_problem))
    if event.get("key") is not None and event.get("random_within_days") is not None:
        problems.append("give key or random_within_days, not both")
    action = event.get("action", "backup")
    # A wrong action is reported by its own hook; only a known one has fields to check.
    if isinstance(action, str) and action in FIELDS_BY_ACTION:
        unused = sorted(
            field
            for field in _MANUAL_KEYS - {"action", "name"} - FIELDS_BY_ACTION[action]
            if field in event
        )
        if unused:
            allowed = sorted({"name", *FIELDS_BY_ACTION[action]})
            problems.append(
                f"field(s) {unused} not used by the {action} action; it takes {allowed}"
            )
    if problems or invocation is None:
        raise UsageInvalidError(problems)
    return invocation


def _problem(exc: BaseException, _type: type | None) -> str:
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        unknown = sorted(str(key) for key in exc.extra_fields)
        return f"unknown field(s) {unknown}; allowed: {sorted(_MANUAL_KEYS)}"
    if isinstance(exc, _EventProblem):
        return str(exc)
    return cattrs.v.format_exception(exc, _type)


class _EventProblem(ValueError):
    """One field's problem, worded for the person who wrote the event."""


def _action(value: Any, _: Any) -> str:
    if value not in ACTIONS:
        raise _EventProblem(f"action must be one of {list(ACTIONS)}")
    return str(value)


def _name(value: Any, _: Any) -> str | None:
    if value is None:
        return None
    from backupnimbus.entrypoints.config import validate_backup_name

    try:
        validate_backup_name(value if isinstance(value, str) else "")
    except ValueError as exc:
        raise _EventProblem(f"name: expected {exc}") from None
    return str(value)


def _compress(value: Any, _: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise _EventProblem("compress must be true or false")
    return value


def _compression(value: Any, _: Any) -> str | None:
    if value is not None and value not in ALGORITHMS:
        raise _EventProblem(f"compression must be one of {', '.join(ALGORITHMS)}")
    return None if value is None else str(value)


def _key(value: Any, _: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise _EventProblem("key must be a non-empty string")
    return value


def _within(value: Any, _: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 36500:
        raise _EventProblem("random_within_days must be a number of days above 0")
    return float(value)


def _timestamp(value: Any, _: Any) -> datetime | None:
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
            raise _EventProblem(
                f"timestamp must be between {FIRST_YEAR} and {LAST_YEAR} (in UTC), "
                "e.g. 2025-04-07T10:15:30Z"
            ) from None
        except argparse.ArgumentTypeError:
            pass
    raise _EventProblem("timestamp must be an ISO 8601 string, e.g. 2025-04-07T10:15:30Z")


def _converter() -> cattrs.Converter:
    # Every field has its own hook: cattrs would turn 1 into True and "5" into 5, and an event
    # that says either is a mistake to report, not to guess at.
    converter = make_converter(forbid_extra_keys=True)
    converter.register_structure_hook(
        Invocation,
        make_dict_structure_fn(
            Invocation,
            converter,
            _cattrs_forbid_extra_keys=True,
            action=override(struct_hook=_action),
            name=override(struct_hook=_name),
            compress=override(struct_hook=_compress),
            compression=override(struct_hook=_compression),
            timestamp=override(struct_hook=_timestamp),
            key=override(struct_hook=_key),
            random_within_days=override(struct_hook=_within),
        ),
    )
    return converter


_CONVERTER = _converter()
