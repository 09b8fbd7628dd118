from __future__ import annotations

from typing import Protocol


class SecretSource(Protocol):
    def reveal(self, *, name: str) -> str | None:
        """Args: name: the variable's name.

        Returns: the decoded value, or None when it is not set. Raises `ValueError` with a
        message that names the variable (never its value) when it cannot be decoded,
        `ConfigInvalidError` when it holds a reference to something that cannot be read (missing,
        access denied), and `SecretUnavailableError` when the store stayed unreachable.
        """
        ...
