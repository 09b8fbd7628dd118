"""The one place that removes secrets from text before it leaves the process.

Two nets: the configured secret values, in every shape they may take on the way out, and a
pattern for `scheme://user:password@hosts` that catches a URI nobody configured.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus, unquote

import attrs

MASK = "***"
# Shorter values would mask ordinary words; a URI password of any length is left to the pattern.
_MIN_LENGTH = 4

# The password runs to the LAST '@' that is followed by a host list (hosts hold no '@'), as the
# drivers split userinfo from hosts, so an unescaped '@' or ':' in it is masked whole. It stops
# at whitespace and at an unescaped '"' (the end of a JSON string); `\"` and `\\` inside
# JSON-escaped text are part of it. Hosts end at '/', '?', '#', whitespace, a quote, '\' or '<'.
_URI_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)"
    r"(?P<user>[^:/?#\s\"'<>]*):"
    r"(?P<password>(?:\\.|[^\s\"])*?)"
    r"@(?=[^@\s\"'<>\\/?#]*(?:[/?#\s\"'<>\\]|$))"
)


def without_password(text: str) -> str:
    """`text` with the password of every `scheme://user:password@` URI in it masked."""
    return _URI_CREDENTIALS.sub(rf"\g<scheme>\g<user>:{MASK}@", text)


def uri_password(uri: str) -> str | None:
    """The password of a `scheme://user:password@hosts` URI as written (maybe %-encoded)."""
    match = _URI_CREDENTIALS.match(uri.strip())
    return match["password"] if match and match["password"] else None


def _shapes(secret: str) -> set[str]:
    """Every form a secret may take on its way out: as given, %-decoded and %-encoded, the
    password inside a URI, and each of those JSON-escaped once or twice (a document serialised
    into the message of another, as Lambda does with an error)."""
    shapes = {secret, unquote(secret), quote(secret, safe=""), quote_plus(secret, safe="")}
    password = uri_password(secret)
    if password:
        shapes |= {password, unquote(password)}
    for shape in list(shapes):
        for ascii_only in (True, False):
            once = json.dumps(shape, ensure_ascii=ascii_only)[1:-1]
            twice = json.dumps(once, ensure_ascii=ascii_only)[1:-1]
            shapes |= {once, twice}
    return shapes


def _any_case_escapes(shape: str) -> str:
    # Alternatives are tried in order, and the shapes come longest first, so a secret that
    # holds a shorter one is still masked whole.
    return re.sub(r"%([0-9A-Fa-f]{2})", r"%(?i:\1)", re.escape(shape))


def _distinct(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


@attrs.frozen
class Redactor:
    """Masks configured secret values and any URI password in text and documents."""

    secrets: tuple[str, ...] = attrs.field(default=(), converter=_distinct, repr=False)
    """The values as configured; their other shapes are derived."""
    _patterns: tuple[str, ...] = attrs.field(init=False, repr=False)
    """Every shape of every secret, longest first, so that a secret containing a shorter one
    is masked whole."""

    @_patterns.default
    def _all_shapes(self) -> tuple[str, ...]:
        shapes = {shape for secret in self.secrets for shape in _shapes(secret)}
        return tuple(sorted((s for s in shapes if len(s) >= _MIN_LENGTH), key=len, reverse=True))

    _matcher: re.Pattern[str] | None = attrs.field(init=False, repr=False)
    """The shapes as one expression, in which a %-escape matches in any case (`%5c` for `%5C`):
    percent-encoding is case-insensitive and tools echo it either way."""

    @_matcher.default
    def _compile(self) -> re.Pattern[str] | None:
        if not self._patterns:
            return None
        return re.compile("|".join(_any_case_escapes(pattern) for pattern in self._patterns))

    def redact(self, text: str) -> str:
        """Returns `text` with every known secret and URI password masked."""
        if self._matcher is not None:
            text = self._matcher.sub(MASK, text)
        return without_password(text)

    def redact_document(self, document: Any) -> Any:
        """Returns a copy of a JSON-like document with every string (keys too) redacted."""
        if isinstance(document, str):
            return self.redact(document)
        if isinstance(document, dict):
            return {
                self.redact_document(key): self.redact_document(value)
                for key, value in document.items()
            }
        if isinstance(document, list | tuple):
            return [self.redact_document(item) for item in document]
        return document

    def with_secrets(self, more: Iterable[str]) -> Redactor:
        return Redactor((*self.secrets, *more))
