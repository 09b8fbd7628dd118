from __future__ import annotations

import base64
from collections.abc import Mapping


class Base64EnvSecrets:
    """Reads base64-encoded values from an environment mapping.

    Base64 is a transport encoding kept for compatibility with existing deployments; it hides
    nothing from anyone who can read the environment.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def reveal(self, *, name: str) -> str | None:
        raw = self._environ.get(name)
        if raw is None:
            return None
        try:
            return base64.b64decode(raw.strip(), validate=True).decode("utf-8")
        except ValueError as exc:  # binascii.Error, UnicodeDecodeError, or non-ASCII input
            raise ValueError(f"{name} is not valid base64-encoded UTF-8 text") from exc
