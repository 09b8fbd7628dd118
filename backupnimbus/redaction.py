"""The one place that removes secrets from text before it leaves the process."""

from __future__ import annotations

import re
from collections.abc import Iterable

import attrs

# user:password@ in any scheme://… string; the password part is what must go.
_URI_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@\s]*@")
MASK = "***"


def _longest_first(values: Iterable[str]) -> tuple[str, ...]:
    # Longer secrets first, so that a secret containing a shorter one is masked whole.
    # Very short values would mask ordinary words, so they are left to the URI rule.
    return tuple(sorted({v for v in values if v and len(v) >= 4}, key=len, reverse=True))


@attrs.frozen
class Redactor:
    """Masks configured secret values and any URI password in text."""

    secrets: tuple[str, ...] = attrs.field(default=(), converter=_longest_first, repr=False)

    def redact(self, text: str) -> str:
        """Returns `text` with every known secret and URI password masked."""
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return _URI_CREDENTIALS.sub(rf"\g<scheme>\g<user>:{MASK}@", text)

    def with_secrets(self, more: Iterable[str]) -> Redactor:
        return Redactor((*self.secrets, *more))
