"""The one cattrs converter, and the hooks every edge shares: environment variables (base64
values, secret references, flags, comma-separated lists, counts), the manifest, the Lambda
event and the output documents.

It lives at the package root, beside errors.py and redaction.py, because the domain (the
manifest's codec) and the entrypoints (configuration, event, documents) both convert with it.
It stays pure: the standard library, attrs and cattrs only. A secret reference is resolved by a
`reveal` function the caller passes in, so no service is reached from here.

Problems are collected, never stopped at the first: a converter made here validates in detail,
and `problems` turns its exception group into one sentence per field, each naming the field
(for an environment schema, the variable itself) and saying what to give instead.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any, TypeVar

import attrs
import cattrs
import cattrs.v
from cattrs.gen import make_dict_structure_fn, override

_T = TypeVar("_T")


class ConversionProblem(ValueError):
    """One field's problem, worded for the person who wrote the value: `"must be ..."` (the
    field's name is put in front) or a whole sentence that starts with the field's name."""


class _Kind:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


TEXT = _Kind("TEXT")
FLAG = _Kind("FLAG")
COUNT = _Kind("COUNT")
SECONDS = _Kind("SECONDS")
WORDS = _Kind("WORDS")
BASE64 = _Kind("BASE64")
SECRET = _Kind("SECRET")
SECRET_WORDS = _Kind("SECRET_WORDS")


@attrs.frozen(eq=False)  # hashed by identity: typing hashes Annotated's metadata
class OneOf:
    """A choice among `choices` (case-insensitive), structured to the value it maps to."""

    choices: Mapping[str, str]
    expected: str


Text = Annotated[str, TEXT]
"""A plain variable: surrounding blanks dropped; set but blank is a problem."""
Flag = Annotated[bool, FLAG]
"""true/false, 1/0, yes/no, on/off (any case)."""
Count = Annotated[int, COUNT]
"""A whole number of 0 or more, in ASCII digits."""
Seconds = Annotated[float, SECONDS]
"""A finite number of seconds above 0."""
Words = Annotated[tuple[str, ...], WORDS]
"""A comma-separated list; blank items are dropped."""
Base64Text = Annotated[str, BASE64]
"""base64-encoded UTF-8 text (the original tool's encoding of every sensitive variable)."""
Secret = Annotated[str, SECRET]
"""Revealed by the caller's `reveal(name)`: base64, or a reference (`ssm:…`) it resolves."""
SecretWords = Annotated[tuple[str, ...], SECRET_WORDS]
"""A revealed secret that holds a comma-separated list."""

TRUE = frozenset({"true", "1", "yes", "on"})
FALSE = frozenset({"false", "0", "no", "off"})
ENCODE_HINT = "encode it with: printf %s 'value' | base64 -w0"

Reveal = Callable[[str], "str | None"]
"""Returns the decoded value of the variable `name`; raises ValueError (naming the variable,
never its value) or a ConfigInvalidError-like error with `problems` when it cannot."""


def iso_time(at: datetime) -> str:
    """A time as every document prints it: ISO 8601, UTC as Z."""
    return at.isoformat().replace("+00:00", "Z")


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise ConversionProblem(f"must be text, not {type(value).__name__}")
    if not value.strip():
        raise ConversionProblem("is set but empty; give it a value or unset it")
    return value.strip()


def flag(value: Any) -> bool:
    lowered = text(value).lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise ConversionProblem("must be true or false")


def count(value: Any) -> int:
    given = text(value)
    if not (given.isascii() and given.isdigit()):
        raise ConversionProblem("must be a whole number of 0 or more")
    return int(given)


def seconds(value: Any) -> float:
    try:
        parsed = float(text(value))
    except ValueError:
        parsed = math.nan
    if not math.isfinite(parsed) or parsed <= 0:
        raise ConversionProblem("must be a number of seconds above 0")
    return parsed


def words(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def one_of(value: Any, choice: OneOf) -> str:
    picked = choice.choices.get(text(value).lower())
    if picked is None:
        raise ConversionProblem(f"must be {choice.expected}")
    return picked


def decode_base64(value: str, *, name: str) -> str:
    """Raises ValueError naming the variable, never the value."""
    try:
        return base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as exc:  # also UnicodeDecodeError, non-ASCII input
        raise ValueError(f"{name} is not valid base64-encoded UTF-8 text") from exc


def secret(name: str, raw: Any, reveal: Reveal) -> str:
    """The revealed value of the set variable `name`, stripped; every failure a problem."""
    if not isinstance(raw, str) or not raw.strip():
        raise ConversionProblem("is set but empty; give it a base64-encoded value or unset it")
    try:
        value = reveal(name)
    except ValueError as exc:
        raise ConversionProblem(f"{exc}; {ENCODE_HINT}") from None
    except Exception as exc:  # a reference that names nothing readable: its own wording
        problems = getattr(exc, "problems", None)
        if problems is None or getattr(exc, "exit_code", 2) != 2:
            raise  # the store stayed unreachable: not the configuration's fault
        raise ConversionProblem("\n".join(problems)) from None
    if value is None or not value.strip():
        raise ConversionProblem("decodes to an empty value")
    return value.strip()


def _strict(kind: type) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _: Any) -> Any:
        if type(value) is not kind:
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
        return value

    return structure


def _kind_of(type_: Any) -> Any:
    for meta in getattr(type_, "__metadata__", ()):
        if isinstance(meta, _Kind | OneOf):
            return meta
    return None


def _annotated(kind: _Kind) -> Callable[[Any], bool]:
    return lambda type_: _kind_of(type_) is kind


def make_converter(*, forbid_extra_keys: bool = False, strict: bool = False) -> cattrs.Converter:
    """A converter with every shared hook, validating in detail (every problem at once).

    Args: forbid_extra_keys: an unknown field is a problem (else ignored, as a newer writer's);
    strict: int, str and bool are taken only as themselves, as JSON gives them: cattrs would
    turn "5" into 5 and 1.9 into 1, and a document that says either is not ours.
    """
    converter = cattrs.Converter(forbid_extra_keys=forbid_extra_keys, detailed_validation=True)
    converter.register_unstructure_hook(datetime, iso_time)
    if strict:
        for json_type in (int, str, bool):
            converter.register_structure_hook(json_type, _strict(json_type))
    hooks: dict[_Kind, Callable[[Any], Any]] = {
        TEXT: text,
        FLAG: flag,
        COUNT: count,
        SECONDS: seconds,
        WORDS: lambda value: words(text(value)),
        BASE64: lambda value: decode_base64(text(value), name="the value"),
    }
    for kind, hook in hooks.items():
        converter.register_structure_hook_func(_annotated(kind), _ignoring_type(hook))
    converter.register_structure_hook_func(
        lambda type_: isinstance(_kind_of(type_), OneOf), _one_of
    )
    return converter


def register_environment(converter: cattrs.Converter, schema: type, reveal: Reveal) -> None:
    """Structures `schema`, an attrs class whose fields are named as the variables they read,
    from an environment mapping; its Secret fields are revealed through `reveal`."""
    attrs.resolve_types(schema)
    overrides: dict[str, Any] = {}
    for field in attrs.fields(schema):
        kind = _kind_of(_optional_inner(field.type))
        if kind is SECRET or kind is SECRET_WORDS:
            overrides[field.name] = override(struct_hook=_secret_hook(field.name, kind, reveal))
    converter.register_structure_hook(
        schema, make_dict_structure_fn(schema, converter, **overrides)
    )


def _secret_hook(name: str, kind: _Kind, reveal: Reveal) -> Callable[[Any, Any], Any]:
    def structure(raw: Any, _type: Any) -> Any:
        value = secret(name, raw, reveal)
        return words(value) if kind is SECRET_WORDS else value

    return structure


def _ignoring_type(hook: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    return lambda value, _type: hook(value)


def _one_of(value: Any, type_: Any) -> str:
    return one_of(value, _kind_of(type_))


def _optional_inner(type_: Any) -> Any:
    args = [arg for arg in getattr(type_, "__args__", ()) if arg is not type(None)]
    if _kind_of(type_) is None and len(args) == 1:
        return args[0]
    return type_


def structure_or_problems(
    converter: cattrs.Converter, data: Mapping[str, Any], cls: type[_T]
) -> tuple[_T | None, list[tuple[str, str]]]:
    """`cls` from `data`, or None and every field's problem as (field, sentence naming it)."""
    try:
        return converter.structure(data, cls), []
    except cattrs.ClassValidationError as group:
        _raise_foreign(group)
        return None, [
            (field, sentence)
            for field, message in map(_split, cattrs.transform_error(group, "", _describe))
            for sentence in named(field, message)
        ]


def problems(exc: BaseException, *, path: str = "") -> list[str]:
    """Every problem of a detailed validation error, one sentence each, field name first."""
    _raise_foreign(exc)
    return [
        sentence
        for field, message in map(_split, cattrs.transform_error(exc, path, _describe))
        for sentence in named(field, message)
    ]


def named(field: str, message: str) -> list[str]:
    """`message` as sentences that start with the field's name (a sentence may name it already,
    as a secret source's does)."""
    return [
        part if not field or part.startswith(field) else f"{field} {part}"
        for part in message.split("\n")
    ]


def _split(line: str) -> tuple[str, str]:
    message, _, where = line.rpartition(" @ ")
    return where.lstrip("."), message


def _describe(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, ConversionProblem):
        return str(exc)
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return f"has unknown field(s) {sorted(str(key) for key in exc.extra_fields)}"
    return cattrs.v.format_exception(exc, type_)


def _raise_foreign(group: BaseException) -> None:
    """An error that is no one field's fault (a secret store that stayed unreachable) is raised
    as it is, not listed among the problems."""
    if isinstance(group, BaseExceptionGroup):
        for inner in group.exceptions:
            _raise_foreign(inner)
    elif not isinstance(group, ValueError | TypeError | KeyError | AttributeError):
        raise group
